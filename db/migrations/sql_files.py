"""Runs a revision's SQL files: db/migrations/sql/<revision>_*/NN_*.sql up, down.sql down."""

from __future__ import annotations

from pathlib import Path

from alembic import op

SQL_DIR = Path(__file__).parent / "sql"


def revision_dir(revision: str) -> Path:
    (found,) = SQL_DIR.glob(f"{revision}_*")
    return found


def _execute(path: Path) -> None:
    # Straight to psycopg without parameters: the files are run verbatim (no SQLAlchemy bind
    # or %-parameter parsing), several statements at a time.
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(path.read_text())


def run_up(revision: str) -> None:
    for path in sorted(revision_dir(revision).glob("[0-9][0-9]_*.sql")):
        _execute(path)


def run_down(revision: str) -> None:
    _execute(revision_dir(revision) / "down.sql")
