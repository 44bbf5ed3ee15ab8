"""Projects of the current organization."""

from __future__ import annotations

import datetime
import uuid

import falcon
import msgspec

from api.body import FieldChecks, read_json
from api.cursors import Cursors, invalid_cursor
from api.hooks import require, transaction
from api.problems import FieldError, ValidationProblem, not_found
from api.schemas import ProjectBody, ProjectPatchBody

DEFAULT_PAGE = 50
MAX_PAGE = 200
MAX_DESCRIPTION = 2000


def page_limit(req: falcon.Request) -> int:
    raw = req.get_param("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ValidationProblem([FieldError("limit", f"must be a whole number from 1 to {MAX_PAGE}")])
    return int(raw)


class ProjectsResource:
    def __init__(self, cursors: Cursors) -> None:
        self._cursors = cursors

    @falcon.before(require("projects:write"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, ProjectBody)
        checks = FieldChecks()
        name = checks.name("name", body.name)
        description = checks.text("description", body.description, max_length=MAX_DESCRIPTION)
        checks.done()
        resp.status = falcon.HTTP_201
        resp.media = transaction(req).one("create_project", {"name": name, "description": description})

    @falcon.before(require("projects:read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = page_limit(req)
        cursor = req.get_param("cursor")
        # One row more than asked tells whether another page follows.
        if cursor is None:
            rows = transaction(req).all("list_projects", {"limit": limit + 1})
        else:
            try:
                created_at, project_id = self._cursors.decode("projects", cursor)
                position = {
                    "created_at": datetime.datetime.fromisoformat(created_at),
                    "id": uuid.UUID(project_id),
                }
            except ValueError:
                raise invalid_cursor() from None
            rows = transaction(req).all("list_projects_after", {**position, "limit": limit + 1})
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = self._cursors.encode("projects", [last["created_at"].isoformat(), str(last["id"])])
        resp.media = {"items": rows, "next_cursor": next_cursor}

    @falcon.before(require("projects:read"))
    def on_get_item(self, req: falcon.Request, resp: falcon.Response, project_id: uuid.UUID) -> None:
        project = transaction(req).one("get_project", {"id": project_id})
        if project is None:
            raise not_found("project")
        resp.media = project

    @falcon.before(require("projects:write"))
    def on_patch_item(self, req: falcon.Request, resp: falcon.Response, project_id: uuid.UUID) -> None:
        body = read_json(req, ProjectPatchBody)
        checks = FieldChecks()
        name = None if body.name is msgspec.UNSET else checks.name("name", body.name)
        description = None
        if body.description is not msgspec.UNSET:
            description = checks.text("description", body.description, max_length=MAX_DESCRIPTION)
        checks.done()
        project = transaction(req).one(
            "update_project",
            {
                "id": project_id,
                "name": name,
                "set_description": body.description is not msgspec.UNSET,
                "description": description,
            },
        )
        if project is None:
            raise not_found("project")
        resp.media = project

    @falcon.before(require("projects:delete"))
    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, project_id: uuid.UUID) -> None:
        if transaction(req).one("delete_project", {"id": project_id}) is None:
            raise not_found("project")
        resp.status = falcon.HTTP_204
