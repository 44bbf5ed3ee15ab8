"""The role and permission catalog."""

from __future__ import annotations

import falcon

from api.hooks import transaction
from api.openapi import operation
from api.responses import Permission, PermissionList, Role, RoleList, from_rows


class RolesResource:
    @operation("The roles and the permissions each grants", permission="roles:read", ok={200: RoleList})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = RoleList(items=from_rows(transaction(req).all("list_roles"), Role))


class PermissionsResource:
    @operation("The permissions", permission="permissions:read", ok={200: PermissionList})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = PermissionList(items=from_rows(transaction(req).all("list_permissions"), Permission))
