"""The real server: gunicorn started once per session on a free loopback port, and the
README's walkthrough driven over HTTP."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.acceptance.conftest import Server, call, log_lines, mailed_token, register

pytestmark = pytest.mark.gunicorn


def test_readme_walkthrough_over_http(server: Server) -> None:
    base_url = server.url
    password = "correct horse battery staple"
    admin = register(base_url, "ada@example.com", password, "Acme")
    admin_token = admin["access_token"]

    status, project = call(base_url, "POST", "/projects", {"name": "Apollo"}, admin_token)
    assert status == 201

    status, invitation = call(
        base_url, "POST", "/invitations", {"email": "bob@example.com", "role": "ORG_USER"}, admin_token
    )
    assert status == 201
    assert "token" not in invitation
    # The link goes by mail (here, a file: the server runs without SMTP_URL), delivered by the workers.
    token = mailed_token(server, "bob@example.com", "accept-invitation")

    status, bob = call(
        base_url,
        "POST",
        "/auth/register",
        {"email": "bob@example.com", "password": password, "invitation_token": token},
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


def raw_request(base_url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (no client library would send these) and reads the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n", 431),
        (b"NOT A REQUEST\r\n\r\n", 400),
    ],
    ids=["uri-too-long", "too-many-headers", "header-too-large", "malformed"],
)
def test_requests_gunicorn_refuses_answer_problem_json(base_url: str, request_bytes: bytes, status: int) -> None:
    answered, headers, body = raw_request(base_url, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert set(problem) == {"type", "title", "status", "detail", "request_id"}
    assert problem["request_id"] == headers["x-request-id"]


def test_requests_within_the_limits_are_served(base_url: str) -> None:
    within = b"GET /health/live?" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    within += b"".join(b"X-%d: %s\r\n" % (i, b"y" * 8000 if i == 0 else b"y") for i in range(90)) + b"\r\n"
    status, _, body = raw_request(base_url, within)
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_head_over_http_sends_headers_only(base_url: str) -> None:
    status, headers, body = raw_request(base_url, b"HEAD /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert body == b""


def test_login_throttling_holds_across_gunicorn_workers(server: Server) -> None:
    email = "spread@example.com"
    register(server.url, email, "right password 123", "W")

    def attempt(password: str) -> int:
        return call(server.url, "POST", "/auth/login", {"email": email, "password": password})[0]

    # Ten failures (the default limit) in parallel bursts, then more: every later attempt is
    # refused, whichever worker takes it.
    # Two at a time: within what one worker hashes and queues (1 + 1), so none is a 503.
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = list(pool.map(attempt, ["wrong password!"] * 10))
        later = list(pool.map(attempt, ["wrong password!"] * 9 + ["right password 123"]))
    assert failures == [401] * 10
    assert later == [429] * 10
    login_lines = [line for line in log_lines(server.log) if line.get("route") == "/auth/login"]
    assert len({line["pid"] for line in login_lines}) == 2, login_lines


class SlowClients:
    """Connections that trickle a request for a few seconds (bounded), as a hostile client would."""

    def __init__(
        self, server: Server, count: int, opening: bytes, drip: Callable[[int], bytes], seconds: float
    ) -> None:
        host, port = server.url.removeprefix("http://").split(":")
        self._sockets = [socket.create_connection((host, int(port)), timeout=10) for _ in range(count)]
        for connection in self._sockets:
            connection.sendall(opening)
        self._drip, self._until = drip, time.monotonic() + seconds
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        step = 0
        while time.monotonic() < self._until:
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.sendall(self._drip(step))
            step += 1
            time.sleep(0.5)

    def close(self) -> None:
        self._thread.join()
        for connection in self._sockets:
            connection.close()


def probe_ms(server: Server) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(f"{server.url}/health/live", timeout=5) as response:  # noqa: S310
        assert response.status == 200
    return (time.monotonic() - started) * 1000


def test_clients_trickling_headers_do_not_make_others_wait(server: Server) -> None:
    slow = SlowClients(
        server, 64, b"GET /health/live HTTP/1.1\r\nHost: x\r\n", lambda step: b"X-Slow-%d: y\r\n" % step, seconds=4
    )
    try:
        time.sleep(1)
        waits = [probe_ms(server) for _ in range(5)]
    finally:
        slow.close()
    assert max(waits) < 1000, waits


def test_clients_trickling_bodies_hold_no_transaction(server: Server) -> None:
    admin = register(server.url, "trickle@example.com", "correct horse battery", "T")
    opening = (
        b"POST /projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
        b"Authorization: Bearer " + admin["access_token"].encode() + b'\r\n\r\n{"name": "'
    )
    slow = SlowClients(server, 16, opening, lambda step: b"a", seconds=4)
    try:
        time.sleep(1.5)
        with psycopg.connect(server.database_url) as observer:
            states = observer.execute(
                "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        waits = [probe_ms(server) for _ in range(3)]
    finally:
        slow.close()
    assert ("idle in transaction",) not in states, states
    assert max(waits) < 1000, waits


def test_each_request_is_one_json_line_with_the_route_and_the_caller(server: Server) -> None:
    password = "a password for the log test"
    admin = register(server.url, "logged@example.com", password, "Logged")
    token = admin["access_token"]
    status, project = call(server.url, "POST", "/projects", {"name": "Logged"}, token)
    assert status == 201
    assert call(server.url, "GET", f"/projects/{project['id']}?x=1", token=token)[0] == 200

    lines = log_lines(server.log)
    [line] = [
        line
        for line in lines
        if line.get("route") == "/projects/{project_id}" and line.get("user_id") == admin["user"]["id"]
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["org_id"] == admin["organization"]["id"]
    assert line["client"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert isinstance(line["duration_ms"], float)
    # The raw path (with its id and query) and the secrets never appear.
    text = server.log.read_text()
    for secret in (project["id"] + "?x=1", password, token, admin["refresh_token"]):
        assert secret not in text
