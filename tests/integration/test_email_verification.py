"""Proof of email ownership. With EMAIL_VERIFICATION=required (the default), registering a
new organization is a request: a link mailed to the address creates the account; an address
that has an account gets a notice with a reset link instead, and the answer is the same.
With optional, accounts start unverified. Unverified accounts cannot accept invitations, and
the squatting scenario ends with the owner's reset. Every link here goes through a real SMTP
server (aiosmtpd, in this process)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

from tests.integration.conftest import PASSWORD, Api, AppFactory, Sql, Tenant
from tests.mail_server import MailServer, token_in

NEW_PASSWORD = "the owner's own passphrase"


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def over_smtp(make_api: AppFactory, mail_server: MailServer) -> AppFactory:
    """Apps of this test's database that send their mail to the test's SMTP server."""

    def make(**env: str) -> Api:
        return make_api(SMTP_URL=mail_server.url, **env)

    return make


def smtp_token(api: Api, server: MailServer, recipient: str, page: str, *, after: int = 0) -> str:
    """The token of the newest link to `page` that reached the SMTP server for the recipient,
    once more than `after` messages reached them."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        api.deliver_mail()
        if len(server.to(recipient)) > after:
            for message in reversed(server.to(recipient)):
                if f"/{page}?token=" in message.get_content():
                    return token_in(message, page)
        time.sleep(0.05)
    raise AssertionError(f"no {page} link reached {recipient}")


def register(api: Api, email: str, organization: str = "Verified Co") -> falcon.testing.Result:
    return api.post("/auth/register", {"email": email, "password": PASSWORD, "organization_name": organization})


def same_answer(result: falcon.testing.Result) -> tuple[int, Any]:
    return result.status_code, result.json


def test_required_registration_creates_the_account_from_the_mailed_link(
    over_smtp: AppFactory, mail_server: MailServer, owner: Sql
) -> None:
    api = over_smtp(EMAIL_VERIFICATION="required")
    asked = register(api, "ver-new@example.com")
    assert same_answer(asked) == (202, {"status": "verification_sent"})
    # Nothing exists until the address is proved.
    assert owner.execute("SELECT count(*) FROM iam.users WHERE email = 'ver-new@example.com'").fetchone() == (0,)
    assert api.post("/auth/login", {"email": "ver-new@example.com", "password": PASSWORD}).status_code == 401
    token = smtp_token(api, mail_server, "ver-new@example.com", "verify-email")
    assert mail_server.to("ver-new@example.com")[0]["Subject"] == "Confirm your email address"
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
    over_smtp: AppFactory, mail_server: MailServer, owner: Sql
) -> None:
    api = over_smtp(EMAIL_VERIFICATION="required", MAIL_MIN_INTERVAL_SECONDS="0")
    register(api, "ver-taken@example.com")
    api.post("/auth/verify-email", {"token": smtp_token(api, mail_server, "ver-taken@example.com", "verify-email")})
    fresh = register(api, "ver-someone@example.com", "Twin")
    taken = register(api, "ver-taken@example.com", "Twin")
    assert same_answer(taken) == same_answer(fresh) == (202, {"status": "verification_sent"})
    reset = smtp_token(api, mail_server, "ver-taken@example.com", "reset-password")
    assert mail_server.to("ver-taken@example.com")[-1]["Subject"] == "Someone tried to register with your address"
    assert owner.execute("SELECT count(*) FROM iam.users WHERE email = 'ver-taken@example.com'").fetchone() == (1,)
    assert owner.execute("SELECT count(*) FROM iam.organizations WHERE name = 'Twin'").fetchone() == (0,)
    # The notice's reset link works: a forgotten password is one click away.
    confirm = {"token": reset, "new_password": NEW_PASSWORD}
    assert api.post("/auth/password-reset/confirm", confirm).status_code == 204


def test_required_registration_takes_as_long_for_a_taken_address(make_api: AppFactory) -> None:
    """Not a speed target: both answers cost the same work (one Argon2 hash, one transaction),
    so their medians stay close however fast the machine is, and the timing does not tell
    who has an account."""
    api = make_api(EMAIL_VERIFICATION="optional")
    register(api, "ver-timed@example.com")
    required = make_api(EMAIL_VERIFICATION="required", REGISTRATIONS_PER_ADDRESS="1000")
    timings: dict[str, list[float]] = {"taken": [], "new": []}
    for n in range(12):
        for kind, email in (("taken", "ver-timed@example.com"), ("new", f"ver-timed-{n}@example.com")):
            started = time.perf_counter()
            assert register(required, email).status_code == 202
            timings[kind].append(time.perf_counter() - started)
    taken, new = (statistics.median(samples) for samples in timings.values())
    assert 0.75 < new / taken < 1.33, (taken, new)


