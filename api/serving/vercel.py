"""The ASGI app as a module-level attribute, for servers that import rather than call a
factory: Vercel's Python runtime (`[tool.vercel] entrypoint` in pyproject.toml) and any
ASGI server (`api.serving.vercel:app`). Built from the environment at import, once per
process; its connection pool opens with the first request (or the lifespan's start-up,
where the server sends one) and lives as long as the process."""

from __future__ import annotations

from api.app import get_app

app = get_app()
