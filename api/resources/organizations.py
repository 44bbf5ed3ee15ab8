"""The caller's organizations, creating new ones, and the current one's settings."""

from __future__ import annotations

import uuid

import falcon
import msgspec
from falcon.asgi import Request, Response

from api.context import Access, caller, for_people, requires, transaction
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.problems import mfa_required, problem
from api.http.responses import Organization, OrganizationList, OrganizationSettings, from_row, from_rows
from api.http.schemas import OrganizationBody, OrganizationPatchBody


class OrganizationsResource:
    # A user who belongs to no organization lists theirs (none) and creates one.
    access = Access.SESSION

    @operation("The organizations you belong to, with your role in each", ok={200: OrganizationList})
    @for_people
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = OrganizationList(
            items=from_rows(await transaction(req).all("list_my_organizations"), Organization)
        )

    @operation(
        "Create an organization (ORG_ADMIN of the current one, or signed in to none); you become its ORG_ADMIN",
        body=OrganizationBody,
        ok={201: Organization},
    )
    @for_people
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, OrganizationBody)
        checks = FieldChecks()
        name = checks.name("name", body.name)
        checks.done()
        # iam.create_organization refuses callers who are not ORG_ADMIN of the current one.
        resp.status = falcon.HTTP_201
        created = await transaction(req).one("create_organization", {"name": name})
        assert created is not None
        resp.media = from_row(created, Organization)

    @operation(
        "Change the current organization: its name, and require_mfa (setting it needs a second factor in this session)",
        body=OrganizationPatchBody,
        ok={200: OrganizationSettings},
    )
    @requires("organization:manage")
    @for_people
    async def on_patch_item(self, req: Request, resp: Response, organization_id: uuid.UUID) -> None:
        body = await read_json(req, OrganizationPatchBody)
        checks = FieldChecks()
        name = None if body.name is msgspec.UNSET else checks.name("name", body.name)
        checks.done()
        require_mfa = None if body.require_mfa is msgspec.UNSET else body.require_mfa
        if require_mfa is not None and not caller(req).passed_second_factor:
            raise mfa_required("Setting require_mfa needs a second factor in this session (aal 2).")
        updated = await transaction(req).one(
            "update_organization", {"id": organization_id, "name": name, "require_mfa": require_mfa}
        )
        if updated is None:
            raise problem(404, "Not found", "Only your current organization can be changed (switch to it first).")
        resp.media = from_row(updated, OrganizationSettings)