def test_a_pending_registration_whose_address_got_an_account_meanwhile_is_409(
    over_smtp: AppFactory, mail_server: MailServer
) -> None:
    required = over_smtp(EMAIL_VERIFICATION="required")
    register(required, "ver-race@example.com")
    token = smtp_token(required, mail_server, "ver-race@example.com", "verify-email")
    register(over_smtp(EMAIL_VERIFICATION="optional"), "ver-race@example.com")
    assert required.post("/auth/verify-email", {"token": token}).status_code == 409


def test_optional_verification_marks_the_account_and_the_members_list(
    over_smtp: AppFactory, mail_server: MailServer
) -> None:
    api = over_smtp(EMAIL_VERIFICATION="optional")
    admin = api.session_of(register(api, "ver-optional@example.com"))
    assert api.get("/auth/me", as_=admin).json["email_verified"] is False
    token = smtp_token(api, mail_server, admin.email, "verify-email")
    verified = api.post("/auth/verify-email", {"token": token})
    assert (verified.status_code, verified.json) == (200, {"status": "verified"})
    assert api.get("/auth/me", as_=admin).json["email_verified"] is True
    members = {m["email"]: m["email_verified"] for m in api.get("/members", as_=admin).json["items"]}
    assert members == {admin.email: True}
    # Nothing more to send.
    assert same_answer(api.post("/auth/verify-email/resend", as_=admin)) == (200, {"status": "verified"})


def test_resend_mails_a_new_link_and_only_the_newest_works(over_smtp: AppFactory, mail_server: MailServer) -> None:
    api = over_smtp(EMAIL_VERIFICATION="optional", MAIL_MIN_INTERVAL_SECONDS="0")
    admin = api.session_of(register(api, "ver-resend@example.com"))
    first = smtp_token(api, mail_server, admin.email, "verify-email")
    resent = api.post("/auth/verify-email/resend", as_=admin)
    assert same_answer(resent) == (202, {"status": "verification_sent"})
    second = smtp_token(api, mail_server, admin.email, "verify-email", after=1)
    assert second != first
    assert api.post("/auth/verify-email", {"token": first}).status_code == 400
    assert api.post("/auth/verify-email", {"token": second}).status_code == 200


def test_a_squatter_cannot_take_invitations_and_loses_the_account_to_the_owners_reset(
    over_smtp: AppFactory, mail_server: MailServer, tenant: Tenant
) -> None:
    """An attacker registers victim@corp.example before the victim (optional verification).
    Corp invites the victim: the squatter cannot accept. The owner, who reads the address's
    mail, resets the password: the squatter's sessions end and the owner accepts."""
    api = over_smtp(EMAIL_VERIFICATION="optional")
    victim = "ver-victim@corp.example"
    squatter = api.session_of(register(api, victim, "Squat"))
    assert api.post("/invitations", {"email": victim, "role": "ORG_ADMIN"}, as_=tenant.admin).status_code == 201
    invitation = smtp_token(api, mail_server, victim, "accept-invitation")
    refused = api.post("/invitations/accept", {"token": invitation}, as_=squatter)
    assert refused.status_code == 403
    assert refused.json["title"] == "Email not verified"
    members = [m["email"] for m in api.get("/members", as_=tenant.admin).json["items"]]
    assert victim not in members

    assert api.post("/auth/password-reset", {"email": victim}).status_code == 202
    reset = smtp_token(api, mail_server, victim, "reset-password")
    assert api.post("/auth/password-reset/confirm", {"token": reset, "new_password": NEW_PASSWORD}).status_code == 204
    assert api.get("/auth/me", as_=squatter).status_code == 401
    assert api.post("/auth/login", {"email": victim, "password": PASSWORD}).status_code == 401
    owner = api.session_of(api.post("/auth/login", {"email": victim, "password": NEW_PASSWORD}))
    assert api.get("/auth/me", as_=owner).json["email_verified"] is True
    accepted = api.post("/invitations/accept", {"token": invitation}, as_=owner)
    assert accepted.status_code == 200, accepted.json


def test_registering_with_an_invitation_proves_the_address(
    over_smtp: AppFactory, mail_server: MailServer, tenant: Tenant
) -> None:
    api = over_smtp(EMAIL_VERIFICATION="required")
    invited = api.post("/invitations", {"email": "ver-invited@example.com", "role": "ORG_USER"}, as_=tenant.admin)
    assert invited.status_code == 201
    token = smtp_token(api, mail_server, "ver-invited@example.com", "accept-invitation")
    joined = api.post(
        "/auth/register", {"email": "ver-invited@example.com", "password": PASSWORD, "invitation_token": token}
    )
    assert joined.status_code == 201
    assert api.get("/auth/me", as_=api.session_of(joined)).json["email_verified"] is True
