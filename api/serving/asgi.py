"""The served app: the WSGI app behind an asyncio front, so that slow or idle clients cost
a coroutine and a socket, never a thread or a database connection.

gunicorn's own asyncio worker (`worker_class = "asgi"`) parses requests on an event loop.
Every request body is read there in full (at most MAX_BODY_BYTES, within BODY_TIMEOUT_SECONDS)
before the complete request goes to one of the app's threads (WsgiInThreads). Measured: with gthread,
16 connections sending a header line per second made other requests time out, and 3 slow
bodies held 3 transactions open; through this front, 64 of the first and 16 of the second
left other requests answering in 2-6 ms and no transaction open (api/serving/gunicorn_config.py).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from api.app import get_app
from api.http.body import MAX_BODY_BYTES
from api.http.problems import PROBLEM_JSON, problem_json
from api.settings import env_int

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

BODY_TIMEOUT_SECONDS = 30
SWITCH_INTERVAL_SECONDS = 0.001


async def send_problem(send: Send, status: int, title: str, detail: str) -> None:
    request_id = uuid.uuid4().hex
    body = problem_json(status, title, detail, request_id)
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


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WsgiInThreads:
    """Runs the WSGI app on a thread pool, one hop there and one back per request: the
    environ is built on the event loop from the whole request, and the whole response
    (status, headers, body) is collected in the thread. Our responses are small JSON bodies,
    so nothing is streamed. a2wsgi, used before, crossed threads for every message and cost
    0.2-0.3 ms of CPU per request more (tests/bench, GET /projects/{id})."""

    def __init__(self, app: WsgiApp, threads: int) -> None:
        self._app = app
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":  # no WebSockets here
            await send({"type": "websocket.close", "code": 1000})
            return
        message = await receive()  # WholeBodies replays the whole body in one message
        environ = wsgi_environ(scope, message.get("body", b""))
        loop = asyncio.get_running_loop()
        status, headers, body = await loop.run_in_executor(self._threads, self._respond, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _respond(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]

        chunks = self._app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = started[0]
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return int(status[:3]), encoded, body


def wsgi_environ(scope: MutableMapping[str, Any], body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an ASGI HTTP scope whose body has been read in full."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_LENGTH" or name == "CONTENT_TYPE":
            environ[name] = value
            continue
        key = f"HTTP_{name}"
        if key in environ:  # repeated fields join as one (RFC 9110, 5.3)
            value = f"{environ[key]}{'; ' if name == 'COOKIE' else ','}{value}"
        environ[key] = value
    return environ


async def lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop per worker beyond what the app does itself."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def get_asgi_app() -> AsgiApp:
    """gunicorn's entry point (api/serving/gunicorn_config.py): one app, pool and thread pool per worker."""
    threads = env_int(os.environ, "GUNICORN_THREADS", 4, minimum=1, maximum=256)
    # The event loop shares the GIL with the app's threads; with the default 5 ms switch
    # interval it waited behind them: GET /auth/me at 32 connections had p99 441-797 ms and
    # stalls up to 2 s with 8 threads. With 4 threads and 1 ms: p99 59 ms, max 93 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    return WholeBodies(WsgiInThreads(get_app(), threads))
