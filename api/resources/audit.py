"""The current organization's audit trail."""

from __future__ import annotations

import uuid

import falcon

from api.cursors import Cursors
from api.hooks import require, transaction
from api.pagination import KeysetPager
from api.problems import FieldError, ValidationProblem
from api.text import ascii_uuid


class AuditEventsResource:
    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "audit-events", "occurred_at")

    @falcon.before(require("audit:read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = {**self._pager.params(req), "action": action_filter(req), "resource_id": resource_filter(req)}
        resp.media = self._pager.page(transaction(req).all("list_audit_events", params), params)


def action_filter(req: falcon.Request) -> str | None:
    action = req.get_param("action")
    if action is not None and (len(action) > 100 or "\x00" in action):
        raise ValidationProblem([FieldError("action", "must be an action name such as project.created")])
    return action


def resource_filter(req: falcon.Request) -> uuid.UUID | None:
    raw = req.get_param("resource_id")
    if raw is None:
        return None
    resource_id = ascii_uuid(raw)
    if resource_id is None:
        raise ValidationProblem([FieldError("resource_id", "must be a UUID")])
    return resource_id
