"""Invitations: bound to their email, single use, expiring, revocable, stored hashed."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.integration.conftest import PASSWORD, Api, SqlDatabase, Tenant, begin_as
from tests.mail_server import token_in


def test_invitation_response_and_storage(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    body, token = api.invitation(tenant.admin, "New@Example.com", "ORG_USER")
    # The token goes by mail to the invited address only: an admin who held it could make
    # an account for any address.
    assert set(body) == {"id", "email", "role", "expires_at"}
    assert body["email"] == "new@example.com"
    (mail,) = api.mailed("new@example.com")
    assert mail["Subject"] == "You are invited to join Tenant A"
    assert "as ORG_USER" in mail.get_content()
    row = owner.execute(
        "SELECT token_hash, expires_at - created_at FROM iam.invitations WHERE id = %s", [body["id"]]
    ).fetchone()
    assert row is not None
    assert row[0] == hashlib.sha256(token.encode()).digest()
    assert str(row[1]) == "7 days, 0:00:00"
    listed = api.get("/invitations", as_=tenant.admin).json["items"]
    assert [i["id"] for i in listed] == [body["id"]]
    assert "token" not in listed[0]


def test_inviting_reveals_nothing_about_other_accounts(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    registered_elsewhere = api.post(
        "/invitations", {"email": other_tenant.user.email, "role": "ORG_USER"}, as_=tenant.admin
    )
    unknown = api.post("/invitations", {"email": "nobody@example.com", "role": "ORG_USER"}, as_=tenant.admin)
    assert registered_elsewhere.status_code == unknown.status_code == 201
    assert set(registered_elsewhere.json) == set(unknown.json)


def test_inviting_a_current_member_is_409(api: Api, tenant: Tenant) -> None:
    result = api.post("/invitations", {"email": tenant.user.email, "role": "ORG_ADMIN"}, as_=tenant.admin)
    assert result.status_code == 409


def test_accept_by_an_existing_user_of_another_org(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    token = api.invite(tenant.admin, other_tenant.user.email, "READ_ONLY")
    result = api.post("/invitations/accept", {"token": token}, as_=other_tenant.user)
    assert result.status_code == 200
    assert result.json == {
        "organization": {"id": tenant.admin.organization_id, "name": "Tenant A"},
        "role": "READ_ONLY",
    }
    joined = api.login(other_tenant.user.email, organization_id=tenant.admin.organization_id)
    assert api.get("/auth/me", as_=joined).json["role"] == "READ_ONLY"
    assert api.get("/invitations", as_=tenant.admin).json["items"] == []


def test_an_invitation_is_bound_to_its_email(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    token = api.invite(tenant.admin, "intended@example.com", "ORG_USER")
    stolen = api.post("/invitations/accept", {"token": token}, as_=other_tenant.user)
    assert stolen.status_code == 403
    # Registering under another email answers as an unknown token would (nothing to learn).
    register_other_email = api.post(
        "/auth/register", {"email": "thief@example.com", "password": PASSWORD, "invitation_token": token}
    )
    assert register_other_email.status_code == 404
    # Neither attempt left an account or used the invitation up.
    assert api.post("/auth/login", {"email": "thief@example.com", "password": PASSWORD}).status_code == 401
    joined = api.post(
        "/auth/register", {"email": "intended@example.com", "password": PASSWORD, "invitation_token": token}
    )
    assert joined.status_code == 201
    assert joined.json["role"] == "ORG_USER"
    assert joined.json["organization"]["id"] == tenant.admin.organization_id


def test_an_invitation_is_single_use(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    token = api.invite(tenant.admin, other_tenant.user.email, "ORG_USER")
    assert api.post("/invitations/accept", {"token": token}, as_=other_tenant.user).status_code == 200
    again = api.post("/invitations/accept", {"token": token}, as_=other_tenant.user)
    assert again.status_code == 404


def test_unknown_revoked_and_expired_tokens_are_404(
    api: Api, tenant: Tenant, other_tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    me = other_tenant.user
    assert api.post("/invitations/accept", {"token": "made-up"}, as_=me).status_code == 404

    revoked, revoked_token = api.invitation(tenant.admin, me.email, "ORG_USER")
    assert api.delete(f"/invitations/{revoked['id']}", as_=tenant.admin).status_code == 204
    assert api.post("/invitations/accept", {"token": revoked_token}, as_=me).status_code == 404
    assert api.delete(f"/invitations/{revoked['id']}", as_=tenant.admin).status_code == 404

    expired, expired_token = api.invitation(tenant.admin, me.email, "ORG_USER")
    owner.execute("UPDATE iam.invitations SET expires_at = now() - interval '1 second' WHERE id = %s", [expired["id"]])
    assert api.post("/invitations/accept", {"token": expired_token}, as_=me).status_code == 404
    assert api.get("/invitations", as_=tenant.admin).json["items"] == []


def test_accepting_when_already_a_member_is_409_and_uses_nothing_up(
    api: Api, tenant: Tenant, other_tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    token = api.invite(tenant.admin, other_tenant.user.email, "ORG_USER")
    # Meanwhile a DBA added the same person directly.
    owner.execute(
        "INSERT INTO iam.organization_memberships (organization_id, user_id, role) VALUES (%s, %s, 'READ_ONLY')",
        [tenant.admin.organization_id, other_tenant.user.user_id],
    )
    result = api.post("/invitations/accept", {"token": token}, as_=other_tenant.user)
    assert result.status_code == 409
    assert [i["email"] for i in api.get("/invitations", as_=tenant.admin).json["items"]] == [other_tenant.user.email]


def test_reinviting_supersedes_the_earlier_token(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    first = api.invite(tenant.admin, other_tenant.user.email, "READ_ONLY")
    second = api.invite(tenant.admin, other_tenant.user.email, "ORG_USER")
    assert api.post("/invitations/accept", {"token": first}, as_=other_tenant.user).status_code == 404
    accepted = api.post("/invitations/accept", {"token": second}, as_=other_tenant.user)
    assert accepted.json["role"] == "ORG_USER"


def test_registration_with_a_bad_invitation_says_the_same_whatever_the_email(
    api: Api, tenant: Tenant, other_tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    revoked, revoked_token = api.invitation(tenant.admin, "revoked@example.com", "ORG_USER")
    api.delete(f"/invitations/{revoked['id']}", as_=tenant.admin)
    expired, expired_token = api.invitation(tenant.admin, "expired@example.com", "ORG_USER")
    owner.execute("UPDATE iam.invitations SET expires_at = now() - interval '1 second' WHERE id = %s", [expired["id"]])
    for_someone_else = api.invite(tenant.admin, "someone@example.com", "ORG_USER")
    users_before = owner.execute("SELECT count(*) FROM iam.users").fetchone()

    for token in ["garbage", revoked_token, expired_token, for_someone_else]:
        answers = []
        for email in [other_tenant.user.email, "nobody-yet@example.com"]:
            result = api.post("/auth/register", {"email": email, "password": PASSWORD, "invitation_token": token})
            answers.append((result.status_code, {k: v for k, v in result.json.items() if k != "request_id"}))
        assert answers[0] == answers[1], token
        assert answers[0][0] == 404
    assert owner.execute("SELECT count(*) FROM iam.users").fetchone() == users_before


def test_a_valid_invitation_for_a_registered_email_points_to_login(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    token = api.invite(tenant.admin, other_tenant.user.email, "ORG_USER")
    result = api.post(
        "/auth/register", {"email": other_tenant.user.email, "password": PASSWORD, "invitation_token": token}
    )
    assert result.status_code == 409
    # The invitation is still there to accept after logging in.
    assert api.post("/invitations/accept", {"token": token}, as_=other_tenant.user).status_code == 200


def test_parallel_invitations_to_one_email_leave_one_pending(api: Api, tenant: Tenant) -> None:
    roles = ["READ_ONLY", "ORG_USER", "ORG_ADMIN"] * 7
    results = api.parallel(
        [
            ("POST", "/invitations", {"json": {"email": "race@example.com", "role": role}, "as_": tenant.admin})
            for role in roles
        ]
    )
    assert [r.status_code for r in results] == [201] * len(roles)
    pending = api.get("/invitations", as_=tenant.admin).json["items"]
    assert len(pending) == 1
    winner = [r.json for r in results if r.json["id"] == pending[0]["id"]]
    assert len(winner) == 1
    # Every invitation was mailed; only the surviving one's token works.
    tokens = [token_in(mail, "accept-invitation") for mail in api.mailed("race@example.com")]
    assert len(tokens) == len(roles)
    statuses = [
        api.post(
            "/auth/register", {"email": "race@example.com", "password": PASSWORD, "invitation_token": token}
        ).status_code
        for token in tokens
    ]
    assert sorted(statuses) == [201] + [404] * (len(roles) - 1)


def test_concurrent_invitation_transactions_queue_on_the_address(database: SqlDatabase, tenant: Tenant) -> None:
    """Two transactions that invite one address at the same time: the second waits for the
    first, then supersedes it. Deterministic, unlike the HTTP race above."""
    params = {"email": "queued@example.com", "role": "ORG_USER", "ttl_seconds": 60}
    first = begin_as(database, tenant.admin, read_only=False)
    first.one("create_invitation", {**params, "token_hash": b"first"})

    def second_invitation() -> None:
        second = begin_as(database, tenant.admin, read_only=False)
        second.one("create_invitation", {**params, "token_hash": b"second"})
        second.end(commit=True)

    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(second_invitation)
        time.sleep(0.3)
        assert not waiting.done(), "the second invitation should wait for the first to end"
        first.end(commit=True)
        waiting.result(timeout=10)

    check = begin_as(database, tenant.admin, read_only=True)
    try:
        pending = check.all("list_pending_invitations")
    finally:
        check.end(commit=False)
    assert [(p["email"], p["role"]) for p in pending] == [("queued@example.com", "ORG_USER")]


def test_resending_mails_a_fresh_link_and_the_old_one_stops_working(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    invited = other_tenant.user
    body, first = api.invitation(tenant.admin, invited.email, "READ_ONLY")
    mailed_before = len(api.mailed(invited.email))
    resent = api.post(f"/invitations/{body['id']}/resend", as_=tenant.admin)
    assert resent.status_code == 201, resent.json
    assert set(resent.json) == {"id", "email", "role", "expires_at"}
    assert (resent.json["email"], resent.json["role"]) == (invited.email, "READ_ONLY")
    second = api.mailed_token(invited.email, "accept-invitation")
    assert second != first
    assert len(api.mailed(invited.email)) == mailed_before + 1
    assert api.post("/invitations/accept", {"token": first}, as_=invited).status_code == 404
    assert api.post("/invitations/accept", {"token": second}, as_=invited).json["role"] == "READ_ONLY"
    # Nothing pending to resend any more; nobody else's; not without users:manage.
    assert api.post(f"/invitations/{resent.json['id']}/resend", as_=tenant.admin).status_code == 404
    theirs, _ = api.invitation(other_tenant.admin, "elsewhere@example.com", "ORG_USER")
    assert api.post(f"/invitations/{theirs['id']}/resend", as_=tenant.admin).status_code == 404
    assert api.post(f"/invitations/{theirs['id']}/resend", as_=other_tenant.user).status_code == 403
