"""Gunicorn settings, shared by `make run` and the container: `gunicorn -c python:api.gunicorn_config`."""

from __future__ import annotations

import os

from api import server_errors
from api.settings import env_int

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{env_int(os.environ, 'PORT', 3000, minimum=1, maximum=65535)}"
# Threads share each worker's connection pool; argon2 releases the GIL while hashing.
worker_class = "gthread"
workers = env_int(os.environ, "WEB_CONCURRENCY", 2, minimum=1, maximum=64)
threads = env_int(os.environ, "GUNICORN_THREADS", 4, minimum=1, maximum=256)
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s pid=%(p)s'
graceful_timeout = 10

# Request limits, enforced by gunicorn before the app runs (the README lists them): a
# request line over 4094 bytes is a 414; more than 100 header fields, or one over 8190
# bytes, is a 431. Bodies are limited by the app (api/body.py, 1 MiB).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Those refusals answer problem+json like the app's own errors.
server_errors.install()
