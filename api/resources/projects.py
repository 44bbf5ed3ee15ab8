"""Projects of the current organization."""

from __future__ import annotations

import uuid

import falcon
import msgspec

from api.body import FieldChecks, read_json
from api.cursors import Cursors
from api.hooks import require, transaction
from api.pagination import KeysetPager
from api.problems import not_found
from api.schemas import ProjectBody, ProjectPatchBody

MAX_DESCRIPTION = 2000


class ProjectsResource:
    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "projects", "created_at")

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
        params = self._pager.params(req)
        resp.media = self._pager.page(transaction(req).all("list_projects", params), params)

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
