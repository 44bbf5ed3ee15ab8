"""The served app: the ASGI app (api/app.py) behind a front that reads every request body
whole before the app sees the request, so that a slow client never holds a transaction
open or a pooled connection.

gunicorn's own asyncio worker (`worker_class = "asgi"`, guarded by api/serving/protocol.py)
parses requests on an event loop, and the app runs on the same loop: no thread hop. Every
request body is read here in full (at most MAX_BODY_BYTES, within BODY_TIMEOUT_SECONDS,
Content-Length or chunked) before the app is called. Measured: with gthread, 16 connections
sending a header line per second made other requests time out, and 3 slow bodies held 3
transactions open; behind this front, 64 of the first and 16 of the second left other
requests answering in 2-6 ms and no transaction open.

Bodies waiting here are bounded per worker too (BodyBudget): 400 connections each holding
1 MiB less a few bytes grew each worker by 125-217 MB before; past the budget a request is
answered 503 and its connection closed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.app import app_for
from api.database import Pool, create_pool
from api.http.body import MAX_BODY_BYTES
from api.http.problems import PROBLEM_JSON, problem_json
from api.mail.outbox import Outbox
from api.serving import server_errors
from api.serving.server_errors import reason_phrase
from api.settings import Settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# (scope, receive, send): typed loosely, as servers and frameworks spell those types differently.
AsgiApp = Callable[[Any, Any, Any], Awaitable[None]]

BODY_TIMEOUT_SECONDS = 30
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
    """Reads each request's body completely before the app sees the request. Under a server
    that sends the ASGI lifespan (gunicorn), it also opens the app's pool at start-up and
    closes it at shut-down."""

    def __init__(self, app: AsgiApp, budget: BodyBudget, pool: Pool, outbox: Outbox) -> None:
        self._app = app
        self._budget = budget
        self._pool = pool
        self._outbox = outbox

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(self._pool, self._outbox, receive, send)
            return
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
        reading = BodyReading(self._budget)
        try:
            body = await reading.whole(receive)
            if body is None:
                return  # the client went away
        except TimeoutError:
            detail = f"The body did not arrive within {BODY_TIMEOUT_SECONDS} s."
            await send_problem(scope, send, 408, detail, "body_timeout")
            return
        except TooLarge:
            reading.give_back()
            await linger(receive)
            await send_problem(scope, send, 413, f"The body must be at most {MAX_BODY_BYTES} bytes.", "body_too_large")
            return
        except OverBudget:
            reading.give_back()
            detail = "The server is holding too many request bodies; retry shortly."
            await send_problem(scope, send, 503, detail, "body_budget", retry=True)
            return
        finally:
            if reading.failed:
                reading.give_back()

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
            reading.give_back()


class BodyReading:
    """One request's body as it is read, and the part of the budget it holds: given back
    once, whichever way the request ends (refused, abandoned, or answered)."""

    def __init__(self, budget: BodyBudget) -> None:
        self._budget = budget
        self._held = 0
        self.failed = True  # until whole() returns a body

    async def whole(self, receive: Receive) -> bytes | None:
        """The whole body, or None if the client left; TooLarge, OverBudget or TimeoutError."""
        chunks: list[bytes] = []
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return None
                chunk = message.get("body", b"")
                if self._held + len(chunk) > MAX_BODY_BYTES:
                    raise TooLarge
                if not self._budget.take(len(chunk)):
                    raise OverBudget
                self._held += len(chunk)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    self.failed = False
                    return b"".join(chunks)

    def give_back(self) -> None:
        self._budget.give_back(self._held)
        self._held = 0


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


async def lifespan(pool: Pool, outbox: Outbox, receive: Receive, send: Send) -> None:
    """Opens the pool when the worker starts, so that the first request finds connections,
    and starts the worker's mail delivery loop; stops both when the worker stops, so that
    PostgreSQL sees its connections end cleanly."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await pool.open(wait=False)
            outbox.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await outbox.stop()
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def get_asgi_app() -> AsgiApp:
    """gunicorn's entry point (api/serving/gunicorn_config.py): one app, pool and body budget
    per worker."""
    settings = Settings.from_env()
    pool = create_pool(settings)
    app = app_for(settings, pool)
    return WholeBodies(app, BodyBudget(settings.body_buffer_bytes_per_worker), pool, app.outbox)
