"""The served app: the WSGI app behind an asyncio front, so that slow or idle clients cost
a coroutine and a socket, never a thread or a database connection.

gunicorn's own asyncio worker (`worker_class = "asgi"`, guarded by api/serving/protocol.py)
parses requests on an event loop. Every request body is read there in full (at most
MAX_BODY_BYTES, within BODY_TIMEOUT_SECONDS, Content-Length or chunked) before the complete
request goes to one of the app's threads (WsgiInThreads). Measured: with gthread, 16
connections sending a header line per second made other requests time out, and 3 slow
bodies held 3 transactions open; through this front, 64 of the first and 16 of the second
left other requests answering in 2-6 ms and no transaction open.

Bodies waiting here are bounded per worker too (BodyBudget): 400 connections each holding
1 MiB less a few bytes grew each worker by 125-217 MB before; past the budget a request is
answered 503 and its connection closed.
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

from api.app import app_for
from api.http.body import MAX_BODY_BYTES
from api.http.problems import PROBLEM_JSON, problem_json
from api.serving import server_errors
from api.serving.server_errors import reason_phrase
from api.settings import Settings, env_int

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

BODY_TIMEOUT_SECONDS = 30
SWITCH_INTERVAL_SECONDS = 0.001
# A body over the limit is still read (and dropped) up to this much, so that a client that
# sends before it reads sees the 413 rather than a broken pipe (a lingering close).
LINGER_BYTES = 32 * 1024 * 1024
LINGER_SECONDS = 10


class BodyBudget:
    """The bytes of request bodies one worker holds at once, across its connections. Only
    the event loop touches it, so a plain counter suffices."""

    def __init__(self, total_bytes: int) -> None:
        self.available = total_bytes

    def take(self, size: int) -> bool:
        if size > self.available:
            return False
        self.available -= size
        return True

    def give_back(self, size: int) -> None:
        self.available += size


class TooLarge(Exception):
    """The body passed MAX_BODY_BYTES."""


class OverBudget(Exception):
    """The worker holds as many body bytes as it may."""


def header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            found: bytes = value
            return found
    return None


async def send_problem(
    scope: MutableMapping[str, Any], send: Send, status: int, detail: str, reason: str, retry: bool = False
) -> None:
    """The front's own answer: a problem, CORS for the request's origin, its request line."""
    request_id = uuid.uuid4().hex
    body = problem_json(status, reason_phrase(status), detail, request_id)
    origin = header(scope, b"origin")
    extra = server_errors.cors_headers(origin.decode("latin-1") if origin is not None else None)
    if retry:
        extra.append(("Retry-After", "1"))
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    client = scope.get("client")
    server_errors.refused(
        status, reason, method=scope["method"], client=str(client[0]) if client else None, request_id=request_id
    )


class WholeBodies:
    """Reads each request's body completely before the app sees the request."""

    def __init__(self, app: AsgiApp, budget: BodyBudget) -> None:
        self._app = app
        self._budget = budget

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared_text = header(scope, b"content-length") or b""
        declared = int(declared_text) if declared_text.isdigit() else None
        if declared is not None and declared > MAX_BODY_BYTES:
            # A client that waits for 100 (Continue) has sent nothing yet: answer at once.
            if (header(scope, b"expect") or b"").lower() != b"100-continue":
                await linger(receive)
            await send_problem(scope, send, 413, f"The body must be at most {MAX_BODY_BYTES} bytes.", "body_too_large")
            return
        held = 0
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                chunks: list[bytes] = []
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away
                    chunk = message.get("body", b"")
                    if held + len(chunk) > MAX_BODY_BYTES:
                        raise TooLarge
                    if not self._budget.take(len(chunk)):
                        raise OverBudget
                    held += len(chunk)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
            body = b"".join(chunks)
            del chunks
        except TimeoutError:
            self._budget.give_back(held)
            await send_problem(
                scope, send, 408, f"The body did not arrive within {BODY_TIMEOUT_SECONDS} s.", "body_timeout"
            )
            return
        except TooLarge:
            self._budget.give_back(held)
            await linger(receive)
            await send_problem(scope, send, 413, f"The body must be at most {MAX_BODY_BYTES} bytes.", "body_too_large")
            return
        except OverBudget:
            self._budget.give_back(held)
            await send_problem(
                scope, send, 503, "The server is holding too many request bodies; retry shortly.", "body_budget", True
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await self._app(scope, replay, send)
        finally:
            self._budget.give_back(held)


async def linger(receive: Receive) -> None:
    """Reads and drops the rest of a body, up to LINGER_BYTES and LINGER_SECONDS."""
    dropped = 0
    try:
        async with asyncio.timeout(LINGER_SECONDS):
            while dropped < LINGER_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return
    except TimeoutError:
        return


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
        if name == "CONTENT_TYPE":
            environ[name] = value
            continue
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body is whole: its length is set below
        key = f"HTTP_{name}"
        if key in environ:  # repeated fields join as one (RFC 9110, 5.3)
            value = f"{environ[key]}{'; ' if name == 'COOKIE' else ','}{value}"
        environ[key] = value
    # Chunked or not, the app gets the whole body with its length (Falcon reads no body
    # without one: a chunked POST was a 400 "Malformed JSON").
    environ["CONTENT_LENGTH"] = str(len(body))
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
    """gunicorn's entry point (api/serving/gunicorn_config.py): one app, pool, thread pool and
    body budget per worker."""
    settings = Settings.from_env()
    threads = env_int(os.environ, "GUNICORN_THREADS", 4, minimum=1, maximum=256)
    # The event loop shares the GIL with the app's threads; with the default 5 ms switch
    # interval it waited behind them: GET /auth/me at 32 connections had p99 441-797 ms and
    # stalls up to 2 s with 8 threads. With 4 threads and 1 ms: p99 59 ms, max 93 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    budget = BodyBudget(settings.body_buffer_bytes_per_worker)
    return WholeBodies(WsgiInThreads(app_for(settings), threads), budget)
