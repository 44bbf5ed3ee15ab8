"""Members of the current organization and their roles."""

from __future__ import annotations

import uuid

import falcon

from api.body import read_json
from api.hooks import transaction
from api.openapi import operation
from api.problems import not_found
from api.responses import Member, MemberList, from_row, from_rows
from api.schemas import MemberRoleBody


class MembersResource:
    @operation("List the organization's members", permission="users:read", ok={200: MemberList})
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = MemberList(items=from_rows(transaction(req).all("list_members"), Member))

    @operation(
        "Change a member's role", permission="users:manage", body=MemberRoleBody, ok={200: Member}, errors=(409,)
    )
    def on_patch_item(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        body = read_json(req, MemberRoleBody)
        member = transaction(req).one("update_member_role", {"user_id": user_id, "role": body.role})
        if member is None:
            raise not_found("member")
        resp.media = from_row(member, Member)

    @operation("Remove a member", permission="users:manage", ok={204: None}, errors=(409,))
    def on_delete_item(self, req: falcon.Request, resp: falcon.Response, user_id: uuid.UUID) -> None:
        if transaction(req).one("remove_member", {"user_id": user_id}) is None:
            raise not_found("member")
        resp.status = falcon.HTTP_204
