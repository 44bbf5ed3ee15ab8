"""Members of the current organization and their roles."""

from __future__ import annotations

import uuid

import falcon

from api.body import read_json
from api.hooks import require, transaction
from api.problems import not_found
from api.schemas import MemberRoleBody


class MembersResource:
    @falcon.before(require("users:read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": transaction(req).all("list_members"), "next_cursor": None}

    @falcon.before(require("users:manage"))
    def on_patch_item(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        body = read_json(req, MemberRoleBody)
        member = transaction(req).one("update_member_role", {"user_id": user_id, "role": body.role})
        if member is None:
            raise not_found("member")
        resp.media = member

    @falcon.before(require("users:manage"))
    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        if transaction(req).one("remove_member", {"user_id": user_id}) is None:
            raise not_found("member")
        resp.status = falcon.HTTP_204
