"""Stopping cleanly. On SIGTERM gunicorn stops accepting, lets the requests in flight finish
and exits within its graceful timeout. `make run`'s Ctrl-C (SIGINT to the whole foreground
process group, as a terminal sends it) stops gunicorn and the embedded PostgreSQL it started,
every time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from api.serving.gunicorn_config import graceful_timeout
from tests.acceptance.conftest import call, register, serving_fresh_database
from tests.servers import free_port

pytestmark = pytest.mark.gunicorn


def patch(url: str, token: str, project_id: str, results: list[int]) -> None:
    request = urllib.request.Request(  # noqa: S310
        f"{url}/projects/{project_id}",
        data=json.dumps({"name": "finished"}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            results.append(response.status)
    except urllib.error.HTTPError as error:
        results.append(error.code)


def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits(
    server_url: str, template_database: str, owner_role: str, tmp_path: Path
) -> None:
    # The request in flight waits on a row lock for several seconds: let it.
    env = {
        "JWT_ACCESS_SECRET": "shutdown-" + "s" * 40,
        "WEB_CONCURRENCY": "2",
        "DB_STATEMENT_TIMEOUT_MS": "20000",
        "DB_LOCK_TIMEOUT_MS": "20000",
    }
    with serving_fresh_database(server_url, template_database, owner_role, tmp_path, env) as server:
        token = register(server.url, "stop@example.com", "shutdown password", "S")["access_token"]
        _, project = call(server.url, "POST", "/projects", {"name": "in flight"}, token)
        assert server.process is not None
        master = server.process.pid
        with psycopg.connect(server.database_url) as blocker:
            # The PATCH will wait on this row lock: a request in flight when SIGTERM comes.
            blocker.execute("SELECT 1 FROM iam.projects WHERE id = %s FOR UPDATE", [project["id"]])
            results: list[int] = []
            in_flight = threading.Thread(target=patch, args=(server.url, token, project["id"], results))
            in_flight.start()
            time.sleep(1)
            started = time.monotonic()
            os.kill(master, signal.SIGTERM)
            time.sleep(2.5)  # workers look at their signal flag once a second
            port = int(server.url.rsplit(":", 1)[1])
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            blocker.rollback()  # the lock goes: the request in flight can finish
        in_flight.join(timeout=30)
        assert results == [200]
        assert server.process.wait(timeout=graceful_timeout + 5) == 0
        assert time.monotonic() - started < graceful_timeout + 1


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_stops_make_run_and_its_embedded_postgresql(tmp_path: Path, attempt: int) -> None:
    tmp_path.chmod(0o755)  # the embedded server runs as a user of its own
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MIGRATIONS_DATABASE_URL")}
    env.update({"TENANT_IAM_DATA_DIR": str(tmp_path / "data"), "PORT": str(port), "APP_ENV": "development"})
    with (tmp_path / "run.log").open("wb") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "api.serving.run"],
            env=env,
            start_new_session=True,  # its own process group, as a terminal's foreground job
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                if run.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"make run did not start: {(tmp_path / 'run.log').read_text()}")
                time.sleep(0.3)
        postmaster = tmp_path / "data" / "postgres" / "postmaster.pid"
        assert postmaster.exists()
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        run.wait(timeout=graceful_timeout + 20)
        assert not postmaster.exists(), "the embedded PostgreSQL was left running"
        leftovers = subprocess.run(["pgrep", "-g", str(run.pid)], capture_output=True, text=True).stdout.split()
        assert leftovers == [], f"processes of make run still alive: {leftovers}"
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
