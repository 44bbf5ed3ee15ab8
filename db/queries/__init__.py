"""Named SQL queries, loaded once from the .sql files beside this module.

Each query starts with `-- name: <name>` and a `-- <description>` of one or more comment
lines; Python calls queries by name and holds no SQL of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

_HEADER = re.compile(r"^-- name: (?P<name>\w+)\s*$", re.MULTILINE)


def _parse(text: str, source: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    if parts[0].strip():
        raise ValueError(f"{source}: text before the first '-- name:' header")
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip().splitlines()
        described = 0
        while described < len(lines) and lines[described].startswith("--"):
            described += 1
        if not described:
            raise ValueError(f"{source}: query {name} lacks a '-- description'")
        found[name] = "\n".join(lines[described:]).strip()
    return found


def load_queries(folder: Path = Path(__file__).parent) -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(folder.glob("*.sql")):
        for name, sql in _parse(path.read_text(), path.name).items():
            if name in queries:
                raise ValueError(f"{path.name}: query {name} is defined twice")
            queries[name] = sql
    return queries


QUERIES = load_queries()
