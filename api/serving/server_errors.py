"""Problem+json for the requests gunicorn refuses before the app sees them.

Gunicorn answers an overlong request line (414), too many or too large header fields (431)
and malformed requests (400) itself, as HTML (its threaded and sync workers) or plain text
(its asyncio worker). It has no hook for those answers: each kind of worker writes them
through one function, `gunicorn.util.write_error` and `ASGIProtocol._send_error_response`,
so the server configuration replaces those two (`install()`), and the answers look like
every other error of this API.
"""

from __future__ import annotations

import socket
import uuid
from http import HTTPStatus

import gunicorn.util
from gunicorn.asgi.protocol import ASGIProtocol

from api.http.problems import PROBLEM_JSON, problem_json

MAX_DETAIL = 200


def problem_response(status: int, reason: str, message: str, extra_headers: str = "") -> bytes:
    request_id = uuid.uuid4().hex
    body = problem_json(status, reason, (message or reason)[:MAX_DETAIL], request_id)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_JSON}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        f"{extra_headers}"
        "\r\n"
    )
    return head.encode("latin-1") + body


def write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn.util.write_error's signature (threaded and sync workers)."""
    gunicorn.util.write_nonblock(sock, problem_response(status, reason, message))


def send_problem(
    protocol: ASGIProtocol, status: int, message: str, extra_headers: tuple[tuple[str, str], ...] = ()
) -> None:
    """ASGIProtocol._send_error_response's signature (the asyncio worker)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    extra = "".join(f"{name}: {value}\r\n" for name, value in extra_headers)
    protocol._safe_write(problem_response(status, reason, message, extra))


def install() -> None:
    gunicorn.util.write_error = write_problem
    ASGIProtocol._send_error_response = send_problem
