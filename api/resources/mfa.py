"""Multi-factor sign-in: enrolling a TOTP factor, recovery codes, and the login challenge
(api/auth/totp.py for the codes; the rules are the database's)."""

from __future__ import annotations

import asyncio

import falcon
from falcon.asgi import Request, Response

from api.auth.login_throttle import LoginThrottle, too_many_attempts
from api.auth.opaque_tokens import opaque_token_hash
from api.auth.sessions import Assurance, SessionIssuer, answer_with_secret
from api.auth.totp import (
    TotpSecrets,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    recovery_code_hash,
)
from api.context import Access, caller, for_people, in_context, request_id, step_up, transaction
from api.database import Database
from api.http.body import FieldChecks, read_json
from api.http.openapi import operation
from api.http.problems import problem, unauthorized
from api.http.responses import RecoveryCodes, SignedIn, TotpEnrolment
from api.http.schemas import MfaChallengeBody, TotpCodeBody
from api.observability.metrics import LOGIN_FAILURES

# Wrong answers one mfa_token takes before it is void.
MAX_CHALLENGE_FAILURES = 5
CHALLENGE_REFUSED = "The MFA token is unknown, used, expired or void, or the code is wrong."


def no_factor() -> falcon.HTTPError:
    return problem(404, "No factor", "You have no active TOTP factor.")


def wrong_code() -> falcon.HTTPError:
    return problem(400, "Wrong code", "The code is not the authenticator's current one (or was used already).")


class TotpFactorResource:
    """The caller's own TOTP factor: for people, and open to a session that an organization's
    MFA rule otherwise shuts out (enrolling is how it gets in)."""

    access = Access.SESSION
    mfa_exempt = True

    def __init__(self, secrets: TotpSecrets, issuer: str) -> None:
        self._secrets = secrets
        self._issuer = issuer

    @operation(
        "Start enrolling a TOTP factor: its secret and otpauth:// URI (for a QR code); replaces a pending one",
        ok={201: TotpEnrolment},
        errors=(409,),
    )
    @for_people
    async def on_post(self, req: Request, resp: Response) -> None:
        me = caller(req)
        assert me.email is not None
        secret = new_totp_secret()
        factor_id = await transaction(req).one("enroll_totp", {"secret_ciphertext": self._secrets.seal(secret)})
        assert factor_id is not None
        resp.status = falcon.HTTP_201
        resp.cache_control = ["no-store"]
        resp.media = TotpEnrolment(
            factor_id=factor_id["factor_id"],
            secret=secret,
            otpauth_uri=provisioning_uri(secret, me.email, self._issuer),
        )

    @operation(
        "Activate the pending factor with a current code: 10 single-use recovery codes, shown once",
        body=TotpCodeBody,
        ok={200: RecoveryCodes},
        errors=(400, 404),
    )
    @for_people
    async def on_post_verify(self, req: Request, resp: Response) -> None:
        body = await read_json(req, TotpCodeBody)
        tx = transaction(req)
        pending = await tx.one("own_totp", {"status": "pending"})
        if pending is None:
            raise problem(404, "No pending factor", "Start with POST /auth/mfa/totp.")
        step = matching_step(self._secrets.open(pending["secret_ciphertext"]), body.code, pending["last_used_step"])
        if step is None:
            raise wrong_code()
        codes = new_recovery_codes()
        activated = await tx.one(
            "activate_totp",
            {"factor_id": pending["factor_id"], "step": step, "code_hashes": [recovery_code_hash(c) for c in codes]},
        )
        if activated is None or not activated["activated"]:
            raise wrong_code()  # a parallel request used this step, or replaced the factor
        answer_with_secret(resp, RecoveryCodes(recovery_codes=codes))

    @operation(
        "Remove your TOTP factor and its recovery codes (needs a second factor in this session)",
        ok={204: None},
        errors=(404,),
    )
    @for_people
    @step_up
    async def on_delete(self, req: Request, resp: Response) -> None:
        removed = await transaction(req).one("remove_totp")
        if removed is None or not removed["removed"]:
            raise no_factor()
        resp.status = falcon.HTTP_204


class RecoveryCodesResource:
    access = Access.SESSION

    @operation(
        "A fresh set of recovery codes; the old ones stop working (needs a second factor in this session)",
        ok={200: RecoveryCodes},
        errors=(404,),
    )
    @for_people
    @step_up
    async def on_post(self, req: Request, resp: Response) -> None:
        codes = new_recovery_codes()
        replaced = await transaction(req).one(
            "replace_recovery_codes", {"code_hashes": [recovery_code_hash(c) for c in codes]}
        )
        if replaced is None or not replaced["replaced"]:
            raise no_factor()
        answer_with_secret(resp, RecoveryCodes(recovery_codes=codes))


class MfaChallengeResource:
    """The second step of a login whose user has a factor: the mfa_token from POST
    /auth/login, and a code or a recovery code. Wrong answers count on the token (void after
    5) and against the account's login throttling, like wrong passwords."""

    access = Access.PUBLIC

    def __init__(
        self, database: Database, sessions: SessionIssuer, throttle: LoginThrottle, secrets: TotpSecrets
    ) -> None:
        self._database = database
        self._sessions = sessions
        self._throttle = throttle
        self._secrets = secrets

    @operation(
        "Answer a login's MFA challenge: login's answer, at aal 2",
        body=MfaChallengeBody,
        ok={200: SignedIn},
        errors=(401, 429),
    )
    async def on_post(self, req: Request, resp: Response) -> None:
        body = await read_json(req, MfaChallengeBody)
        checks = FieldChecks()
        checks.token("mfa_token", body.mfa_token)
        if (body.code is None) == (body.recovery_code is None):
            checks.fail("code", "send exactly one of code and recovery_code")
        checks.done()
        token_hash = opaque_token_hash(body.mfa_token)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            challenge = await tx.one(
                "open_mfa_challenge", {"token_hash": token_hash, "max_failures": MAX_CHALLENGE_FAILURES}
            )
            if challenge is None:
                raise unauthorized(CHALLENGE_REFUSED)
            # Counted like a password check, committed before the code is: guesses at codes
            # spend the account's login throttle too.
            attempt = self._throttle.attempt(req, challenge["email"])
            reservation = await self._throttle.reserve(tx, attempt)
        if not reservation.allowed:
            raise too_many_attempts(reservation.retry_after_seconds)
        if reservation.delay_seconds > 0:
            await asyncio.sleep(reservation.delay_seconds)  # the email's turn, as for a password
        step = None
        if body.code is not None:
            secret = self._secrets.open(challenge["secret_ciphertext"])
            step = matching_step(secret, body.code, challenge["last_used_step"])
        answered = step is not None or body.recovery_code is not None
        refresh_token, params = self._sessions.new_session(req)
        async with in_context(self._database, request_id=request_id(req)) as (tx, _):
            session = None
            if answered:
                session = await tx.one(
                    "complete_mfa_challenge",
                    {
                        **params,
                        "token_hash": token_hash,
                        "max_failures": MAX_CHALLENGE_FAILURES,
                        "step": step,
                        "recovery_code_hash": recovery_code_hash(body.recovery_code) if body.recovery_code else None,
                    },
                )
            if session is None:
                await tx.one("fail_mfa_challenge", {"token_hash": token_hash})
            else:
                await self._throttle.release(tx, attempt, signed_in=True)
        if session is None:
            LOGIN_FAILURES.inc()
            raise unauthorized(CHALLENGE_REFUSED)
        self._sessions.answer(resp, session, refresh_token, Assurance(2, tuple(session["amr"])))
