"""Registration, login and the caller's own identity."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import falcon

from api.body import FieldChecks, read_json
from api.hooks import caller, transaction
from api.middleware import Access
from api.passwords import Passwords
from api.problems import answer_with_problem, problem, unauthorized
from api.schemas import LoginBody, RegisterBody
from api.text import normalize_email
from api.tokens import AccessTokens

LOGIN_FAILED = "Invalid email or password."


def token_hash(token: str) -> bytes:
    """Invitation tokens are stored and looked up by SHA-256 only."""
    return hashlib.sha256(token.encode()).digest()


def answer_with_secret(resp: falcon.Response, body: dict[str, Any]) -> None:
    """A response that carries a token: no cache along the way may keep a copy."""
    resp.media = body
    resp.cache_control = ["no-store"]


def answer_with_session(
    resp: falcon.Response,
    tokens: AccessTokens,
    *,
    user_id: uuid.UUID,
    email: str,
    organization_id: uuid.UUID,
    organization_name: str,
    role: str,
) -> None:
    answer_with_secret(
        resp,
        {
            "user": {"id": user_id, "email": email},
            "organization": {"id": organization_id, "name": organization_name},
            "role": role,
            "access_token": tokens.issue(user_id, organization_id, role),
            "token_type": "Bearer",
            "expires_in": tokens.ttl_seconds,
        },
    )


class RegisterResource:
    access = Access.ANONYMOUS

    def __init__(self, tokens: AccessTokens, passwords: Passwords) -> None:
        self._tokens = tokens
        self._passwords = passwords

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, RegisterBody)
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

        password_hash = self._passwords.hash(password)
        if organization_name is not None:
            row = transaction(req).one(
                "register_user",
                {
                    "email": email,
                    "password_hash": password_hash,
                    "organization_name": organization_name,
                },
            )
        else:
            assert body.invitation_token is not None
            row = transaction(req).one(
                "register_invited_user",
                {
                    "email": email,
                    "password_hash": password_hash,
                    "token_hash": token_hash(body.invitation_token),
                },
            )
        assert row is not None  # both functions return a row or raise
        resp.status = falcon.HTTP_201
        answer_with_session(
            resp,
            self._tokens,
            user_id=row["user_id"],
            email=email,
            organization_id=row["organization_id"],
            organization_name=row["organization_name"],
            role=row["role"],
        )


class LoginResource:
    access = Access.ANONYMOUS

    def __init__(self, tokens: AccessTokens, passwords: Passwords) -> None:
        self._tokens = tokens
        self._passwords = passwords

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json(req, LoginBody)
        email = normalize_email(body.email)
        tx = transaction(req)
        account = tx.one("find_login", {"email": email})
        # Unknown email, wrong password and inactive account: same work, same answer.
        verified = self._passwords.verify(account["password_hash"] if account else None, body.password)
        organization_id = body.organization_id or (account["default_organization_id"] if account else None)
        if account is None or not verified or not account["is_active"]:
            # Called for unknown emails too (it then records nothing): the same round trips.
            tx.run(
                "record_login",
                {"user_id": account and account["user_id"], "organization_id": organization_id, "succeeded": False},
            )
            # Answered, not raised: the failed attempt's audit event must commit.
            answer_with_problem(req, resp, unauthorized(LOGIN_FAILED))
            return

        member = tx.enter_context(account["user_id"], organization_id) if organization_id else None
        if member is None:
            raise problem(403, "Not a member", "You are not a member of that organization.")
        tx.run(
            "record_login", {"user_id": member.user_id, "organization_id": member.organization_id, "succeeded": True}
        )
        if self._passwords.needs_rehash(account["password_hash"]):
            tx.run("update_own_password_hash", {"password_hash": self._passwords.hash(body.password)})

        answer_with_session(
            resp,
            self._tokens,
            user_id=member.user_id,
            email=member.email,
            organization_id=member.organization_id,
            organization_name=member.organization_name,
            role=member.role,
        )


class MeResource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        me = caller(req)
        resp.media = {
            "user": {"id": me.user_id, "email": me.email},
            "organization": {"id": me.organization_id, "name": me.organization_name},
            "role": me.role,
            "permissions": sorted(me.permissions),
        }
