"""Proving an email address with a mailed link: the link of a registration that waited for
it (EMAIL_VERIFICATION=required) creates the account and signs it in; the link sent to an
existing account marks its address verified. A new link for the signed-in user on request."""

from __future__ import annotations

import falcon
from falcon.asgi import Request, Response

from api.auth.opaque_tokens import new_opaque_token, opaque_token_hash
from api.auth.sessions import SessionIssuer
from api.context import Access, for_people, in_context, request_id, transaction
from api.database import Database
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.problems import problem
from api.http.responses import EmailVerified, SignedIn, VerificationSent
from api.http.schemas import VerifyEmailBody
from api.mail import messages
from api.mail.outbox import Outbox
from api.settings import Settings


class VerifyEmailResource:
    access = Access.PUBLIC

    def __init__(self, database: Database, sessions: SessionIssuer) -> None:
        self._database = database
        self._sessions = sessions

    @operation(
        "Prove an address with its mailed link: 201 and a session for a registration that waited "
        "for it, 200 for an existing account",
        body=VerifyEmailBody,
        ok={200: EmailVerified, 201: SignedIn},
        errors=(400, 409),
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, VerifyEmailBody)
        checks = FieldChecks()
        checks.token("token", body.token)
        checks.done()
        refresh_token, params = self._sessions.new_session(req)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            row = await tx.one("verify_email", {**params, "token_hash": opaque_token_hash(body.token)})
        assert row is not None
        if row["outcome"] == "registered":
            resp.status = falcon.HTTP_201
            self._sessions.answer(resp, row, refresh_token)
        elif row["outcome"] == "verified":
            resp.media = EmailVerified(status="verified")
        elif row["outcome"] == "taken":
            raise problem(409, "Already registered", "This address has an account now: log in, or reset its password.")
        else:
            raise problem(400, "Invalid link", "The link is unknown, already used or expired; ask for a new one.")


class ResendVerificationResource:
    """A new link for the signed-in user's address (an account registered with
    EMAIL_VERIFICATION=optional, or one from before verification existed)."""

    access = Access.SESSION

    def __init__(self, outbox: Outbox, settings: Settings) -> None:
        self._outbox = outbox
        self._base_url = settings.app_base_url
        self._ttl_seconds = settings.email_verification_ttl_seconds
        self._min_interval_seconds = settings.mail_min_interval_seconds

    @operation(
        "Mail a new link that proves your address (202), unless it is proved already (200)",
        ok={200: EmailVerified, 202: VerificationSent},
    )
    @for_people
    async def on_post(self, req: Request, resp: Response) -> None:
        token, token_hash = new_opaque_token()
        subject, text = messages.email_verification(self._base_url, token, self._ttl_seconds // 3600)
        row = await transaction(req).one(
            "send_email_verification",
            {
                "token_hash": token_hash,
                "ttl_seconds": self._ttl_seconds,
                "subject": subject,
                "body": text,
                "min_interval_seconds": self._min_interval_seconds,
            },
        )
        assert row is not None
        if row["outcome"] == "verified":
            resp.media = EmailVerified(status="verified")
            return
        self._outbox.queued()
        resp.status = falcon.HTTP_202
        resp.media = VerificationSent(status="verification_sent")
