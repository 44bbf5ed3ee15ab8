"""Serves the app the way Vercel's Python runtime does under Fluid compute: the entry point
named in pyproject.toml ([tool.vercel] entrypoint, "module:attribute") is imported, never
called as a factory, and one process answers concurrent requests on threads.
`python -m tests.fluid_server` (HOST and PORT from the environment)."""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def entrypoint() -> tuple[str, str]:
    declared: str = tomllib.loads(PYPROJECT.read_text())["tool"]["vercel"]["entrypoint"]
    module, _, attribute = declared.partition(":")
    return module, attribute


def load_app() -> Callable[..., Any]:
    module, attribute = entrypoint()
    app: Callable[..., Any] = getattr(importlib.import_module(module), attribute)
    return app


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    server = make_server(
        os.environ.get("HOST", "127.0.0.1"),
        int(os.environ["PORT"]),
        load_app(),
        server_class=ThreadingWSGIServer,
        handler_class=QuietHandler,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
