"""Per-route checks. The policies in PostgreSQL are the boundary; these give a caller
without the permission a clear 403 instead of an empty result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from api.database import Caller, Transaction

Hook = Callable[[falcon.Request, falcon.Response, object, dict[str, Any]], None]


def transaction(req: falcon.Request) -> Transaction:
    found: Transaction = req.context.transaction
    return found


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
