"""Projects of the current organization."""

from __future__ import annotations

import uuid

import falcon
import msgspec
from falcon.asgi import Request, Response

from api.context import requires, transaction
from api.http.body import FieldChecks, read_json
from api.http.conditional import etag, if_match_versions, missing_or_changed, not_modified
from api.http.cursors import Cursors
from api.http.openapi import CURSOR, LIMIT, operation
from api.http.pagination import KeysetPager
from api.http.problems import not_found
from api.http.responses import Project, ProjectPage, from_row
from api.http.schemas import MAX_DESCRIPTION, ProjectBody, ProjectPatchBody


class ProjectsResource:
    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "projects", "created_at")

    @operation("Create a project", body=ProjectBody, ok={201: Project})
    @requires("projects:write")
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, ProjectBody)
        checks = FieldChecks()
        name = checks.name("name", body.name)
        description = checks.text("description", body.description, max_length=MAX_DESCRIPTION)
        checks.done()
        resp.status = falcon.HTTP_201
        created = await transaction(req).one("create_project", {"name": name, "description": description})
        assert created is not None
        resp.media = from_row(created, Project)

    @operation("List projects, newest first", query=(LIMIT, CURSOR), ok={200: ProjectPage})
    @requires("projects:read")
    async def on_get(self, req: Request, resp: Response) -> None:
        params = self._pager.params(req)
        rows = await transaction(req).all("list_projects", params)
        resp.media = ProjectPage(**self._pager.page(rows, params, Project))

    @operation("Read a project", ok={200: Project}, versioned=True)
    @requires("projects:read")
    async def on_get_item(self, req: Request, resp: Response, project_id: uuid.UUID) -> None:
        project = await transaction(req).one("get_project", {"id": project_id})
        if project is None:
            raise not_found("project")
        if not not_modified(req, resp, project["version"]):
            resp.media = from_row(project, Project)

    @operation("Change a project", body=ProjectPatchBody, ok={200: Project}, versioned=True)
    @requires("projects:write")
    async def on_patch_item(self, req: Request, resp: Response, project_id: uuid.UUID) -> None:
        body = await read_json(req, ProjectPatchBody)
        checks = FieldChecks()
        name = None if body.name is msgspec.UNSET else checks.name("name", body.name)
        description = None
        if body.description is not msgspec.UNSET:
            description = checks.text("description", body.description, max_length=MAX_DESCRIPTION)
        checks.done()
        tx = transaction(req)
        project = await tx.one(
            "update_project",
            {
                "id": project_id,
                "name": name,
                "set_description": body.description is not msgspec.UNSET,
                "description": description,
                "if_versions": if_match_versions(req),
            },
        )
        if project is None:
            raise await missing_or_changed(tx, "get_project", {"id": project_id}, "project")
        resp.etag = etag(project["version"])
        resp.media = from_row(project, Project)

    @operation("Delete a project", ok={204: None}, versioned=True)
    @requires("projects:delete")
    async def on_delete_item(self, req: Request, resp: Response, project_id: uuid.UUID) -> None:
        tx = transaction(req)
        if await tx.one("delete_project", {"id": project_id, "if_versions": if_match_versions(req)}) is None:
            raise await missing_or_changed(tx, "get_project", {"id": project_id}, "project")
        resp.status = falcon.HTTP_204
