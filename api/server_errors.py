"""Problem+json for the requests gunicorn refuses before the app sees them.

Gunicorn answers an overlong request line (414), too many or too large header fields (431)
and malformed requests (400) itself, with an HTML page. It has no hook for that page: its
workers call `gunicorn.util.write_error`, so the server configuration replaces that one
function (`install()`), and those answers look like every other error of this API.
"""

from __future__ import annotations

import socket
import uuid

import gunicorn.util
import msgspec

MAX_DETAIL = 200


def write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn.util.write_error's signature; the status and reason are gunicorn's own."""
    request_id = uuid.uuid4().hex
    body = msgspec.json.encode(
        {
            "type": "about:blank",
            "title": reason,
            "status": status,
            "detail": (message or reason)[:MAX_DETAIL],
            "request_id": request_id,
        }
    )
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "\r\n"
    )
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    gunicorn.util.write_error = write_problem
