"""The caller's sessions: refresh with rotation, logout, listing and revoking their own
sessions, and switching organization. Sessions are the user's own: nobody else sees them."""

from __future__ import annotations

import uuid

import falcon
from falcon.asgi import Request, Response

from api.auth.opaque_tokens import new_opaque_token, opaque_token_hash
from api.auth.sessions import Assurance, SessionIssuer
from api.context import Access, caller, for_people, in_context, request_id, transaction
from api.database import Database
from api.http.body import FieldChecks, read_json
from api.http.cursors import Cursors
from api.http.openapi import CURSOR, LIMIT, operation
from api.http.pagination import KeysetPager
from api.http.problems import not_found, unauthorized
from api.http.responses import Session, SessionList, SignedIn
from api.http.schemas import RefreshBody, SwitchOrganizationBody
from api.observability.metrics import REFRESH_TOKEN_REUSE


class RefreshResource:
    """Presenting a refresh token that was already rotated revokes its whole session; that
    revocation commits even though the answer is a 401. The exception is a retry: the
    previous token again within REFRESH_REUSE_GRACE_SECONDS, its successor unused (the
    answer was lost), gets a new successor in place of the first."""

    access = Access.PUBLIC

    def __init__(self, database: Database, sessions: SessionIssuer, grace_seconds: int) -> None:
        self._database = database
        self._sessions = sessions
        self._grace_seconds = grace_seconds

    @operation(
        "Trade a refresh token for a new access token and a new refresh token",
        body=RefreshBody,
        ok={200: SignedIn},
        errors=(401,),
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, RefreshBody)
        checks = FieldChecks()
        checks.token("refresh_token", body.refresh_token)
        checks.done()
        new_token, new_token_hash = new_opaque_token()
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            session = await tx.one(
                "refresh_session",
                {
                    "token_hash": opaque_token_hash(body.refresh_token),
                    "new_token_hash": new_token_hash,
                    "grace_seconds": self._grace_seconds,
                },
            )
        assert session is not None
        if session["outcome"] == "reused":
            REFRESH_TOKEN_REUSE.inc()
        if session["outcome"] not in ("rotated", "retried"):
            raise unauthorized("The refresh token is unknown, already used, or its session has ended.")
        self._sessions.answer(resp, session, new_token, Assurance(session["aal"], tuple(session["amr"])))


class LogoutResource:
    access = Access.SESSION
    mfa_exempt = True

    @operation("End this session: its refresh token stops working", ok={204: None})
    @for_people
    async def on_post(self, req: Request, resp: Response) -> None:
        await transaction(req).one("revoke_my_session", {"id": caller(req).session_id})
        resp.status = falcon.HTTP_204


class SessionsResource:
    access = Access.SESSION

    def __init__(self, cursors: Cursors) -> None:
        self._pager = KeysetPager(cursors, "sessions", "created_at")

    @operation("Your live sessions, newest first", query=(LIMIT, CURSOR), ok={200: SessionList})
    @for_people
    async def on_get(self, req: Request, resp: Response) -> None:
        params = self._pager.params(req)
        rows = await transaction(req).all("list_my_sessions", params)
        resp.media = SessionList(**self._pager.page(rows, params, Session))

    @operation("End one of your sessions", ok={204: None})
    @for_people
    async def on_delete_item(self, req: Request, resp: Response, session_id: uuid.UUID) -> None:
        # Row security shows a user their own sessions only: anyone else's is not found.
        if await transaction(req).one("revoke_my_session", {"id": session_id}) is None:
            raise not_found("session of yours")
        resp.status = falcon.HTTP_204


class SwitchOrganizationResource:
    """A new session in another organization of the caller's; the current one stays. From
    a session with no organization, the way into one just joined or created; from one that
    an organization's MFA rule shuts out, the way to the caller's other organizations. The
    new session keeps the current one's assurance."""

    access = Access.SESSION
    mfa_exempt = True

    def __init__(self, sessions: SessionIssuer) -> None:
        self._sessions = sessions

    @operation("Open a session in another organization of yours", body=SwitchOrganizationBody, ok={200: SignedIn})
    @for_people
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, SwitchOrganizationBody)
        refresh_token, params = self._sessions.new_session(req)
        session = await transaction(req).one("switch_organization", {**params, "organization_id": body.organization_id})
        assert session is not None  # iam.switch_organization returns a row or raises
        me = caller(req)
        self._sessions.answer(resp, session, refresh_token, Assurance(me.aal or 1, me.amr))
