"""The newest migration revision, read from the revision files without importing alembic
(it and SQLAlchemy cost a serving process about 30 MB; the app needs one string).
A test checks it agrees with alembic's own answer (db.migrate.head_revision)."""

from __future__ import annotations

import re
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_REVISION = re.compile(r'^revision = "(?P<id>[^"]+)"$', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision = "(?P<id>[^"]+)"$', re.MULTILINE)


def head_revision() -> str:
    revisions, parents = set(), set()
    for path in VERSIONS.glob("*.py"):
        text = path.read_text()
        if found := _REVISION.search(text):
            revisions.add(found["id"])
        if parent := _DOWN_REVISION.search(text):
            parents.add(parent["id"])
    (head,) = revisions - parents
    return head
