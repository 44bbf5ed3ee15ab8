"""Password reset by a mailed link. Asking answers 202 with the same work whether or not
the address has an account (the database decides, in one round trip), so it tells nobody
which addresses have one; asking is limited per client address (PASSWORD_RESETS_PER_ADDRESS
an hour) and per address mailed (one link per MAIL_MIN_INTERVAL_SECONDS), still answering
202, so that nobody can use it to mail-bomb an address."""

from __future__ import annotations

import asyncio
import time

import falcon
from falcon.asgi import Request, Response

from api.auth.client_quota import ClientQuota
from api.auth.opaque_tokens import new_opaque_token, opaque_token_hash
from api.auth.passwords import Passwords
from api.context import Access, in_context, request_id
from api.database import Database
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.problems import problem
from api.http.responses import ResetRequested
from api.http.schemas import PasswordResetBody, PasswordResetConfirmBody
from api.mail import messages
from api.mail.outbox import Outbox
from api.settings import Settings

# Every reset request is answered this long after it arrived, whatever the address.
ANSWER_AFTER_SECONDS = 0.2


class PasswordResetResource:
    access = Access.PUBLIC

    def __init__(
        self, database: Database, passwords: Passwords, outbox: Outbox, quota: ClientQuota, settings: Settings
    ) -> None:
        self._database = database
        self._passwords = passwords
        self._outbox = outbox
        self._quota = quota
        self._base_url = settings.app_base_url
        self._ttl_seconds = settings.password_reset_ttl_seconds
        self._min_interval_seconds = settings.mail_min_interval_seconds

    @operation(
        "Ask for a password-reset link by mail (the same answer for every address)",
        body=PasswordResetBody,
        ok={202: ResetRequested},
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        answer_at = time.monotonic() + ANSWER_AFTER_SECONDS
        body = await read_json(req, PasswordResetBody)
        checks = FieldChecks()
        email = checks.email("email", body.email)
        checks.done()
        token, token_hash = new_opaque_token()
        message = messages.password_reset(self._base_url, token, self._ttl_seconds // 60)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            if await self._quota.take(tx, req, email) is None:
                await tx.one(
                    "request_password_reset",
                    {
                        "email": email,
                        "token_hash": token_hash,
                        "ttl_seconds": self._ttl_seconds,
                        "subject": message[0],
                        "body": message[1],
                        "min_interval_seconds": self._min_interval_seconds,
                    },
                )
        self._outbox.queued()
        # A known address costs the database a few more rows than an unknown one: the answer
        # waits (a coroutine, no thread) until a fixed time after the request arrived, so
        # its timing does not tell which addresses have an account.
        await asyncio.sleep(max(0.0, answer_at - time.monotonic()))
        resp.status = falcon.HTTP_202
        resp.media = ResetRequested(status="reset_sent")

    @operation(
        "Choose a new password with a mailed reset link's token: every session ends",
        body=PasswordResetConfirmBody,
        ok={204: None},
        errors=(400,),
    )
    async def on_post_confirm(self, req: Request, resp: Response) -> None:
        body = await read_json(req, PasswordResetConfirmBody)
        checks = FieldChecks()
        checks.token("token", body.token)
        new_password = checks.password("new_password", body.new_password)
        checks.done()
        password_hash = await self._passwords.hash(new_password)
        notice = messages.password_changed("reset with a link sent to this address")
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            row = await tx.one(
                "confirm_password_reset",
                {
                    "token_hash": opaque_token_hash(body.token),
                    "password_hash": password_hash,
                    "subject": notice[0],
                    "body": notice[1],
                },
            )
        if row is None or not row["reset"]:
            raise problem(400, "Invalid link", "The reset link is unknown, already used or expired; ask for a new one.")
        self._outbox.queued()
        resp.status = falcon.HTTP_204
