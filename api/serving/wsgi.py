"""The WSGI app as a module-level attribute, for servers that import rather than call a
factory: Vercel's Python runtime (`[tool.vercel] entrypoint` in pyproject.toml) and any
WSGI server (`api.serving.wsgi:app`). Built from the environment at import, once per process; its
connection pool lives as long as the process and serves the requests of all its threads."""

from __future__ import annotations

from api.app import get_app

app = get_app()
