"""The server on its own, with no proxy in front, against clients that hold connections, send
too much, or send what it does not serve. One gunicorn worker with small limits, so that
each bound is reached in a few hundred milliseconds."""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import string
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from tests.acceptance.conftest import Server, call, log_lines, register, serving_fresh_database
from tests.acceptance.test_gunicorn import raw_request

pytestmark = pytest.mark.gunicorn

ORIGIN = "https://app.example.com"
METRICS = "metrics-" + "h" * 32
CAP = 30
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def guarded(
    server_url: str, template_database: str, owner_role: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("hostile")
    env = {
        "JWT_ACCESS_SECRET": "hostile-" + "h" * 40,
        "WEB_CONCURRENCY": "1",
        "HEADER_TIMEOUT_SECONDS": "1",
        "MAX_CONNECTIONS_PER_WORKER": str(CAP),
        "BODY_BUFFER_BYTES_PER_WORKER": str(3 * MiB),
        "CORS_ALLOWED_ORIGINS": ORIGIN,
        "METRICS_TOKEN": METRICS,
        "HOME": str(folder),
    }
    env.pop("XDG_RUNTIME_DIR", None)
    with serving_fresh_database(server_url, template_database, owner_role, folder, env) as running:
        yield running


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def read_all(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def metrics(server: Server) -> str:
    request = urllib.request.Request(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return str(response.read().decode())


def refusals(server: Server, reason: str) -> float:
    found = re.search(rf'^server_refusals_total{{reason="{reason}"}} (\S+)$', metrics(server), re.MULTILINE)
    return float(found[1]) if found else 0.0


def lines_with(server: Server, request_id: str) -> list[dict[str, object]]:
    return [line for line in log_lines(server.log) if request_id in json.dumps(line)]


def test_partial_headers_get_a_408_within_the_header_timeout(guarded: Server) -> None:
    before = refusals(guarded, "header_timeout")
    with socket.create_connection(address(guarded), timeout=10) as slow:
        slow.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        answer = read_all(slow)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in answer
    assert waited < 5, "closed by the server's header timeout, not the client's"
    assert refusals(guarded, "header_timeout") == before + 1
    request_id = re.search(rb"X-Request-ID: (\w+)", answer)
    assert request_id is not None
    [line] = lines_with(guarded, request_id[1].decode())
    assert line["status"] == 408
    assert line["reason"] == "header_timeout"


def test_a_connection_that_sends_nothing_is_closed(guarded: Server) -> None:
    with socket.create_connection(address(guarded), timeout=10) as idle:
        assert read_all(idle) == b""


def test_past_the_connection_cap_the_oldest_idle_connection_makes_room(guarded: Server) -> None:
    before = refusals(guarded, "connection_cap")
    with ExitStack() as held:
        idle = [held.enter_context(socket.create_connection(address(guarded), timeout=10)) for _ in range(CAP + 10)]
        time.sleep(0.3)  # every connection accepted
        status, _ = call(guarded.url, "GET", "/health/live")
        assert status == 200
        # The first ones were closed to make room; the newest are still open.
        for connection in idle[:10]:
            assert read_all(connection) == b""
    assert refusals(guarded, "connection_cap") >= before + 11
    assert any(
        "server refused connections: connection_cap" in str(line.get("message")) for line in log_lines(guarded.log)
    )


def test_bodies_held_at_once_are_bounded_per_worker(guarded: Server) -> None:
    """Four clients each send 1,048,000 of a declared 1,048,576 bytes and hold: the worker
    holds at most 3 MiB of bodies, so one of them is refused (503) at once."""
    head = b"POST /projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
    with ExitStack() as held:
        clients = []
        for _ in range(4):
            client = held.enter_context(socket.create_connection(address(guarded), timeout=10))
            client.sendall(head + b" " * 1_048_000)
            clients.append(client)
        answers = []
        for client in clients:
            client.settimeout(2)
            try:
                answers.append(client.recv(65536))
            except TimeoutError:
                answers.append(b"")  # still held: its body is incomplete
        refused = [answer for answer in answers if answer]
        assert len(refused) == 1
        assert refused[0].startswith(b"HTTP/1.1 503 ")
        assert b"Retry-After: 1" in refused[0] or b"retry-after: 1" in refused[0]
    # Once those clients are gone, ordinary requests carry bodies again.
    token = register(guarded.url, "budget@example.com", "budget password", "B")["access_token"]
    status, _ = call(guarded.url, "POST", "/projects", {"name": "after"}, token)
    assert status == 201


def test_chunked_request_bodies_are_read(guarded: Server) -> None:
    token = register(guarded.url, "chunky@example.com", "chunked password", "C")["access_token"]
    host, port = address(guarded)
    connection = http.client.HTTPConnection(host, port, timeout=10)
    body = iter([b'{"name":', b' "chunky"}'])
    connection.request(
        "POST",
        "/projects",
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    assert response.status == 201, response.read()
    assert json.loads(response.read())["name"] == "chunky"
    connection.close()


@pytest.mark.parametrize("size", [2 * MiB, 20 * MiB])
def test_a_client_that_sends_a_large_body_before_reading_sees_the_413(guarded: Server, size: int) -> None:
    host, port = address(guarded)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    # http.client sends the whole body before it reads a byte of the answer.
    connection.request("POST", "/projects", body=b"x" * size, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/problem+json"
    assert json.loads(response.read())["status"] == 413
    connection.close()


def test_the_front_and_the_servers_own_refusals_carry_cors(guarded: Server) -> None:
    host, port = address(guarded)
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request(
        "POST",
        "/projects",
        body=b"x" * (2 * MiB),
        headers={"Content-Type": "application/json", "Origin": ORIGIN, "Expect": "100-continue"},
    )
    response = connection.getresponse()
    assert response.status == 413
    assert response.getheader("Access-Control-Allow-Origin") == ORIGIN
    connection.close()
    # gunicorn's own refusal of a request it could not parse: any origin may read it.
    too_many = b"GET / HTTP/1.1\r\nHost: x\r\nOrigin: " + ORIGIN.encode() + b"\r\n"
    too_many += b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n"
    status, headers, body = raw_request(guarded.url, too_many)
    assert status == 431
    assert headers["access-control-allow-origin"] == "*"
    [line] = lines_with(guarded, headers["x-request-id"])
    assert (line["status"], line["reason"]) == (431, "http_431")
    assert json.loads(body)["status"] == 431


def test_a_websocket_upgrade_is_answered_as_plain_http(guarded: Server) -> None:
    status, _, body = raw_request(
        guarded.url,
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_metric_labels_come_from_closed_sets(guarded: Server) -> None:
    for _ in range(200):
        method = "".join(random.choices(string.ascii_uppercase, k=10))
        raw_request(
            guarded.url, f"{method} /nowhere/{method} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
    text = metrics(guarded)
    methods = set(re.findall(r'^http_requests_total\{[^}]*method="([^"]*)"', text, re.MULTILINE))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "(other)", "(unparsed)"}
    routes = set(re.findall(r'^http_requests_total\{[^}]*route="([^"]*)"', text, re.MULTILINE))
    assert not any("nowhere" in route for route in routes)


def test_a_refused_login_writes_one_line(guarded: Server) -> None:
    """Logins past one client's share of the hashing places or over the throttle (429), or
    wrong (401): one request line each, and no other line about them."""
    register(guarded.url, "once@example.com", "one line password", "O")

    def login(_: int) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310
            f"{guarded.url}/auth/login",
            data=json.dumps({"email": "once@example.com", "password": "wrong password!"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
        except urllib.error.HTTPError as error:
            return error.code, error.headers["X-Request-ID"]
        raise AssertionError("a wrong password logged in")

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(login, range(24)))
    assert {status for status, _ in answers} >= {429, 401}
    time.sleep(0.2)  # the last lines are written after the answers
    for _, request_id in answers:
        assert len(lines_with(guarded, request_id)) == 1


def test_no_control_socket_is_shared_between_instances(guarded: Server) -> None:
    # HOME is the server's own folder here: gunicorn would have put gunicorn.ctl under it.
    assert not (guarded.log.parent / ".gunicorn").exists()
