"""The caller's organizations, and creating new ones."""

from __future__ import annotations

import falcon
from falcon.asgi import Request, Response

from api.context import Access, for_people, transaction
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.responses import Organization, OrganizationList, from_row, from_rows
from api.http.schemas import OrganizationBody


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
