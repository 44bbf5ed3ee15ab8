"""gunicorn's asyncio HTTP/1.1 protocol, guarded against clients that hold connections.

gunicorn's asyncio worker gives the first request of a connection no header timeout and
ignores `worker_connections`: measured, partial headers stayed open past 75 s, and about
40,000 idle connections (two workers times the open-file limit) left both workers unable
to accept anything, with nothing logged. GuardedProtocol adds, per worker:
- a header timeout (HEADER_TIMEOUT_SECONDS): a request's headers must be complete this long
  after the connection opens; a client that sent part of them gets a 408 problem, one that
  sent nothing is closed. (Between requests gunicorn's own keep-alive timer applies.)
- a connection cap (MAX_CONNECTIONS_PER_WORKER, and never above the open-file limit less a
  reserve for the database pool and files): past it, of the connections waiting for a
  request, the one whose last request began longest ago (or that never sent one) is closed
  to make room; when every connection is inside a request, the new one is closed instead.
  Busy clients keep their connections; idle and trickling ones go first.
- a smaller read buffer per connection (64 KiB before reading pauses, not 256 KiB).
- no WebSocket handshake: this API serves none, so an Upgrade header is ignored and the GET
  is answered as usual (RFC 9110, 7.8), instead of gunicorn's empty 403.
Each event counts in `server_refusals_total{reason}`. A partial request that timed out is a
request the server refused: it gets its request line (api/serving/server_errors.py).
Connections closed for room or silence are no requests: they are logged at most once a
second per worker and reason, as a line that says how many, so a flood of them cannot
flood the log.

gunicorn.workers.gasgi builds its protocol by the module-level name ASGIProtocol, so
`install()` (api/serving/gunicorn_config.py) points that name here.
"""

from __future__ import annotations

import logging
import resource
import time
import uuid
from collections import OrderedDict
from typing import Any

import gunicorn.workers.gasgi
from gunicorn.asgi.protocol import ASGIProtocol

from api.observability.metrics import SERVER_REFUSALS
from api.serving import server_errors

log = logging.getLogger("api.serving")

# Descriptors a worker keeps for itself beyond client connections: its database pool, log
# and metrics files, the listening socket.
RESERVED_DESCRIPTORS = 64
READ_BUFFER_BYTES = 64 * 1024


class Limits:
    """A worker's connection bounds, read once at start-up."""

    def __init__(self, header_timeout_seconds: float, max_connections: int) -> None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        ceiling = max_connections if soft == resource.RLIM_INFINITY else soft - RESERVED_DESCRIPTORS
        self.header_timeout_seconds = header_timeout_seconds
        self.max_connections = max(1, min(max_connections, ceiling))


class RefusalLog:
    """Counts every closed connection; logs each reason at most once a second, with the
    count since the last line."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def record(self, reason: str) -> None:
        SERVER_REFUSALS.labels(reason).inc()
        self._pending[reason] = self._pending.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last.get(reason, 0.0) >= 1.0:
            log.warning("server refused connections: %s x%d", reason, self._pending[reason])
            self._last[reason] = now
            self._pending[reason] = 0


LIMITS: Limits | None = None
REFUSALS = RefusalLog()
# The open connections of this worker, least recently active first: a connection moves to
# the end when it opens and whenever a request's headers complete.
OPEN: OrderedDict[GuardedProtocol, None] = OrderedDict()


class GuardedProtocol(ASGIProtocol):  # type: ignore[misc]  # gunicorn ships no types
    def __init__(self, worker: Any) -> None:
        super().__init__(worker)
        self._max_buffer_size = READ_BUFFER_BYTES
        self._header_timer: Any = None
        self._bytes_seen = False

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        assert LIMITS is not None
        if len(OPEN) >= LIMITS.max_connections and not self._make_room():
            REFUSALS.record("connection_cap")
            full = "The server has no room for another connection; retry shortly."
            self._safe_write(server_errors.problem_response(503, full, uuid.uuid4().hex, [("Retry-After", "1")]))
            self._close_transport()
            return
        OPEN[self] = None
        self._header_timer = self.worker.loop.call_later(LIMITS.header_timeout_seconds, self._header_timeout)

    @staticmethod
    def _make_room() -> bool:
        """Closes the oldest connection that is not inside a request; False if none is."""
        for waiting in OPEN:
            if waiting._current_request is None:
                REFUSALS.record("connection_cap")
                waiting._close_transport()
                OPEN.pop(waiting, None)
                return True
        return False

    def data_received(self, data: bytes) -> None:
        self._bytes_seen = True
        super().data_received(data)

    def _on_headers_complete(self) -> Any:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self in OPEN:
            OPEN.move_to_end(self)
        return super()._on_headers_complete()

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._current_request is not None or self._closed:
            return
        if self._bytes_seen:
            late = "The request headers did not arrive in time."
            server_errors.send_problem(self, 408, late, reason="header_timeout")
        else:
            REFUSALS.record("idle_connection")
        self._close_transport()
        if self._request_ready is not None:
            self._request_ready.set()  # wake the connection loop so it sees the close

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN.pop(self, None)
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def _is_websocket_upgrade(self, request: Any) -> bool:
        return False


def install(header_timeout_seconds: float, max_connections: int) -> None:
    global LIMITS
    LIMITS = Limits(header_timeout_seconds, max_connections)
    gunicorn.workers.gasgi.ASGIProtocol = GuardedProtocol
