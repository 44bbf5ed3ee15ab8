"""Invitations into the current organization, and accepting one; the invitations addressed
to the caller, in any organization."""

from __future__ import annotations

import uuid

import falcon
from falcon.asgi import Request, Response

from api.auth.opaque_tokens import new_opaque_token, opaque_token_hash
from api.context import Access, caller, for_people, requires, transaction
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.problems import not_found, problem
from api.http.responses import (
    AcceptedInvitation,
    Invitation,
    InvitationList,
    MyInvitation,
    MyInvitationList,
    NewInvitation,
    OrganizationRef,
    from_row,
    from_rows,
)
from api.http.schemas import AcceptInvitationBody, InvitationBody
from api.mail import messages
from api.mail.outbox import Outbox


class InvitationsResource:
    # Accepting is for any signed-in user, one with no organization included; the rest
    # needs users:manage in the current organization (@requires).
    access = Access.SESSION

    def __init__(self, ttl_seconds: int, outbox: Outbox, base_url: str) -> None:
        self._ttl_seconds = ttl_seconds
        self._outbox = outbox
        self._base_url = base_url

    @operation("Pending invitations", ok={200: InvitationList})
    @requires("users:manage")
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = InvitationList(items=from_rows(await transaction(req).all("list_pending_invitations"), Invitation))

    @operation(
        "Invite someone by email: the acceptance link is mailed to that address, never shown here",
        body=InvitationBody,
        ok={201: NewInvitation},
    )
    @requires("users:manage")
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, InvitationBody)
        checks = FieldChecks()
        email = checks.email("email", body.email)
        checks.done()
        # Only the organization's own members are visible here, so this tells the admin
        # nothing about accounts elsewhere.
        if await transaction(req).one("is_member_email", {"email": email}) == {"is_member": True}:
            raise problem(409, "Already a member", "Someone with this email is already a member.")
        await self._invite(req, resp, email, body.role)

    @operation(
        "Mail a pending invitation again: a fresh link, and the old one stops working",
        ok={201: NewInvitation},
        errors=(404,),
    )
    @requires("users:manage")
    async def on_post_resend(self, req: Request, resp: Response, invitation_id: uuid.UUID) -> None:
        pending = await transaction(req).one("get_pending_invitation", {"id": invitation_id})
        if pending is None:
            raise not_found("pending invitation")
        await self._invite(req, resp, pending["email"], pending["role"])

    async def _invite(self, req: Request, resp: Response, email: str, role: str) -> None:
        """A new invitation (the insert revokes an earlier pending one to the same address: a
        trigger, under a lock on that address) and its mail, in the request's transaction.
        The token goes to the invited address only: an admin who held it could make an
        account for any address."""
        tx = transaction(req)
        token, token_hash = new_opaque_token()
        invitation = await tx.one(
            "create_invitation",
            {"email": email, "role": role, "token_hash": token_hash, "ttl_seconds": self._ttl_seconds},
        )
        assert invitation is not None
        organization = caller(req).organization_name or ""
        message = messages.invitation(self._base_url, organization, role, token, self._ttl_seconds // 86400)
        await self._outbox.queue(tx, "invitation", email, message)
        self._outbox.queued()
        resp.status = falcon.HTTP_201
        resp.media = from_row(invitation, NewInvitation)

    @operation("Revoke a pending invitation", ok={204: None})
    @requires("users:manage")
    async def on_delete_item(self, req: Request, resp: Response, invitation_id: uuid.UUID) -> None:
        if await transaction(req).one("revoke_invitation", {"id": invitation_id}) is None:
            raise not_found("pending invitation")
        resp.status = falcon.HTTP_204

    @operation(
        "Accept an invitation to your email: join its organization",
        body=AcceptInvitationBody,
        ok={200: AcceptedInvitation},
        errors=(404,),
    )
    @for_people
    async def on_post_accept(self, req: Request, resp: Response) -> None:
        body = await read_json(req, AcceptInvitationBody)
        checks = FieldChecks()
        checks.token("token", body.token)
        checks.done()
        accepted = await transaction(req).one("accept_invitation", {"token_hash": opaque_token_hash(body.token)})
        if accepted is None:  # the caller's account was deactivated mid-request
            raise problem(404, "Invitation not found", "The invitation is unknown, used, revoked or expired.")
        resp.media = AcceptedInvitation(
            organization=OrganizationRef(id=accepted["organization_id"], name=accepted["organization_name"]),
            role=accepted["role"],
        )


class MyInvitationsResource:
    """Where the caller may join: the way back in for a user who belongs to no organization."""

    access = Access.SESSION

    @operation("Pending invitations to your email, in any organization", ok={200: MyInvitationList})
    @for_people
    async def on_get(self, req: Request, resp: Response) -> None:
        rows = await transaction(req).all("list_my_invitations")
        resp.media = MyInvitationList(
            items=[
                MyInvitation(
                    id=row["id"],
                    organization=OrganizationRef(id=row["organization_id"], name=row["organization_name"]),
                    role=row["role"],
                    created_at=row["created_at"],
                    expires_at=row["expires_at"],
                )
                for row in rows
            ]
        )
