"""Token failures: every one is a 401 with WWW-Authenticate: Bearer, and the role comes
from the database on every request, never from the token."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import psycopg
import pytest

from api.auth.access_tokens import secret_key
from tests.integration.conftest import PASSWORD, TEST_SECRET, Api, Session, Tenant, sign

OUR_KID = secret_key(TEST_SECRET, signing=True).kid


def claims_for(session: Session, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": session.user_id,
        "org_id": session.organization_id,
        "sid": session.session_id,
        "role": "ORG_ADMIN",
        "iat": now,
        "exp": now + 600,
        "iss": "tenant-iam",
        "aud": "tenant-iam-api",
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def assert_unauthorized(api: Api, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    result = api.get("/projects", headers=headers)
    assert result.status_code == 401, result.json
    assert result.headers["www-authenticate"] == "Bearer"
    assert result.headers["content-type"] == "application/problem+json"


def test_missing_and_malformed_authorization(api: Api) -> None:
    assert_unauthorized(api, None)
    assert_unauthorized(api, "")
    assert_unauthorized(api, "not-a-jwt")
    result = api.get("/projects", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert result.status_code == 401


def test_expired_token(api: Api, tenant: Tenant) -> None:
    past = int(time.time()) - 3600
    assert_unauthorized(api, sign(claims_for(tenant.user, iat=past - 60, exp=past)))


def test_token_signed_with_another_secret(api: Api, tenant: Tenant) -> None:
    # Another secret, whether it names its own kid or ours.
    other = "another-secret-" + "y" * 60
    assert_unauthorized(api, sign(claims_for(tenant.user), other))
    assert_unauthorized(api, jwt.encode(claims_for(tenant.user), other, headers={"kid": OUR_KID}))


def test_tampered_payload(api: Api, tenant: Tenant) -> None:
    header, payload, signature = tenant.user.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = tenant.admin.user_id
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_unauthorized(api, f"{header}.{forged}.{signature}")


def test_alg_none_and_other_algorithms_are_refused(api: Api, tenant: Tenant) -> None:
    none = jwt.encode(claims_for(tenant.user), None, algorithm="none", headers={"kid": OUR_KID})  # type: ignore[arg-type]
    assert_unauthorized(api, none)
    assert_unauthorized(api, sign(claims_for(tenant.user), TEST_SECRET, algorithm="HS512"))
    # No kid, or one the server does not know, is refused before any signature check.
    assert_unauthorized(api, jwt.encode(claims_for(tenant.user), TEST_SECRET))
    assert_unauthorized(api, jwt.encode(claims_for(tenant.user), TEST_SECRET, headers={"kid": "elsewhere"}))


@pytest.mark.parametrize(
    "override",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"jti": None},
        {"org_id": None},
        {"sub": "not-a-uuid"},
        {"sid": None},
        {"sid": str(uuid.uuid4())},
    ],
    ids=["issuer", "audience", "no-jti", "no-org", "bad-sub", "no-session", "unknown-session"],
)
def test_wrong_or_missing_claims(api: Api, tenant: Tenant, override: dict[str, Any]) -> None:
    assert_unauthorized(api, sign(claims_for(tenant.user, **override)))


def test_a_well_formed_token_of_ours_is_accepted(api: Api, tenant: Tenant) -> None:
    # The counterpart of the failures above: the same claims, correctly signed, work.
    token = sign(claims_for(tenant.user))
    assert api.get("/projects", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_user_gone(api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]) -> None:
    owner.execute("DELETE FROM iam.users WHERE id = %s", [tenant.user.user_id])
    assert_unauthorized(api, tenant.user.token)


def test_user_deactivated(api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]) -> None:
    owner.execute("UPDATE iam.users SET is_active = false WHERE id = %s", [tenant.user.user_id])
    assert_unauthorized(api, tenant.user.token)


def test_membership_removed_applies_to_the_next_request(api: Api, tenant: Tenant) -> None:
    assert api.get("/projects", as_=tenant.user).status_code == 200
    assert api.delete(f"/members/{tenant.user.user_id}", as_=tenant.admin).status_code == 204
    assert_unauthorized(api, tenant.user.token)


def test_demotion_applies_to_the_next_request_whatever_the_token_says(api: Api, tenant: Tenant) -> None:
    promoted = api.patch(f"/members/{tenant.user.user_id}", {"role": "ORG_ADMIN"}, as_=tenant.admin)
    assert promoted.status_code == 200
    assert api.get("/invitations", as_=tenant.user).status_code == 200
    demoted = api.patch(f"/members/{tenant.user.user_id}", {"role": "READ_ONLY"}, as_=tenant.admin)
    assert demoted.status_code == 200
    assert api.get("/invitations", as_=tenant.user).status_code == 403
    assert api.post("/projects", {"name": "nope"}, as_=tenant.user).status_code == 403
    # A token claiming ORG_ADMIN changes nothing: the role claim is informational.
    forged_role = sign(claims_for(tenant.reader, role="ORG_ADMIN"))
    assert api.get("/invitations", headers={"Authorization": f"Bearer {forged_role}"}).status_code == 403


def forged_claims(session: Session) -> dict[str, dict[str, Any]]:
    now = int(time.time())
    return {
        "exp as a string": {"exp": str(now + 600)},
        "exp as 1e300": {"exp": 1e300},
        "exp with a fraction": {"exp": now + 600.5},
        "iat as a string": {"iat": str(now)},
        "exp as true": {"exp": True},
        "audience list": {"aud": ["tenant-iam-api", "another-api"]},
        "lifetime over the TTL": {"iat": now, "exp": now + 900 + 31},
        "lifetime over the TTL, issued in the past": {"iat": now - 3600, "exp": now + 600},
        "sub as a number": {"sub": 12},
        "sub as a non-canonical UUID": {"sub": "{" + session.user_id + "}"},
    }


def test_claims_of_the_wrong_type_or_lifetime_are_refused(api: Api, tenant: Tenant) -> None:
    for name, override in forged_claims(tenant.user).items():
        token = sign(claims_for(tenant.user, **override))
        result = api.get("/projects", headers={"Authorization": f"Bearer {token}"})
        assert result.status_code == 401, name
    # The longest lifetime the server issues (TTL), plus the leeway, is still accepted.
    now = int(time.time())
    at_the_limit = sign(claims_for(tenant.user, iat=now, exp=now + 900 + 30))
    assert api.get("/projects", headers={"Authorization": f"Bearer {at_the_limit}"}).status_code == 200


def test_responses_that_carry_tokens_are_not_stored_by_caches(api: Api, tenant: Tenant) -> None:
    responses = {
        "register": api.post(
            "/auth/register", {"email": "cache@example.com", "password": PASSWORD, "organization_name": "C"}
        ),
        "login": api.post("/auth/login", {"email": "cache@example.com", "password": PASSWORD}),
        "refresh": api.post("/auth/refresh", {"refresh_token": tenant.user.refresh_token}),
    }
    for name, result in responses.items():
        assert result.status_code in (200, 201), name
        assert result.headers["cache-control"] == "no-store", name
