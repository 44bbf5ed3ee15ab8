"""The current organization's audit trail."""

from __future__ import annotations

import uuid

from falcon.asgi import Request, Response

from api.context import requires, transaction
from api.http.cursors import Cursors
from api.http.openapi import CURSOR, LIMIT, Query, operation
from api.http.pagination import KeysetPager
from api.http.problems import FieldError, ValidationProblem
from api.http.responses import AuditEvent, AuditEventPage
from api.text import ascii_uuid

ACTION = Query("action", {"type": "string", "maxLength": 100}, "Only events of this action, such as project.created.")
RESOURCE_ID = Query("resource_id", {"type": "string", "format": "uuid"}, "Only events about this resource.")


class AuditEventsResource:
    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "audit-events", "occurred_at")

    @operation(
        "The organization's audit trail, newest first",
        query=(LIMIT, CURSOR, ACTION, RESOURCE_ID),
        ok={200: AuditEventPage},
    )
    @requires("audit:read")
    async def on_get(self, req: Request, resp: Response) -> None:
        params = {**self._pager.params(req), "action": action_filter(req), "resource_id": resource_filter(req)}
        rows = await transaction(req).all("list_audit_events", params)
        resp.media = AuditEventPage(**self._pager.page(rows, params, AuditEvent))


def action_filter(req: Request) -> str | None:
    action = req.get_param("action")
    if action is not None and (len(action) > 100 or "\x00" in action):
        raise ValidationProblem([FieldError("action", "must be an action name such as project.created")])
    return action


def resource_filter(req: Request) -> uuid.UUID | None:
    raw = req.get_param("resource_id")
    if raw is None:
        return None
    resource_id = ascii_uuid(raw)
    if resource_id is None:
        raise ValidationProblem([FieldError("resource_id", "must be a UUID")])
    return resource_id
