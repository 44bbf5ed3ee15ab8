"""Registration, password login, the caller's own identity, and password change.

Password hashing (~40 ms) never runs inside a transaction: these resources open short
transactions of their own around it, so a flood of logins holds no database connections.
A login is counted against its client's limits before it takes a hashing slot, so a client
over them is refused without waiting for one.
"""

from __future__ import annotations

import asyncio
import uuid

import falcon
from falcon.asgi import Request, Response

from api.auth.client_quota import ClientQuota
from api.auth.login_throttle import Attempt, LoginThrottle, too_many_attempts
from api.auth.opaque_tokens import new_opaque_token, opaque_token_hash
from api.auth.passwords import Passwords
from api.auth.sessions import SessionIssuer, answer_with_secret
from api.context import STEP_UP, Access, caller, in_context, request_id, signed_in
from api.database import Database, Row
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.problems import Overloaded, mfa_required, unauthorized
from api.http.responses import ApiKeyRef, Me, MfaChallenge, SignedIn, UserRef, VerificationSent, organization_ref
from api.http.schemas import ChangePasswordBody, LoginBody, RegisterBody
from api.mail import messages
from api.mail.outbox import Outbox
from api.observability.metrics import LOGIN_FAILURES, LOGINS_THROTTLED
from api.settings import Settings
from api.text import normalize_email

LOGIN_FAILED = "Invalid email or password."
# How long a login's mfa_token may be answered.
MFA_CHALLENGE_SECONDS = 300


