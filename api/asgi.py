"""The served app: the WSGI app behind an asyncio front, so that slow or idle clients cost
a coroutine and a socket, never a thread or a database connection.

gunicorn's own asyncio worker (`worker_class = "asgi"`) parses requests on an event loop.
Every request body is read there in full (at most MAX_BODY_BYTES, within BODY_TIMEOUT_SECONDS)
before a2wsgi hands the complete request to one of the app's threads. Measured: with gthread,
16 connections sending a header line per second made other requests time out, and 3 slow
bodies held 3 transactions open; through this front, 64 of the first and 16 of the second
left other requests answering in 2-6 ms and no transaction open (api/gunicorn_config.py).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
from a2wsgi import WSGIMiddleware

from api.app import get_app
from api.body import MAX_BODY_BYTES
from api.problems import PROBLEM_JSON
from api.settings import env_int

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

BODY_TIMEOUT_SECONDS = 30
SWITCH_INTERVAL_SECONDS = 0.001


async def send_problem(send: Send, status: int, title: str, detail: str) -> None:
    request_id = uuid.uuid4().hex
    body = msgspec.json.encode(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "request_id": request_id}
    )
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class WholeBodies:
    """Reads each request's body completely before the app sees the request."""

    def __init__(self, app: AsgiApp) -> None:
        self._app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await send_problem(send, 413, "Body too large", f"The body must be at most {MAX_BODY_BYTES} bytes.")
            return
        try:
            body = await asyncio.wait_for(read_body(receive), BODY_TIMEOUT_SECONDS)
        except TimeoutError:
            await send_problem(
                send, 408, "Request timeout", f"The body did not arrive within {BODY_TIMEOUT_SECONDS} s."
            )
            return
        if body is None:
            return  # the client went away
        if len(body) > MAX_BODY_BYTES:
            await send_problem(send, 413, "Body too large", f"The body must be at most {MAX_BODY_BYTES} bytes.")
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._app(scope, replay, send)


async def read_body(receive: Receive) -> bytes | None:
    """The whole body (stopping once it passes the limit), or None if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES or not message.get("more_body", False):
            return b"".join(chunks)


def get_asgi_app() -> AsgiApp:
    """gunicorn's entry point (api/gunicorn_config.py): one app, pool and thread pool per worker."""
    threads = env_int(os.environ, "GUNICORN_THREADS", 4, minimum=1, maximum=256)
    # The event loop shares the GIL with the app's threads; with the default 5 ms switch
    # interval it waited behind them: GET /auth/me at 32 connections had p99 441-797 ms and
    # stalls up to 2 s with 8 threads. With 4 threads and 1 ms: p99 59 ms, max 93 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    wsgi: AsgiApp = WSGIMiddleware(get_app(), workers=threads)  # type: ignore[arg-type,assignment]
    return WholeBodies(wsgi)
