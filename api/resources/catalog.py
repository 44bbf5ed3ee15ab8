"""The role and permission catalog."""

from __future__ import annotations

import falcon

from api.hooks import require, transaction


class RolesResource:
    @falcon.before(require("roles:read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": transaction(req).all("list_roles"), "next_cursor": None}


class PermissionsResource:
    @falcon.before(require("permissions:read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": transaction(req).all("list_permissions"), "next_cursor": None}