class RegisterResource:
    access = Access.PUBLIC

    def __init__(
        self,
        database: Database,
        sessions: SessionIssuer,
        passwords: Passwords,
        quota: ClientQuota,
        outbox: Outbox,
        settings: Settings,
    ) -> None:
        self._database = database
        self._sessions = sessions
        self._passwords = passwords
        self._quota = quota
        self._outbox = outbox
        self._verification_required = settings.email_verification == "required"
        self._base_url = settings.app_base_url
        self._verify_ttl_seconds = settings.email_verification_ttl_seconds
        self._reset_ttl_seconds = settings.password_reset_ttl_seconds
        self._min_interval_seconds = settings.mail_min_interval_seconds

    @operation(
        "Register: a new organization (with EMAIL_VERIFICATION=required, 202: a link mailed to the "
        "address creates it), or joining one with an invitation",
        body=RegisterBody,
        ok={201: SignedIn, 202: VerificationSent},
        errors=(404, 409, 429),
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, RegisterBody)
        checks = FieldChecks()
        email = checks.email("email", body.email)
        password = checks.password("password", body.password)
        if (body.organization_name is None) == (body.invitation_token is None):
            checks.fail("organization_name", "send exactly one of organization_name and invitation_token")
        organization_name = None
        if body.organization_name is not None:
            organization_name = checks.name("organization_name", body.organization_name)
        if body.invitation_token is not None:
            checks.token("invitation_token", body.invitation_token)
        checks.done()

        if organization_name is not None:
            # Counted (and committed) before any hashing: a refused client costs no slot.
            async with in_context(self._database, request_id=request_id(req)) as (tx, _):
                await self._quota.take_or_refuse(tx, req, email)
        password_hash = await self._passwords.hash(password)
        if organization_name is not None and self._verification_required:
            await self._request(req, resp, email, password_hash, organization_name)
            return
        refresh_token, params = self._sessions.new_session(req)
        params = {**params, "email": email, "password_hash": password_hash}
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            if organization_name is not None:
                verify_token, verify_token_hash = new_opaque_token()
                subject, text = messages.email_verification(
                    self._base_url, verify_token, self._verify_ttl_seconds // 3600
                )
                verify = {
                    "verify_token_hash": verify_token_hash,
                    "verify_ttl_seconds": self._verify_ttl_seconds,
                    "verify_subject": subject,
                    "verify_body": text,
                }
                session = await tx.one("register_user", {**params, **verify, "organization_name": organization_name})
            else:
                assert body.invitation_token is not None
                token_hash = opaque_token_hash(body.invitation_token)
                session = await tx.one("register_invited_user", {**params, "token_hash": token_hash})
        assert session is not None  # both functions return a row or raise
        resp.status = falcon.HTTP_201
        self._sessions.answer(resp, session, refresh_token)
        if organization_name is not None:
            self._outbox.queued()  # the verification link (EMAIL_VERIFICATION=optional)

    async def _request(
        self, req: Request, resp: Response, email: str, password_hash: str, organization_name: str
    ) -> None:
        """EMAIL_VERIFICATION=required: the same answer, after the same work (the password was
        hashed either way), whether or not the address has an account. The database picks the
        message: a link that creates the account, or a notice with a reset link."""
        verify_token, verify_token_hash = new_opaque_token()
        reset_token, reset_token_hash = new_opaque_token()
        verify = messages.email_verification(self._base_url, verify_token, self._verify_ttl_seconds // 3600)
        notice = messages.registration_notice(self._base_url, reset_token, self._reset_ttl_seconds // 60)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            await tx.one(
                "request_registration",
                {
                    "email": email,
                    "password_hash": password_hash,
                    "organization_name": organization_name,
                    "verify_token_hash": verify_token_hash,
                    "verify_ttl_seconds": self._verify_ttl_seconds,
                    "verify_subject": verify[0],
                    "verify_body": verify[1],
                    "reset_token_hash": reset_token_hash,
                    "reset_ttl_seconds": self._reset_ttl_seconds,
                    "notice_subject": notice[0],
                    "notice_body": notice[1],
                    "min_interval_seconds": self._min_interval_seconds,
                },
            )
        self._outbox.queued()
        resp.status = falcon.HTTP_202
        resp.media = VerificationSent(status="verification_sent")


class LoginResource:
    access = Access.PUBLIC

    def __init__(
        self, database: Database, sessions: SessionIssuer, passwords: Passwords, throttle: LoginThrottle
    ) -> None:
        self._database = database
        self._sessions = sessions
        self._passwords = passwords
        self._throttle = throttle

    @operation(
        "Log in with email and password (a user with a second factor gets an mfa_token to answer)",
        body=LoginBody,
        ok={200: SignedIn | MfaChallenge},
        errors=(401, 429),
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, LoginBody)
        email = normalize_email(body.email)
        attempt = self._throttle.attempt(req, email)
        # 1. A client already holding its share of logins in progress: a 429 before anything else.
        with self._passwords.share(attempt.email_key, attempt.address_key):
            # 2. Count the attempt and find the account, committed before any hashing: a
            # client over its limits is refused without taking a hashing slot.
            async with in_context(self._database, request_id=request_id(req)) as (tx, _):
                account = await tx.one("find_login", {"email": email})
                target = body.organization_id or (account["default_organization_id"] if account else None)
                reservation = await self._throttle.reserve(tx, attempt)
                if reservation.first_refusal and account is not None:
                    await tx.run(
                        "record_login",
                        {"user_id": account["user_id"], "organization_id": target, "outcome": "throttled"},
                    )
            if not reservation.allowed:
                LOGINS_THROTTLED.inc()
                raise too_many_attempts(reservation.retry_after_seconds)
            if reservation.delay_seconds > 0:
                await asyncio.sleep(reservation.delay_seconds)  # the email's turn (it is slowed down)
            # 3. The password, outside any transaction. Unknown email, wrong password and
            # inactive account: same work, same answer.
            stored_hash = account["password_hash"] if account else None
            try:
                async with self._passwords.slot():
                    verified = await self._passwords.verify(stored_hash, body.password)
                    rehash = None
                    if verified and stored_hash is not None and self._passwords.needs_rehash(stored_hash):
                        rehash = await self._passwords.hash(body.password)
            except Overloaded:
                # Never checked: the attempt is given back.
                async with in_context(self._database, request_id=request_id(req)) as (tx, _):
                    await self._throttle.release(tx, attempt, signed_in=False)
                raise

        # 4. The outcome. sign_in opens the session only while the hash the password was
        # verified against is still the account's: a password changed meanwhile is a failure.
        # A user with a second factor gets a challenge instead (the database refuses them a
        # session from a password alone).
        signed_in = account is not None and verified and account["is_active"]
        if signed_in and account is not None and account["mfa_enrolled"]:
            await self._challenge(req, resp, attempt, account, stored_hash, target, rehash)
            return
        refresh_token, params = self._sessions.new_session(req)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            session = None
            # A user who belongs to no organization (target None) signs in to a session with none.
            if signed_in and account is not None:
                session = await tx.one(
                    "sign_in",
                    {
                        **params,
                        "user_id": account["user_id"],
                        "verified_hash": stored_hash,
                        "organization_id": target,
                        "password_rehash": rehash,
                    },
                )
            if session is None:
                # Called for unknown emails too (it then records nothing): the same round trips.
                await tx.run(
                    "record_login",
                    {"user_id": account and account["user_id"], "organization_id": target, "outcome": "failed"},
                )
            else:
                await self._throttle.release(tx, attempt, signed_in=True)
        if session is None:
            LOGIN_FAILURES.inc()
            raise unauthorized(LOGIN_FAILED)
        self._sessions.answer(resp, session, refresh_token)

    async def _challenge(
        self,
        req: Request,
        resp: Response,
        attempt: Attempt,
        account: Row,
        stored_hash: str | None,
        target: uuid.UUID | None,
        rehash: str | None,
    ) -> None:
        """A right password of a user with a second factor: an mfa_token for POST
        /auth/mfa/challenge, no session yet. The password check is given back (a right
        password is no failure) without making the client a known one: that waits for the
        second factor, whose answers are counted against the same limits."""
        mfa_token, token_hash = new_opaque_token()
        _, params = self._sessions.new_session(req)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            started = await tx.one(
                "start_mfa_challenge",
                {
                    "user_id": account["user_id"],
                    "verified_hash": stored_hash,
                    "organization_id": target,
                    "token_hash": token_hash,
                    "ttl_seconds": MFA_CHALLENGE_SECONDS,
                    "user_agent": params["user_agent"],
                    "client_address": params["client_address"],
                    "password_rehash": rehash,
                },
            )
            if started is None or not started["started"]:
                await tx.run(
                    "record_login", {"user_id": account["user_id"], "organization_id": target, "outcome": "failed"}
                )
            else:
                await self._throttle.release(tx, attempt, signed_in=False)
        if started is None or not started["started"]:
            LOGIN_FAILURES.inc()
            raise unauthorized(LOGIN_FAILED)
        answer_with_secret(resp, MfaChallenge(mfa_required=True, mfa_token=mfa_token, expires_in=MFA_CHALLENGE_SECONDS))


class MeResource:
    access = Access.SESSION
    # A session below its organization's MFA rule still learns who it is, and why it is refused.
    mfa_exempt = True

    @operation("Who you are here: user (or API key), organization, role and permissions", ok={200: Me})
    async def on_get(self, req: Request, resp: Response) -> None:
        me = caller(req)
        key = me.api_key
        resp.media = Me(
            aal=me.aal,
            amr=list(me.amr) if key is None else None,
            mfa_enrolled=me.mfa_enrolled,
            mfa_required=me.mfa_required,
            user=UserRef(id=me.user_id, email=me.email) if me.user_id is not None and me.email is not None else None,
            email_verified=me.email_verified,
            organization=organization_ref(me.organization_id, me.organization_name),
            role=me.role,  # type: ignore[arg-type]
            session_id=me.session_id,
            permissions=sorted(me.permissions),
            api_key=None
            if key is None
            else ApiKeyRef(
                id=key.id,
                name=key.name,
                prefix=key.prefix,
                created_by_user_id=key.created_by_user_id,
                expires_at=key.expires_at,
            ),
        )


class ChangePasswordResource:
    """The current password proves the request is the user's; a wrong one counts as a failed
    login, so a stolen access token does not buy unlimited guesses."""

    access = Access.SIGNED_IN

    def __init__(self, database: Database, passwords: Passwords, throttle: LoginThrottle, outbox: Outbox) -> None:
        self._database = database
        self._passwords = passwords
        self._throttle = throttle
        self._outbox = outbox

    @operation(
        "Change your password (the current one is checked; other sessions end)",
        body=ChangePasswordBody,
        ok={204: None},
        errors=(429,),
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, ChangePasswordBody)
        checks = FieldChecks()
        new_password = checks.password("new_password", body.new_password)
        checks.done()

        async with signed_in(req, self._database) as (tx, me):
            email = me.email
            assert email is not None  # a person: API keys never reach Access.SIGNED_IN
            if me.needs_step_up:
                # Before any hashing; iam.change_own_password holds the same rule.
                raise mfa_required(STEP_UP)
            attempt = self._throttle.attempt(req, email)
            account = await tx.one("find_login", {"email": email})
            reservation = await self._throttle.reserve(tx, attempt)
        if not reservation.allowed:
            raise too_many_attempts(reservation.retry_after_seconds)
        if reservation.delay_seconds > 0:
            await asyncio.sleep(reservation.delay_seconds)
        assert account is not None
        try:
            async with self._passwords.slot():
                if not await self._passwords.verify(account["password_hash"], body.current_password):
                    raise unauthorized("The current password is wrong.")
                new_hash = await self._passwords.hash(new_password)
        except Overloaded:
            async with signed_in(req, self._database) as (tx, _):
                await self._throttle.release(tx, attempt, signed_in=False)
            raise
        async with signed_in(req, self._database) as (tx, _):
            await self._throttle.release(tx, attempt, signed_in=True)
            await tx.one("change_own_password", {"password_hash": new_hash})
            # The owner hears of it, whoever held the session.
            await self._outbox.queue(tx, "password_changed", email, messages.password_changed("changed"))
        self._outbox.queued()
        resp.status = falcon.HTTP_204
