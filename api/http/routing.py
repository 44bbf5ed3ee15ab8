"""The route table: routes are added to the app and remembered, so that /openapi.json is
built from exactly what is served (api/http/openapi.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import falcon
import falcon.asgi
import falcon.routing
from falcon.asgi import Request, Response

from api.text import ascii_uuid


@dataclass(frozen=True)
class Route:
    template: str
    resource: object
    suffix: str | None


class CanonicalUUIDConverter(falcon.routing.BaseConverter):
    """`{id:uuid}` in routes: canonical ASCII UUIDs only (Falcon's own takes whatever
    uuid.UUID() does, other scripts' digits included); anything else is a 404."""

    def convert(self, value: str) -> uuid.UUID | None:
        return ascii_uuid(value)


def answer_head_like_get(resource: object) -> None:
    """HEAD runs the GET responder (its hooks included); Falcon sends no body for HEAD."""
    for name in dir(resource):
        if name == "on_get" or name.startswith("on_get_"):
            head = "on_head" + name.removeprefix("on_get")
            if not hasattr(resource, head):
                setattr(resource, head, getattr(resource, name))


class Routes:
    """Adds routes to the app, and keeps the table that /openapi.json is built from; every
    resource answers HEAD wherever it answers GET."""

    def __init__(self, app: falcon.asgi.App[Request, Response]) -> None:
        self._app = app
        self.table: list[Route] = []
        app.router_options.converters["uuid"] = CanonicalUUIDConverter

    def add(self, template: str, resource: object, suffix: str | None = None) -> None:
        answer_head_like_get(resource)
        self._app.add_route(template, resource, suffix=suffix)
        self.table.append(Route(template, resource, suffix))
