"""Gunicorn settings, shared by `make run` and the container: `gunicorn -c python:api.serving.gunicorn_config`.

The worker class was chosen by measurement on this 2-core machine (wrk -t2 -c32 on
GET /projects/{id}, interleaved runs, after the database-side work of migration 0005):
- gthread (2 workers x 4 threads): 510-1,100 req/s. Unsafe to expose: 16 clients sending a
  header line per second made other requests time out after 5 s, since a trickling client
  keeps a thread; 3 slow bodies held 3 transactions idle in transaction.
- sync: ~1,100 req/s, but one slow client stops a whole worker: only behind a buffering proxy.
- asgi (gunicorn's asyncio worker) in front of the WSGI app, bodies read on the event loop
  first (api/serving/asgi.py): 775-780 req/s through a2wsgi; 1,540 req/s (0.76 ms of server CPU per
  request against 1.05-1.13) once a2wsgi's per-message thread crossings were replaced by one
  hop per request; 1,924 req/s with p99 24.6 ms in `make bench` once statements were
  prepared and the access log became the app's request line. With 64 slow-header clients and
  16 slow bodies at once, other requests answered in 2-6 ms and no transaction was left open.
- uvicorn's worker (C parser) serving the WSGI app through an adapter was slower still; a
  minimal ASGI endpoint costs 0.35 ms there against 0.38 ms here, not enough to matter.
Safety decides: the asyncio worker. Since issue 17 the app itself is ASGI (Falcon's asgi.App,
psycopg's async pool), on the worker's own event loop: no thread hop, and waiting for the
database or a hashing slot costs a coroutine. granian (Rust HTTP) serves the same app faster
(`make bench` shows both), but its own refusals bypass the connection guard, the CORS
headers and the request lines (api/serving/server_errors.py), so gunicorn stays.
"""

from __future__ import annotations

import os
from typing import Any

from api.observability import metrics_dir

# Before anything imports prometheus_client: the workers count in multiprocess mode.
_metrics_folder = metrics_dir.prepare()

from gunicorn import glogging  # noqa: E402

from api.observability import logs  # noqa: E402
from api.serving import server_errors  # noqa: E402
from api.serving.protocol import install as guard_connections  # noqa: E402
from api.settings import (  # noqa: E402
    env_int,
    env_origins,
    header_timeout_seconds,
    log_format_from_env,
    max_connections_per_worker,
)

wsgi_app = "api.serving.asgi:get_asgi_app()"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{env_int(os.environ, 'PORT', 3000, minimum=1, maximum=65535)}"
worker_class = "asgi"
# 0.74-0.86 ms of Python CPU per request against 1.40-1.60 ms with asyncio's own loop;
# named rather than "auto", so that a missing uvloop fails loudly instead of running slower.
# gunicorn's optional C parser (gunicorn-h1c) made no measurable difference beside it.
asgi_loop = "uvloop"
workers = env_int(os.environ, "WEB_CONCURRENCY", 2, minimum=1, maximum=64)
# Open connections per worker: idle and slow ones cost a coroutine each, not a thread.
# gunicorn's asyncio worker does not enforce this itself: api/serving/protocol.py does.
worker_connections = max_connections_per_worker(os.environ)
# Between requests on a keep-alive connection (gunicorn's own timer): the next request's
# headers must be complete within this; the first request's within HEADER_TIMEOUT_SECONDS.
keepalive = 5
# No control socket: every instance on a host shared $HOME/.gunicorn/gunicorn.ctl, and
# stopping one removed the others'. The service is managed with signals.
control_socket_disable = True


class Logger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines in the app's format (api/observability/logs.py), and no access log: the app
    writes the request line (api/observability/request_log.py) with the route template and the caller.
    gunicorn builds its access-log atoms for every request whenever any log configuration
    is given (30 us), so access() is cut off here rather than configured away."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        logs.configure(log_format_from_env(os.environ), os.environ.get("LOG_LEVEL", "INFO").upper())

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return


logger_class = Logger


def child_exit(server: Any, worker: Any) -> None:
    """A worker's gauges stop counting once it is gone (its counters stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    metrics_dir.remove(_metrics_folder)


graceful_timeout = 10

# Request limits, enforced by gunicorn before the app runs (the README lists them): a
# request line over 4094 bytes is a 414; more than 100 header fields, or one over 8190
# bytes, is a 431. Bodies are limited to 1 MiB and 30 s (api/serving/asgi.py, api/http/body.py).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Those refusals answer problem+json like the app's own errors, with a request line each; the
# connection guard adds a header timeout and a connection cap per worker.
server_errors.install(
    json_log=log_format_from_env(os.environ) == "json", cors_origins=env_origins(os.environ, "CORS_ALLOWED_ORIGINS")
)
# (Every module-level name here is read as a gunicorn setting: `protocol` is one.)
guard_connections(header_timeout_seconds(os.environ), worker_connections)
