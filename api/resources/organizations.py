"""The caller's organizations, and creating new ones."""

from __future__ import annotations

import falcon

from api.body import FieldChecks, read_json
from api.hooks import transaction
from api.schemas import OrganizationBody


class OrganizationsResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": transaction(req).all("list_my_organizations"), "next_cursor": None}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, OrganizationBody)
        checks = FieldChecks()
        name = checks.name("name", body.name)
        checks.done()
        # iam.create_organization refuses callers who are not ORG_ADMIN of the current one.
        resp.status = falcon.HTTP_201
        resp.media = transaction(req).one("create_organization", {"name": name})
