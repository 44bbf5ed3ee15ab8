"""The real server, shared by the acceptance tests: gunicorn started once per session on a
free loopback port, the way `make run` serves."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import as_role, create_database, database_on, drop_database
from tests.mail_server import token_in
from tests.servers import gunicorn_command, running_gunicorn


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    database_url: str
    process: subprocess.Popen[bytes] | None = None


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The server's log: every line must be one JSON object (APP_ENV=test logs JSON)."""
    return [json.loads(line) for line in path.read_text().splitlines()]


@contextmanager
def serving_fresh_database(
    server_url: str,
    template_database: str,
    owner_role: str,
    folder: Path,
    env: dict[str, str],
    command: Callable[[dict[str, str], int], list[str]] = gunicorn_command,
    through: str | None = None,
) -> Iterator[Server]:
    """A server (gunicorn unless `command` says otherwise) on a database of its own, cloned
    from the migrated template, with `env` on top of the test environment; reached through
    the pooler at `through`, when given."""
    name = f"iam_test_{folder.name}_{os.getpid()}"
    create_database(server_url, name, template=template_database, owner=owner_role)
    database_url = as_role(database_on(through or server_url, name), owner_role)
    # Tests register their users from one address (REGISTRATIONS_PER_ADDRESS is tested apart).
    full_env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REGISTRATIONS_PER_ADDRESS": "1000000",
        "EMAIL_VERIFICATION": "optional",
        "MAIL_DIR": str(folder / "mail"),
        **env,
    }
    log_path = folder / "server.log"
    try:
        with running_gunicorn(full_env, log_path, command) as (url, process):
            yield Server(url, log_path, database_url, process)
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def server(
    server_url: str, template_database: str, owner_role: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """gunicorn with two workers, as `make run` serves: state that workers share must live
    in PostgreSQL, and the tests here would see it if it did not."""
    env = {"JWT_ACCESS_SECRET": "acceptance-" + "z" * 40, "WEB_CONCURRENCY": "2"}
    folder = tmp_path_factory.mktemp("gunicorn")
    with serving_fresh_database(server_url, template_database, owner_role, folder, env) as running:
        yield running


@pytest.fixture(scope="session")
def base_url(server: Server) -> str:
    return server.url


def mailed_token(server: Server, recipient: str, page: str, timeout: float = 15) -> str:
    """The token of the newest link to `page` mailed to the recipient by the server (which
    writes .eml files under its folder's mail/, having no SMTP_URL), waiting for delivery."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted((server.log.parent / "mail").glob("*.eml"), reverse=True):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if isinstance(message, EmailMessage) and message["To"] == recipient:
                return token_in(message, page)
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {recipient} within {timeout} s")
        time.sleep(0.05)


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


def register(base_url: str, email: str, password: str, organization: str) -> dict[str, Any]:
    """A new user and organization over HTTP; the sign-in answer."""
    status, body = call(
        base_url, "POST", "/auth/register", {"email": email, "password": password, "organization_name": organization}
    )
    assert status == 201, body
    answer: dict[str, Any] = body
    return answer
