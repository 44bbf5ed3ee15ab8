"""The role and permission catalog."""

from __future__ import annotations

from falcon.asgi import Request, Response

from api.context import requires, transaction
from api.http.openapi import operation
from api.http.responses import Permission, PermissionList, Role, RoleList, from_rows


class RolesResource:
    @operation("The roles and the permissions each grants", ok={200: RoleList})
    @requires("roles:read")
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = RoleList(items=from_rows(await transaction(req).all("list_roles"), Role))


class PermissionsResource:
    @operation("The permissions", ok={200: PermissionList})
    @requires("permissions:read")
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = PermissionList(items=from_rows(await transaction(req).all("list_permissions"), Permission))
