"""The current organization's audit trail."""

from __future__ import annotations

import uuid

import falcon

from api.cursors import Cursors
from api.hooks import require, transaction
from api.pagination import KeysetPager
from api.problems import FieldError, ValidationProblem


class AuditEventsResource:
    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "audit-events", "occurred_at")

    @falcon.before(require("audit:read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = self._pager.params(req)
        params["action"] = req.get_param("action")
        resource_id = req.get_param("resource_id")
        if resource_id is not None:
            try:
                params["resource_id"] = uuid.UUID(resource_id)
            except ValueError:
                raise ValidationProblem([FieldError("resource_id", "must be a UUID")]) from None
        else:
            params["resource_id"] = None
        if params["action"] is not None and (len(params["action"]) > 100 or "\x00" in params["action"]):
            raise ValidationProblem([FieldError("action", "must be an action name such as project.created")])
        resp.media = self._pager.page(transaction(req).all("list_audit_events", params), params)
