"""Proof of email ownership. With EMAIL_VERIFICATION=required (the default), registering a
new organization is a request: a link mailed to the address creates the account; an address
that has an account gets a notice with a reset link instead, and the answer is the same.
With optional, accounts start unverified. Unverified accounts cannot accept invitations, and
the squatting scenario ends with the owner's reset."""

from __future__ import annotations

from typing import Any

import falcon.testing

from tests.integration.conftest import PASSWORD, Api, AppFactory, Sql, Tenant

NEW_PASSWORD = "the owner's own passphrase"


def register(api: Api, email: str, organization: str = "Verified Co") -> falcon.testing.Result:
    return api.post("/auth/register", {"email": email, "password": PASSWORD, "organization_name": organization})


def same_answer(result: falcon.testing.Result) -> tuple[int, Any]:
    return result.status_code, result.json


def test_required_registration_creates_the_account_from_the_mailed_link(make_api: AppFactory, owner: Sql) -> None:
    api = make_api(EMAIL_VERIFICATION="required")
    asked = register(api, "ver-new@example.com")
    assert same_answer(asked) == (202, {"status": "verification_sent"})
    # Nothing exists until the address is proved.
    assert owner.execute("SELECT count(*) FROM iam.users WHERE email = 'ver-new@example.com'").fetchone() == (0,)
    assert api.post("/auth/login", {"email": "ver-new@example.com", "password": PASSWORD}).status_code == 401
    token = api.mailed_token("ver-new@example.com", "verify-email")
    verified = api.post("/auth/verify-email", {"token": token})
    assert verified.status_code == 201, verified.json
    assert verified.json["organization"]["name"] == "Verified Co"
    assert verified.json["role"] == "ORG_ADMIN"
    session = api.session_of(verified)
    assert api.get("/auth/me", as_=session).json["email_verified"] is True
    assert api.post("/auth/login", {"email": "ver-new@example.com", "password": PASSWORD}).status_code == 200
    # Single use.
    again = api.post("/auth/verify-email", {"token": token})
    assert again.status_code == 400
    assert again.headers["content-type"] == "application/problem+json"
    assert api.post("/auth/verify-email", {"token": "never-issued-token"}).json["detail"] == again.json["detail"]


def test_required_registration_of_a_taken_address_answers_the_same_and_mails_a_notice(
    make_api: AppFactory, owner: Sql
) -> None:
    api = make_api(EMAIL_VERIFICATION="required", MAIL_MIN_INTERVAL_SECONDS="0")
    register(api, "ver-taken@example.com")
    api.post("/auth/verify-email", {"token": api.mailed_token("ver-taken@example.com", "verify-email")})
    fresh = register(api, "someone-ver-new@example.com", "Twin")
    taken = register(api, "ver-taken@example.com", "Twin")
    assert same_answer(taken) == same_answer(fresh) == (202, {"status": "verification_sent"})
    notice = api.mailed("ver-taken@example.com")[-1]
    assert notice["Subject"] == "Someone tried to register with your address"
    assert owner.execute("SELECT count(*) FROM iam.users WHERE email = 'ver-taken@example.com'").fetchone() == (1,)
    assert owner.execute("SELECT count(*) FROM iam.organizations WHERE name = 'Twin'").fetchone() == (0,)
    # The notice's reset link works: a forgotten password is one click away.
    reset = api.mailed_token("ver-taken@example.com", "reset-password")
    confirm = {"token": reset, "new_password": NEW_PASSWORD}
    assert api.post("/auth/password-reset/confirm", confirm).status_code == 204


def test_a_pending_registration_whose_address_got_an_account_meanwhile_is_409(make_api: AppFactory) -> None:
    required = make_api(EMAIL_VERIFICATION="required")
    register(required, "ver-race@example.com")
    token = required.mailed_token("ver-race@example.com", "verify-email")
    register(make_api(EMAIL_VERIFICATION="optional"), "ver-race@example.com")
    assert required.post("/auth/verify-email", {"token": token}).status_code == 409


def test_optional_verification_marks_the_account_and_the_members_list(api: Api, tenant: Tenant) -> None:
    admin = tenant.admin
    assert api.get("/auth/me", as_=admin).json["email_verified"] is False
    verified = api.post("/auth/verify-email", {"token": api.mailed_token(admin.email, "verify-email")})
    assert (verified.status_code, verified.json) == (200, {"status": "verified"})
    assert api.get("/auth/me", as_=admin).json["email_verified"] is True
    members = {m["email"]: m["email_verified"] for m in api.get("/members", as_=admin).json["items"]}
    assert members[admin.email] is True
    # Nothing more to send.
    assert same_answer(api.post("/auth/verify-email/resend", as_=admin)) == (200, {"status": "verified"})


def test_resend_mails_a_new_link_and_only_the_newest_works(make_api: AppFactory, tenant: Tenant) -> None:
    api = make_api(MAIL_MIN_INTERVAL_SECONDS="0")
    first = api.mailed_token(tenant.admin.email, "verify-email")
    resent = api.post("/auth/verify-email/resend", as_=tenant.admin)
    assert same_answer(resent) == (202, {"status": "verification_sent"})
    second = api.mailed_token(tenant.admin.email, "verify-email")
    assert second != first
    assert api.post("/auth/verify-email", {"token": first}).status_code == 400
    assert api.post("/auth/verify-email", {"token": second}).status_code == 200


def test_a_squatter_cannot_take_invitations_and_loses_the_account_to_the_owners_reset(api: Api, tenant: Tenant) -> None:
    """An attacker registers ver-victim@corp.example before the victim (optional verification).
    Corp invites the victim: the squatter cannot accept. The owner, who reads the address's
    mail, resets the password: the squatter's sessions end and the owner accepts."""
    squatter = api.register("ver-victim@corp.example", organization="Squat")
    token = api.invite(tenant.admin, "ver-victim@corp.example", "ORG_ADMIN")
    refused = api.post("/invitations/accept", {"token": token}, as_=squatter)
    assert refused.status_code == 403
    assert refused.json["title"] == "Email not verified"
    assert [m["email"] for m in api.get("/members", as_=tenant.admin).json["items"]].count(
        "ver-victim@corp.example"
    ) == 0

    assert api.post("/auth/password-reset", {"email": "ver-victim@corp.example"}).status_code == 202
    reset = api.mailed_token("ver-victim@corp.example", "reset-password")
    confirm = {"token": reset, "new_password": NEW_PASSWORD}
    assert api.post("/auth/password-reset/confirm", confirm).status_code == 204
    assert api.get("/auth/me", as_=squatter).status_code == 401
    assert api.post("/auth/login", {"email": "ver-victim@corp.example", "password": PASSWORD}).status_code == 401
    owner = api.session_of(api.post("/auth/login", {"email": "ver-victim@corp.example", "password": NEW_PASSWORD}))
    assert api.get("/auth/me", as_=owner).json["email_verified"] is True
    accepted = api.post("/invitations/accept", {"token": token}, as_=owner)
    assert accepted.status_code == 200, accepted.json


def test_registering_with_an_invitation_proves_the_address(make_api: AppFactory, tenant: Tenant) -> None:
    api = make_api(EMAIL_VERIFICATION="required")
    token = api.invite(tenant.admin, "ver-invited@example.com", "ORG_USER")
    joined = api.post(
        "/auth/register", {"email": "ver-invited@example.com", "password": PASSWORD, "invitation_token": token}
    )
    assert joined.status_code == 201
    assert api.get("/auth/me", as_=api.session_of(joined)).json["email_verified"] is True
