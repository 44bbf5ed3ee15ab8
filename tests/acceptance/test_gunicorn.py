"""The real server: gunicorn started once per session on a free loopback port, and the
README's walkthrough driven over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import as_role, create_database, database_on, drop_database

pytestmark = pytest.mark.gunicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def base_url(
    server_url: str, template_database: str, owner_role: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    name = f"iam_test_gunicorn_{os.getpid()}"
    create_database(server_url, name, template=template_database, owner=owner_role)
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": as_role(database_on(server_url, name), owner_role),
        "JWT_ACCESS_SECRET": "acceptance-" + "z" * 40,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
    }
    log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:api.gunicorn_config", "api.app:get_app()"],
        env=env,
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
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
        drop_database(server_url, name)


def call(base_url: str, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readme_walkthrough_over_http(base_url: str) -> None:
    password = "correct horse battery staple"
    status, admin = call(
        base_url,
        "POST",
        "/auth/register",
        {"email": "ada@example.com", "password": password, "organization_name": "Acme"},
    )
    assert status == 201
    admin_token = admin["access_token"]

    status, project = call(base_url, "POST", "/projects", {"name": "Apollo"}, admin_token)
    assert status == 201

    status, invitation = call(
        base_url, "POST", "/invitations", {"email": "bob@example.com", "role": "ORG_USER"}, admin_token
    )
    assert status == 201

    status, bob = call(
        base_url,
        "POST",
        "/auth/register",
        {"email": "bob@example.com", "password": password, "invitation_token": invitation["token"]},
    )
    assert status == 201
    assert bob["organization"]["id"] == admin["organization"]["id"]

    status, login = call(base_url, "POST", "/auth/login", {"email": "bob@example.com", "password": password})
    assert status == 200
    status, projects = call(base_url, "GET", "/projects", token=login["access_token"])
    assert status == 200
    assert [p["id"] for p in projects["items"]] == [project["id"]]

    status, problem = call(base_url, "DELETE", f"/projects/{project['id']}", token=login["access_token"])
    assert status == 403
    assert problem["status"] == 403
