"""The front's body budget (api/serving/asgi.py): whatever way a request ends, the bytes it
held are given back, so that clients who leave mid-body cannot use the budget up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.serving import server_errors
from api.serving.asgi import BodyBudget, WholeBodies

TOTAL = 4 * 1024 * 1024


class Harness:
    """A front over an app that records what it was called with."""

    def __init__(self) -> None:
        self.budget = BodyBudget(TOTAL)
        self.seen: list[bytes] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            message = await receive()
            self.seen.append(message["body"])
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        self.front = WholeBodies(app, self.budget, pool=None, outbox=None)  # type: ignore[arg-type]

    def call(self, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]] | None = None) -> list[Any]:
        sent: list[Any] = []
        pending = list(messages)

        async def receive() -> dict[str, Any]:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/projects", "headers": headers or [], "client": None}
        asyncio.run(self.front(scope, receive, send))
        return sent


@pytest.fixture(autouse=True)
def quiet_request_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_errors, "refused", lambda *args, **kwargs: None)


def part(body: bytes, more: bool) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_chunked_body_reaches_the_app_whole_and_the_budget_comes_back() -> None:
    harness = Harness()
    sent = harness.call([part(b'{"name":', True), part(b' "chunky"}', False)])
    assert sent[0]["status"] == 201
    assert harness.seen == [b'{"name": "chunky"}']
    assert harness.budget.available == TOTAL


def test_a_client_that_leaves_mid_body_gives_its_bytes_back() -> None:
    harness = Harness()
    assert harness.call([part(b"x" * 500_000, True), {"type": "http.disconnect"}]) == []
    assert harness.seen == []
    assert harness.budget.available == TOTAL


def test_past_the_budget_a_body_is_refused_and_gives_back_what_it_took() -> None:
    harness = Harness()
    assert harness.budget.take(TOTAL - 100_000)
    sent = harness.call([part(b"x" * 60_000, True), part(b"x" * 60_000, False)])
    assert sent[0]["status"] == 503
    assert harness.budget.available == 100_000


def test_a_body_over_the_limit_is_refused_and_gives_back_what_it_took() -> None:
    harness = Harness()
    sent = harness.call([part(b"x" * 700_000, True), part(b"x" * 700_000, False)])
    assert sent[0]["status"] == 413
    assert harness.budget.available == TOTAL
