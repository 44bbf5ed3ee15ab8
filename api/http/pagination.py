"""Keyset pagination, newest first, over (timestamp, id): every row listed exactly once
across pages even while rows are added. Lists answer {"items": [...], "next_cursor": ...}."""

from __future__ import annotations

import datetime
import uuid
from typing import Any, TypeVar

import msgspec
from falcon.asgi import Request

from api.http.cursors import Cursors, invalid_cursor
from api.http.problems import FieldError, ValidationProblem
from api.http.responses import from_rows
from api.text import ascii_int

T = TypeVar("T", bound=msgspec.Struct)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class KeysetPager:
    def __init__(self, cursors: Cursors, kind: str, time_column: str) -> None:
        self._cursors = cursors
        self._kind = kind
        self._time_column = time_column

    def params(self, req: Request) -> dict[str, Any]:
        """limit (one more than asked: the extra row tells whether a next page exists),
        after_time and after_id (NULL on the first page) for the list query."""
        raw_limit = req.get_param("limit")
        limit = DEFAULT_LIMIT if raw_limit is None else ascii_int(raw_limit)
        if limit is None or not 1 <= limit <= MAX_LIMIT:
            raise ValidationProblem([FieldError("limit", f"must be a whole number from 1 to {MAX_LIMIT}")])
        after_time, after_id = None, None
        cursor = req.get_param("cursor")
        if cursor is not None:
            try:
                time_text, id_text = self._cursors.decode(self._kind, cursor)
                after_time, after_id = datetime.datetime.fromisoformat(time_text), uuid.UUID(id_text)
            except ValueError:
                raise invalid_cursor() from None
        return {"limit": limit + 1, "after_time": after_time, "after_id": after_id}

    def page(self, rows: list[dict[str, Any]], params: dict[str, Any], shape: type[T]) -> dict[str, Any]:
        """`items` (as `shape`) and `next_cursor`, the fields of a page type."""
        limit = params["limit"] - 1
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = self._cursors.encode(self._kind, [last[self._time_column].isoformat(), str(last["id"])])
        return {"items": from_rows(rows, shape), "next_cursor": next_cursor}
