"""Multi-factor sign-in: TOTP enrolment with recovery codes, login with a second factor,
organizations that require it, and step-up for sensitive changes. Codes come from pyotp, as
an authenticator app would make them."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pyotp
import pytest

from api.http.problems import MFA_REQUIRED
from tests.integration.conftest import PASSWORD, Api, Session, Tenant

STEP = 30


def code(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator's code, now or a step ahead (a step ahead is within the allowed
    drift, and newer than a code just used: the way to sign in twice within 30 seconds)."""
    return pyotp.TOTP(secret).at(time.time() + steps_ahead * STEP)


def enrol(api: Api, session: Session) -> tuple[str, list[str]]:
    """Enrols and activates a factor in this session: its secret and recovery codes."""
    started = api.post("/auth/mfa/totp", as_=session)
    assert started.status_code == 201, started.json
    secret: str = started.json["secret"]
    verified = api.post("/auth/mfa/totp/verify", {"code": code(secret)}, as_=session)
    assert verified.status_code == 200, verified.json
    codes: list[str] = verified.json["recovery_codes"]
    return secret, codes


def challenge(api: Api, email: str, **answer: str) -> Any:
    login = api.post("/auth/login", {"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.json
    assert login.json["mfa_required"] is True
    return api.post("/auth/mfa/challenge", {"mfa_token": login.json["mfa_token"], **answer})


def signed_in(result: Any) -> Session:
    assert result.status_code == 200, result.json
    return Api.session_of(result)


def assert_mfa_required(result: Any) -> None:
    assert result.status_code == 403, result.json
    assert result.json["type"] == MFA_REQUIRED


def test_enrolment_then_login_with_a_code(api: Api) -> None:
    me = api.register()
    started = api.post("/auth/mfa/totp", as_=me)
    assert started.status_code == 201
    assert started.json["otpauth_uri"].startswith("otpauth://totp/tenant-iam:")
    assert "secret=" + started.json["secret"] in started.json["otpauth_uri"]
    # Enrolling again replaces the pending factor: the first secret no longer verifies.
    again = api.post("/auth/mfa/totp", as_=me).json
    stale = api.post("/auth/mfa/totp/verify", {"code": code(started.json["secret"])}, as_=me)
    assert stale.status_code == 400 or code(started.json["secret"]) == code(again["secret"])
    assert api.post("/auth/mfa/totp/verify", {"code": "000000x"}, as_=me).status_code == 400
    verified = api.post("/auth/mfa/totp/verify", {"code": code(again["secret"])}, as_=me)
    assert verified.status_code == 200
    codes = verified.json["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    # The session that enrolled passed the second factor.
    mine = api.get("/auth/me", as_=me).json
    assert (mine["aal"], mine["amr"], mine["mfa_enrolled"]) == (2, ["pwd", "otp"], True)
    # A second enrolment while the factor is active: 409.
    assert api.post("/auth/mfa/totp", as_=me).status_code == 409

    login = api.post("/auth/login", {"email": me.email, "password": PASSWORD})
    assert login.status_code == 200
    assert set(login.json) == {"mfa_required", "mfa_token", "expires_in"}
    assert login.json["expires_in"] == 300
    answered = api.post("/auth/mfa/challenge", {"mfa_token": login.json["mfa_token"], "code": code(again["secret"], 1)})
    session = signed_in(answered)
    assert (answered.json["aal"], answered.json["amr"]) == (2, ["pwd", "otp"])
    claims = jwt.decode(session.token, options={"verify_signature": False})
    assert (claims["aal"], claims["amr"]) == (2, ["pwd", "otp"])
    assert api.get("/auth/me", as_=session).json["aal"] == 2
    listed = {item["id"]: item for item in api.get("/auth/sessions", as_=session).json["items"]}
    assert (listed[session.session_id]["aal"], listed[session.session_id]["amr"]) == (2, ["pwd", "otp"])
    assert (listed[me.session_id]["aal"], listed[me.session_id]["amr"]) == (2, ["pwd", "otp"])  # it enrolled
    # The mfa_token is spent.
    reused = api.post("/auth/mfa/challenge", {"mfa_token": login.json["mfa_token"], "code": code(again["secret"], 1)})
    assert reused.status_code == 401


def test_a_code_is_never_accepted_twice(api: Api) -> None:
    me = api.register()
    secret, _ = enrol(api, me)
    # The code that verified the factor is spent, and so is each one a login accepts.
    assert challenge(api, me.email, code=code(secret)).status_code == 401
    signed_in(challenge(api, me.email, code=code(secret, 1)))
    assert challenge(api, me.email, code=code(secret, 1)).status_code == 401
    assert challenge(api, me.email, code=code(secret, 5)).status_code == 401  # beyond the drift


def test_recovery_codes_are_single_use_and_can_be_replaced(api: Api, tenant: Tenant) -> None:
    _, codes = enrol(api, tenant.user)
    result = challenge(api, tenant.user.email, recovery_code=codes[0].upper().replace("-", " "))
    session = signed_in(result)
    assert result.json["amr"] == ["pwd", "recovery_code"]
    assert challenge(api, tenant.user.email, recovery_code=codes[0]).status_code == 401
    fresh = api.post("/auth/mfa/recovery-codes", as_=session)
    assert fresh.status_code == 200
    assert challenge(api, tenant.user.email, recovery_code=codes[1]).status_code == 401
    signed_in(challenge(api, tenant.user.email, recovery_code=fresh.json["recovery_codes"][0]))
    actions = [e["action"] for e in api.get("/audit-events", as_=tenant.admin).json["items"]]
    assert "mfa.enrolled" in actions
    assert "mfa.recovery_code_used" in actions
    assert "mfa.challenge_failed" in actions


def test_wrong_codes_void_the_token_and_count_as_failed_logins(make_api: Any) -> None:
    api: Api = make_api(LOGIN_MAX_FAILURES="5")
    me = api.register()
    secret, _ = enrol(api, me)
    login = api.post("/auth/login", {"email": me.email, "password": PASSWORD}).json
    wrong = str((int(code(secret, 1)) + 1) % 1_000_000).zfill(6)
    answers = [api.post("/auth/mfa/challenge", {"mfa_token": login["mfa_token"], "code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    # Void after five: the right code no longer opens it.
    right = api.post("/auth/mfa/challenge", {"mfa_token": login["mfa_token"], "code": code(secret, 1)})
    assert right.status_code == 401
    # The five wrong codes spent the pair's five failures: even the right password is a 429 now.
    assert api.post("/auth/login", {"email": me.email, "password": PASSWORD}).status_code == 429


def test_signing_in_with_a_second_factor_spends_no_failures(make_api: Any) -> None:
    """A right password that waits for its second factor is no failed login: a user who
    signs in often is never throttled for it."""
    api: Api = make_api(LOGIN_MAX_FAILURES="3")
    me = api.register()
    _, codes = enrol(api, me)
    for recovery in codes[:5]:
        signed_in(challenge(api, me.email, recovery_code=recovery))


def test_an_organization_that_requires_mfa_shuts_out_sessions_below_it(api: Api, tenant: Tenant) -> None:
    organization = tenant.admin.organization_id
    key = api.api_key(tenant.admin, "READ_ONLY")
    # Only from a session at aal 2.
    assert_mfa_required(api.patch(f"/organizations/{organization}", {"require_mfa": True}, as_=tenant.admin))
    enrol(api, tenant.admin)
    changed = api.patch(f"/organizations/{organization}", {"require_mfa": True}, as_=tenant.admin)
    assert changed.status_code == 200
    assert changed.json["require_mfa"] is True
    assert api.get("/projects", as_=tenant.admin).status_code == 200

    # A member at aal 1: refused on tenant routes from the next request on.
    assert_mfa_required(api.get("/projects", as_=tenant.user))
    assert_mfa_required(api.get("/members", as_=tenant.user))
    me = api.get("/auth/me", as_=tenant.user)
    assert me.status_code == 200
    assert me.json["mfa_required"] is True
    # API keys are machine identities: not subject to it.
    assert api.get("/projects", as_=key).status_code == 200
    # Enrolling lifts it for the session that enrolled.
    enrol(api, tenant.user)
    assert api.get("/projects", as_=tenant.user).status_code == 200
    assert api.get("/auth/me", as_=tenant.user).json["mfa_required"] is False
    # Another member can still log out.
    assert api.post("/auth/logout", as_=tenant.reader).status_code == 204
    events = [
        e for e in api.get("/audit-events", as_=tenant.admin).json["items"] if e["action"] == "organization.updated"
    ]
    assert events[0]["new_values"]["require_mfa"] is True


def test_sensitive_changes_need_the_second_factor_of_a_user_who_has_one(api: Api, tenant: Tenant) -> None:
    # The admin signs in twice, then enrols in the second session: the first stays at aal 1.
    earlier = api.login(tenant.admin.email, tenant.admin.organization_id)
    enrol(api, tenant.admin)
    spare = api.add_member(tenant.admin, "READ_ONLY")
    for refused in (
        api.post(
            "/auth/change-password", {"current_password": PASSWORD, "new_password": "another long pass"}, as_=earlier
        ),
        api.delete("/auth/mfa/totp", as_=earlier),
        api.post("/auth/mfa/recovery-codes", as_=earlier),
        api.post("/api-keys", {"name": "job", "role": "READ_ONLY"}, as_=earlier),
        api.patch(f"/members/{spare.user_id}", {"role": "ORG_USER"}, as_=earlier),
    ):
        assert_mfa_required(refused)
    assert api.get(f"/members/{spare.user_id}", as_=tenant.admin).json["role"] == "READ_ONLY"
    # The same from the session that passed the factor.
    assert api.patch(f"/members/{spare.user_id}", {"role": "ORG_USER"}, as_=tenant.admin).status_code == 200
    assert api.post("/api-keys", {"name": "job", "role": "READ_ONLY"}, as_=tenant.admin).status_code == 201
    assert api.delete("/auth/mfa/totp", as_=tenant.admin).status_code == 204
    # Without a factor, a password alone signs in again, and nothing needs stepping up.
    assert "access_token" in api.post("/auth/login", {"email": tenant.admin.email, "password": PASSWORD}).json
    assert api.post("/api-keys", {"name": "job 2", "role": "READ_ONLY"}, as_=earlier).status_code == 201
    assert "mfa.removed" in [e["action"] for e in api.get("/audit-events", as_=tenant.admin).json["items"]]


def test_refresh_and_switching_keep_the_level(api: Api, tenant: Tenant) -> None:
    secret, _ = enrol(api, tenant.user)
    other = api.register(organization="Elsewhere")
    api.post("/invitations/accept", {"token": api.invite(other, tenant.user.email, "READ_ONLY")}, as_=tenant.user)
    session = signed_in(challenge(api, tenant.user.email, code=code(secret, 1)))
    refreshed = api.post("/auth/refresh", {"refresh_token": session.refresh_token})
    assert refreshed.status_code == 200
    assert (refreshed.json["aal"], refreshed.json["amr"]) == (2, ["pwd", "otp"])
    assert jwt.decode(refreshed.json["access_token"], options={"verify_signature": False})["aal"] == 2
    switched = api.post("/auth/switch-organization", {"organization_id": other.organization_id}, as_=session)
    assert switched.status_code == 200
    assert switched.json["aal"] == 2
    assert api.get("/auth/me", as_=Api.session_of(switched)).json["aal"] == 2


@pytest.mark.parametrize("body", [{}, {"code": "123456", "recovery_code": "abcd"}, {"code": "123456"}])
def test_malformed_challenges_are_refused(api: Api, body: dict[str, str]) -> None:
    result = api.post("/auth/mfa/challenge", {"mfa_token": "unknown", **body} if body else {"mfa_token": "x"})
    assert result.status_code in (401, 422), result.json
    assert result.headers["content-type"] == "application/problem+json"


def test_one_code_sent_to_parallel_challenges_opens_one_session(api: Api) -> None:
    """A stolen code raced against its owner: the step moves forward in the statement that
    accepts it, so exactly one of the parallel answers signs in."""
    me = api.register()
    secret, _ = enrol(api, me)
    tokens = [api.post("/auth/login", {"email": me.email, "password": PASSWORD}).json["mfa_token"] for _ in range(4)]
    same_code = code(secret, 1)
    answers = api.parallel(
        [("POST", "/auth/mfa/challenge", {"json": {"mfa_token": token, "code": same_code}}) for token in tokens]
    )
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


def test_parallel_answers_to_one_token_open_one_session(api: Api) -> None:
    me = api.register()
    _, codes = enrol(api, me)
    token = api.post("/auth/login", {"email": me.email, "password": PASSWORD}).json["mfa_token"]
    answers = api.parallel(
        [("POST", "/auth/mfa/challenge", {"json": {"mfa_token": token, "recovery_code": c}}) for c in codes[:4]]
    )
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    # The three codes whose answers lost are still unused.
    losers = [c for c, a in zip(codes[:4], answers, strict=True) if a.status_code == 401]
    signed_in(challenge(api, me.email, recovery_code=losers[0]))
