"""Serves the app the way Vercel's Python runtime does under Fluid compute: the entry point
named in pyproject.toml ([tool.vercel] entrypoint, "module:attribute") is imported, never
called as a factory; one process answers concurrent requests; and no ASGI lifespan event
is sent (the pool must open with the first request). Runs gunicorn's asyncio worker with
none of the project's server configuration. `python -m tests.fluid_server` (HOST and PORT
from the environment)."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def entrypoint() -> tuple[str, str]:
    declared: str = tomllib.loads(PYPROJECT.read_text())["tool"]["vercel"]["entrypoint"]
    module, _, attribute = declared.partition(":")
    return module, attribute


def main() -> None:
    module, attribute = entrypoint()
    bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ['PORT']}"
    os.execv(  # noqa: S606 - this interpreter, fixed arguments
        sys.executable,
        [
            sys.executable,
            *("-m", "gunicorn", "--worker-class", "asgi", "--workers", "1", "--bind", bind),
            *("--asgi-lifespan", "off", "--no-control-socket", f"{module}:{attribute}"),
        ],
    )


if __name__ == "__main__":
    main()
