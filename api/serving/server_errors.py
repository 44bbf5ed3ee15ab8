"""The answers the server gives on its own, before or instead of the app: gunicorn's refusals
(400, 414, 431, 501), the front's (408, 413, 503, api/serving/asgi.py) and the connection
guard's (api/serving/protocol.py). Each is an RFC 9457 problem like every other error of
this API, carries CORS headers when browsers are allowed in, and writes one request line
and counts in the metrics, like a request the app answered.

gunicorn has no hook for its refusals: each kind of worker writes them through one
function, `gunicorn.util.write_error` and `ASGIProtocol._send_error_response`, so
`install()` (api/serving/gunicorn_config.py) replaces those two.

CORS: the front knows the request's Origin and echoes it when it is allowed. A request
gunicorn could not parse has no Origin to compare, so its answer allows any origin (`*`,
never with credentials): it carries no data, only which rule the request broke.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import gunicorn.util
from gunicorn.asgi.protocol import ASGIProtocol

from api.http.cors import EXPOSED
from api.http.problems import PROBLEM_JSON, problem_json
from api.observability.metrics import SERVER_REFUSALS, count_request
from api.observability.request_log import UNMATCHED, write_request_line

MAX_DETAIL = 200
UNPARSED = "(unparsed)"


@dataclass(frozen=True)
class Answers:
    """What the server's own answers need from the configuration."""

    json_log: bool = True
    cors_origins: tuple[str, ...] = ()


ANSWERS = Answers()


def cors_headers(origin: str | None) -> list[tuple[str, str]]:
    """CORS for the server's own answers: the Origin echoed when allowed; `*` when the
    request was not parsed far enough to have one; nothing when browsers are not allowed."""
    if not ANSWERS.cors_origins:
        return []
    if origin is None:
        allowed = "*"
    elif origin in ANSWERS.cors_origins:
        allowed = origin
    else:
        return []
    return [
        ("Access-Control-Allow-Origin", allowed),
        ("Access-Control-Expose-Headers", ", ".join(EXPOSED)),
        ("Vary", "Origin"),
    ]


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def refused(
    status: int, reason: str, *, method: str = UNPARSED, client: str | None = None, request_id: str | None = None
) -> None:
    """One request the server answered itself: its line, and its counts."""
    SERVER_REFUSALS.labels(reason).inc()
    count_request(UNMATCHED, method, status, 0.0)
    write_request_line(
        json=ANSWERS.json_log,
        method=method,
        route=None,
        status=status,
        duration_ms=0.0,
        request_id=request_id,
        client=client,
        reason=reason,
    )


def problem_response(
    status: int, message: str, request_id: str, headers: Iterable[tuple[str, str]] = (), origin: str | None = None
) -> bytes:
    """A whole HTTP/1.1 response, written straight to the socket; the connection closes."""
    reason = reason_phrase(status)
    body = problem_json(status, reason, (message or reason)[:MAX_DETAIL], request_id)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (*headers, *cors_headers(origin)))
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        f"{extra}"
        "\r\n"
    )
    return head.encode("latin-1") + body


def peer_of(address: Any) -> str | None:
    return str(address[0]) if isinstance(address, tuple) and address else None


def write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn.util.write_error's signature (threaded and sync workers)."""
    request_id = uuid.uuid4().hex
    gunicorn.util.write_nonblock(sock, problem_response(status, message, request_id))
    try:
        peer = peer_of(sock.getpeername())
    except OSError:
        peer = None
    refused(status, f"http_{status}", client=peer, request_id=request_id)


def send_problem(
    protocol: ASGIProtocol,
    status: int,
    message: str,
    extra_headers: Iterable[tuple[str, str]] = (),
    reason: str | None = None,
) -> None:
    """ASGIProtocol._send_error_response's signature (the asyncio worker); the connection
    guard (api/serving/protocol.py) names its own reason."""
    request_id = uuid.uuid4().hex
    protocol._safe_write(problem_response(status, message, request_id, extra_headers))
    peer = peer_of(protocol.transport.get_extra_info("peername")) if protocol.transport else None
    refused(status, reason or f"http_{status}", client=peer, request_id=request_id)


def install(json_log: bool, cors_origins: tuple[str, ...]) -> None:
    global ANSWERS
    ANSWERS = Answers(json_log, cors_origins)
    gunicorn.util.write_error = write_problem
    ASGIProtocol._send_error_response = send_problem
