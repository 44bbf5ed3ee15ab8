"""The named-query loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.queries import QUERIES, load_queries


def test_every_query_has_sql() -> None:
    assert QUERIES
    assert all(sql.strip() and not sql.startswith("--") for sql in QUERIES.values())


def test_headers_and_descriptions_are_required(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: one\n-- Says one.\nSELECT 1\n\n-- name: two\nSELECT 2\n")
    with pytest.raises(ValueError, match="two lacks"):
        load_queries(tmp_path)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: one\n-- Says one.\nSELECT 1\n")
    (tmp_path / "b.sql").write_text("-- name: one\n-- Says one again.\nSELECT 1\n")
    with pytest.raises(ValueError, match="defined twice"):
        load_queries(tmp_path)


def test_the_app_reads_the_same_head_revision_as_alembic() -> None:
    from db import migrate, revisions

    assert revisions.head_revision() == migrate.head_revision()
