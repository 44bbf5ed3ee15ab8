"""Pagination cursors are opaque and only accepted when this server signed them."""

from __future__ import annotations

import pytest

from api.http.cursors import Cursors
from api.http.problems import ValidationProblem


def test_round_trip() -> None:
    cursors = Cursors("k" * 40)
    cursor = cursors.encode("projects", ["2026-01-01T00:00:00+00:00", "abc"])
    assert cursors.decode("projects", cursor) == ["2026-01-01T00:00:00+00:00", "abc"]


def test_another_key_or_another_list_is_refused() -> None:
    cursor = Cursors("k" * 40).encode("projects", ["x"])
    with pytest.raises(ValidationProblem):
        Cursors("j" * 40).decode("projects", cursor)
    with pytest.raises(ValidationProblem):
        Cursors("k" * 40).decode("audit-events", cursor)
