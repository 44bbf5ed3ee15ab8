"""Members of the current organization and their roles."""

from __future__ import annotations

import uuid

import falcon
from falcon.asgi import Request, Response

from api.context import requires, step_up, transaction
from api.http.body import read_json
from api.http.conditional import etag, if_match_versions, missing_or_changed, not_modified
from api.http.openapi import operation
from api.http.problems import not_found
from api.http.responses import Member, MemberList, from_row, from_rows
from api.http.schemas import MemberRoleBody


class MembersResource:
    @operation("List the organization's members", ok={200: MemberList})
    @requires("users:read")
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = MemberList(items=from_rows(await transaction(req).all("list_members"), Member))

    @operation("Read a member", ok={200: Member}, versioned=True)
    @requires("users:read")
    async def on_get_item(self, req: Request, resp: Response, user_id: uuid.UUID) -> None:
        member = await transaction(req).one("get_member", {"user_id": user_id})
        if member is None:
            raise not_found("member")
        if not not_modified(req, resp, member["version"]):
            resp.media = from_row(member, Member)

    @operation("Change a member's role", body=MemberRoleBody, ok={200: Member}, versioned=True)
    @requires("users:manage")
    @step_up
    async def on_patch_item(self, req: Request, resp: Response, user_id: uuid.UUID) -> None:
        body = await read_json(req, MemberRoleBody)
        tx = transaction(req)
        member = await tx.one(
            "update_member_role", {"user_id": user_id, "role": body.role, "if_versions": if_match_versions(req)}
        )
        if member is None:
            raise await missing_or_changed(tx, "get_member", {"user_id": user_id}, "member")
        resp.etag = etag(member["version"])
        resp.media = from_row(member, Member)

    @operation("Remove a member", ok={204: None}, versioned=True)
    @requires("users:manage")
    async def on_delete_item(self, req: Request, resp: Response, user_id: uuid.UUID) -> None:
        tx = transaction(req)
        if await tx.one("remove_member", {"user_id": user_id, "if_versions": if_match_versions(req)}) is None:
            raise await missing_or_changed(tx, "get_member", {"user_id": user_id}, "member")
        resp.status = falcon.HTTP_204
