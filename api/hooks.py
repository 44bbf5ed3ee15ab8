"""Per-route checks. The policies in PostgreSQL are the boundary; these give a caller
without the permission a clear 403 instead of an empty result."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import falcon

from api.database import Caller, Database, Transaction

Hook = Callable[[falcon.Request, falcon.Response, object, dict[str, Any]], None]


def transaction(req: falcon.Request) -> Transaction:
    found: Transaction = req.context.transaction
    return found


def request_id(req: falcon.Request) -> str:
    found: str = req.context.request_id
    return found


@contextmanager
def open_transaction(req: falcon.Request, database: Database) -> Iterator[Transaction]:
    """A read-write transaction in the context of the request's verified token (Access.SIGNED_IN
    resources); its caller is None when the session or membership has ended."""
    with database.transaction(read_only=False, request_id=request_id(req), subject=req.context.subject) as tx:
        yield tx


def caller(req: falcon.Request) -> Caller:
    found = transaction(req).caller
    assert found is not None  # TransactionMiddleware answered 401 otherwise
    return found


def require(permission: str) -> Hook:
    def check(req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]) -> None:
        if permission not in caller(req).permissions:
            raise falcon.HTTPForbidden(
                title="Forbidden",
                description=f"Your role in this organization lacks the {permission} permission.",
            )

    return check
