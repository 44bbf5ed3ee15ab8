"""Sessions: refresh-token rotation with reuse detection, logout that takes effect on the
next request, the caller's own session list, organization switching, and password change."""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

import falcon.testing
import jwt

from tests.integration.conftest import PASSWORD, Api, AppFactory, Sql, Tenant


def refresh(api: Api, refresh_token: str) -> falcon.testing.Result:
    return api.post("/auth/refresh", {"refresh_token": refresh_token})


def session_events(owner: Sql, session_id: str) -> list[tuple[Any, ...]]:
    return owner.execute(
        "SELECT action, new_values->>'reason' FROM iam.audit_events WHERE resource_id = %s ORDER BY occurred_at",
        [session_id],
    ).fetchall()


def test_sign_in_answers_with_a_refresh_token_stored_as_a_hash(api: Api, owner: Sql) -> None:
    result = api.post(
        "/auth/register",
        {"email": "ses@example.com", "password": PASSWORD, "organization_name": "S"},
        headers={"User-Agent": "test-agent/1.0"},
    )
    assert result.status_code == 201
    body = result.json
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url
    assert result.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sid"] == body["session_id"]
    assert jwt.get_unverified_header(body["access_token"])["kid"]
    stored = owner.execute(
        "SELECT s.user_agent, host(s.client_address), s.expires_at - s.created_at, t.token_hash"
        " FROM iam.sessions AS s JOIN iam.refresh_tokens AS t ON t.session_id = s.id WHERE s.id = %s",
        [body["session_id"]],
    ).fetchone()
    assert stored is not None
    assert stored[:3] == ("test-agent/1.0", "127.0.0.1", datetime.timedelta(days=30))
    assert stored[3] == hashlib.sha256(body["refresh_token"].encode()).digest()
    assert session_events(owner, body["session_id"]) == [("session.created", None)]


def test_refresh_rotates_and_a_reused_token_ends_the_whole_session(api: Api, tenant: Tenant, owner: Sql) -> None:
    first = tenant.user
    rotated = refresh(api, first.refresh_token)
    assert rotated.status_code == 200, rotated.json
    second = api.session_of(rotated)
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert api.get("/auth/me", as_=second).status_code == 200
    third = api.session_of(refresh(api, second.refresh_token))

    # The first token again: someone holds a copy. The session ends for everyone.
    replayed = refresh(api, first.refresh_token)
    assert replayed.status_code == 401
    assert replayed.headers["content-type"] == "application/problem+json"
    assert refresh(api, third.refresh_token).status_code == 401
    for access in (first, second, third):
        assert api.get("/auth/me", as_=access).status_code == 401
    assert session_events(owner, first.session_id) == [
        ("session.created", None),
        ("session.revoked", "reuse"),
        ("session.reuse_detected", None),
    ]
    # Replaying again writes nothing more: an old token cannot flood the trail.
    assert refresh(api, first.refresh_token).status_code == 401
    assert len(session_events(owner, first.session_id)) == 3
    # The user's other sessions are untouched.
    assert api.get("/auth/me", as_=api.login(first.email)).status_code == 200


def test_concurrent_refreshes_with_one_token_succeed_at_most_once_without_a_grace_period(
    make_api: AppFactory,
) -> None:
    api = make_api(REFRESH_REUSE_GRACE_SECONDS="0")
    user = api.register()
    results = api.parallel([("POST", "/auth/refresh", {"json": {"refresh_token": user.refresh_token}})] * 12)
    statuses = sorted(result.status_code for result in results)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}
    # Every loser presented a rotated token: the session is over, winner included.
    for result in results:
        if result.status_code == 200:
            assert api.get("/auth/me", as_=api.session_of(result)).status_code == 401


def test_concurrent_refreshes_with_one_token_leave_one_usable_successor(api: Api, tenant: Tenant) -> None:
    """Within the grace period (two tabs refreshing at once), every refresh is a retry of
    the first: each replaces the unused successor, and exactly one refresh token is left."""
    results = api.parallel([("POST", "/auth/refresh", {"json": {"refresh_token": tenant.user.refresh_token}})] * 12)
    assert [result.status_code for result in results] == [200] * 12
    successors = [api.session_of(result) for result in results]
    assert len({successor.refresh_token for successor in successors}) == 12
    assert sorted(refresh(api, successor.refresh_token).status_code for successor in successors) == [200] + [401] * 11
    assert api.get("/auth/me", as_=successors[0]).status_code == 200


def test_a_retried_refresh_within_the_grace_period_keeps_the_session(api: Api, tenant: Tenant, owner: Sql) -> None:
    first = tenant.user
    lost = refresh(api, first.refresh_token)  # its answer never reaches the client
    assert lost.status_code == 200
    retried = refresh(api, first.refresh_token)
    assert retried.status_code == 200, retried.json
    second = api.session_of(retried)
    assert second.session_id == first.session_id
    # The lost successor stops working; it was never used, so that is no theft either.
    assert refresh(api, api.session_of(lost).refresh_token).status_code == 401
    assert api.get("/auth/me", as_=second).status_code == 200
    third = api.session_of(refresh(api, second.refresh_token))
    fourth = api.session_of(refresh(api, third.refresh_token))
    # Once the successor was used, the old token again is theft, even within the grace period.
    assert refresh(api, second.refresh_token).status_code == 401
    assert api.get("/auth/me", as_=fourth).status_code == 401
    assert [action for action, _ in session_events(owner, first.session_id)] == [
        "session.created",
        "session.revoked",
        "session.reuse_detected",
    ]


def test_a_retry_after_the_grace_period_is_theft(api: Api, tenant: Tenant, owner: Sql) -> None:
    assert refresh(api, tenant.user.refresh_token).status_code == 200
    token_hash = hashlib.sha256(tenant.user.refresh_token.encode()).digest()
    owner.execute(
        "UPDATE iam.refresh_tokens SET rotated_at = rotated_at - interval '11 seconds' WHERE token_hash = %s",
        [token_hash],
    )
    assert refresh(api, tenant.user.refresh_token).status_code == 401
    assert session_events(owner, tenant.user.session_id)[-1] == ("session.reuse_detected", None)


def test_unknown_and_junk_refresh_tokens_are_401_or_422(api: Api) -> None:
    assert refresh(api, "never-issued").status_code == 401
    assert refresh(api, "").status_code == 422
    assert refresh(api, "x" * 201).status_code == 422
    assert api.post("/auth/refresh", {"refresh_token": 5}).status_code == 422


def test_logout_ends_the_session_at_once_and_only_it(api: Api, tenant: Tenant, owner: Sql) -> None:
    other_device = api.login(tenant.user.email)
    assert api.post("/auth/logout", as_=tenant.user).status_code == 204
    assert api.get("/auth/me", as_=tenant.user).status_code == 401
    assert refresh(api, tenant.user.refresh_token).status_code == 401
    assert api.get("/auth/me", as_=other_device).status_code == 200
    assert session_events(owner, tenant.user.session_id)[-1] == ("session.revoked", "logout")
    actor = owner.execute(
        "SELECT actor_user_id::text FROM iam.audit_events WHERE action = 'session.revoked' AND resource_id = %s",
        [tenant.user.session_id],
    ).fetchone()
    assert actor == (tenant.user.user_id,)


def test_a_user_lists_and_revokes_only_their_own_sessions(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    laptop = api.login(tenant.user.email)
    listed = api.get("/auth/sessions", as_=laptop).json["items"]
    assert {s["id"] for s in listed} == {tenant.user.session_id, laptop.session_id}
    assert [s["current"] for s in listed if s["id"] == laptop.session_id] == [True]
    entry = next(s for s in listed if s["id"] == laptop.session_id)
    assert set(entry) == {
        "id",
        "organization_id",
        "organization_name",
        "created_at",
        "last_used_at",
        "expires_at",
        "aal",
        "amr",
        "user_agent",
        "client_address",
        "current",
    }
    assert entry["organization_name"] == "Tenant A"
    assert (entry["aal"], entry["amr"]) == (1, ["pwd"])

    # Nobody else's: not another tenant's, not even their own ORG_ADMIN's view of them.
    assert api.delete(f"/auth/sessions/{tenant.user.session_id}", as_=tenant.admin).status_code == 404
    assert api.delete(f"/auth/sessions/{tenant.user.session_id}", as_=other_tenant.admin).status_code == 404
    assert tenant.user.session_id not in {s["id"] for s in api.get("/auth/sessions", as_=tenant.admin).json["items"]}
    assert api.get("/auth/me", as_=tenant.user).status_code == 200

    assert api.delete(f"/auth/sessions/{tenant.user.session_id}", as_=laptop).status_code == 204
    assert api.get("/auth/me", as_=tenant.user).status_code == 401
    assert api.delete(f"/auth/sessions/{tenant.user.session_id}", as_=laptop).status_code == 404
    assert [s["id"] for s in api.get("/auth/sessions", as_=laptop).json["items"]] == [laptop.session_id]


def test_deactivated_and_removed_users_can_no_longer_refresh(api: Api, tenant: Tenant, owner: Sql) -> None:
    owner.execute("UPDATE iam.users SET is_active = false WHERE id = %s", [tenant.user.user_id])
    assert refresh(api, tenant.user.refresh_token).status_code == 401
    assert session_events(owner, tenant.user.session_id)[-1] == ("session.revoked", "deactivated")

    assert api.delete(f"/members/{tenant.reader.user_id}", as_=tenant.admin).status_code == 204
    assert refresh(api, tenant.reader.refresh_token).status_code == 401
    assert api.get("/auth/me", as_=tenant.reader).status_code == 401
    assert session_events(owner, tenant.reader.session_id)[-1] == ("session.revoked", "admin_removal")


def test_a_removed_member_keeps_sessions_elsewhere(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    token = api.invite(other_tenant.admin, tenant.user.email, "ORG_USER")
    assert api.post("/invitations/accept", {"token": token}, as_=tenant.user).status_code == 200
    elsewhere = api.login(tenant.user.email, organization_id=other_tenant.admin.organization_id)
    assert api.delete(f"/members/{tenant.user.user_id}", as_=tenant.admin).status_code == 204
    assert api.get("/auth/me", as_=tenant.user).status_code == 401
    assert api.get("/auth/me", as_=elsewhere).status_code == 200
    assert refresh(api, elsewhere.refresh_token).status_code == 200


def test_switching_organization_opens_a_session_there(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    token = api.invite(other_tenant.admin, tenant.user.email, "READ_ONLY")
    api.post("/invitations/accept", {"token": token}, as_=tenant.user)

    switched = api.post(
        "/auth/switch-organization", {"organization_id": other_tenant.admin.organization_id}, as_=tenant.user
    )
    assert switched.status_code == 200
    assert switched.headers["cache-control"] == "no-store"
    there = api.session_of(switched)
    assert there.organization_id == other_tenant.admin.organization_id
    assert switched.json["role"] == "READ_ONLY"
    assert there.session_id != tenant.user.session_id
    assert api.get("/auth/me", as_=there).json["organization"]["id"] == other_tenant.admin.organization_id
    assert api.get("/auth/me", as_=tenant.user).status_code == 200  # the old session stays
    assert refresh(api, there.refresh_token).status_code == 200

    # Not a member: 403, whether the organization exists or not.
    for organization_id in [other_tenant.admin.organization_id, "00000000-0000-0000-0000-000000000000"]:
        refused = api.post("/auth/switch-organization", {"organization_id": organization_id}, as_=tenant.reader)
        assert refused.status_code == 403, organization_id
    assert api.post("/auth/switch-organization", {"organization_id": "nope"}, as_=tenant.user).status_code == 422


def test_switching_to_the_current_organization_keeps_the_session(api: Api, tenant: Tenant, owner: Sql) -> None:
    """Any member could open hundreds of sessions a second (and as many session.created
    events) by switching to where they already are; now that is the same session."""

    def sessions_and_events() -> tuple[object, ...]:
        row = owner.execute(
            "SELECT (SELECT count(*) FROM iam.sessions WHERE user_id = %(u)s),"
            " (SELECT count(*) FROM iam.audit_events"
            "  WHERE action = 'session.created' AND new_values->>'user_id' = %(u)s::text)",
            {"u": tenant.reader.user_id},
        ).fetchone()
        assert row is not None
        return tuple(row)

    before = sessions_and_events()
    here = {"organization_id": tenant.reader.organization_id}
    answers = [api.post("/auth/switch-organization", here, as_=tenant.reader) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200] * 5
    assert {answer.json["session_id"] for answer in answers} == {tenant.reader.session_id}
    assert sessions_and_events() == before
    # Each answer rotated the session's refresh token: only the newest refreshes, and the
    # first one, presented again, is reuse.
    latest = api.session_of(answers[-1])
    assert api.get("/auth/me", as_=latest).status_code == 200
    assert refresh(api, latest.refresh_token).status_code == 200
    assert refresh(api, tenant.reader.refresh_token).status_code == 401


def test_password_change_ends_every_other_session(api: Api, tenant: Tenant, other_tenant: Tenant, owner: Sql) -> None:
    token = api.invite(other_tenant.admin, tenant.user.email, "ORG_USER")
    api.post("/invitations/accept", {"token": token}, as_=tenant.user)
    elsewhere = api.login(tenant.user.email, organization_id=other_tenant.admin.organization_id)
    phone = api.login(tenant.user.email)
    new_password = "a brand new passphrase"

    wrong = api.post(
        "/auth/change-password", {"current_password": "not it at all", "new_password": new_password}, as_=phone
    )
    assert wrong.status_code == 401
    weak = api.post("/auth/change-password", {"current_password": PASSWORD, "new_password": "short"}, as_=phone)
    assert weak.status_code == 422
    assert weak.json["errors"][0]["field"] == "new_password"

    changed = api.post("/auth/change-password", {"current_password": PASSWORD, "new_password": new_password}, as_=phone)
    assert changed.status_code == 204
    assert api.get("/auth/me", as_=phone).status_code == 200
    for ended in (tenant.user, elsewhere):
        assert api.get("/auth/me", as_=ended).status_code == 401
        assert refresh(api, ended.refresh_token).status_code == 401
    assert api.post("/auth/login", {"email": tenant.user.email, "password": PASSWORD}).status_code == 401
    assert api.post("/auth/login", {"email": tenant.user.email, "password": new_password}).status_code == 200
    assert session_events(owner, elsewhere.session_id)[-1] == ("session.revoked", "password_change")
    changed_events = owner.execute(
        "SELECT organization_id::text, actor_user_id::text FROM iam.audit_events WHERE action = 'password.changed'"
    ).fetchall()
    assert changed_events == [(tenant.admin.organization_id, tenant.user.user_id)]


def test_a_changed_password_needs_a_live_session(api: Api, tenant: Tenant) -> None:
    api.post("/auth/logout", as_=tenant.user)
    result = api.post(
        "/auth/change-password",
        {"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        as_=tenant.user,
    )
    assert result.status_code == 401
    assert api.post("/auth/login", {"email": tenant.user.email, "password": PASSWORD}).status_code == 200


def test_sessions_are_listed_a_page_at_a_time(api: Api, tenant: Tenant) -> None:
    devices = [api.login(tenant.user.email) for _ in range(2)]
    first = api.get("/auth/sessions?limit=2", as_=tenant.user)
    assert first.status_code == 200
    assert [s["id"] for s in first.json["items"]] == [devices[1].session_id, devices[0].session_id]
    cursor = first.json["next_cursor"]
    assert cursor
    second = api.get("/auth/sessions", params={"limit": "2", "cursor": cursor}, as_=tenant.user)
    assert [s["id"] for s in second.json["items"]] == [tenant.user.session_id]
    assert second.json["next_cursor"] is None
    assert api.get("/auth/sessions?limit=0", as_=tenant.user).status_code == 422
    assert api.get("/auth/sessions", params={"cursor": "junk"}, as_=tenant.user).status_code == 422
    # A cursor of another list (projects) is refused here.
    projects = [api.post("/projects", {"name": f"p{n}"}, as_=tenant.admin) for n in range(2)]
    assert all(project.status_code == 201 for project in projects)
    project_cursor = api.get("/projects?limit=1", as_=tenant.admin).json["next_cursor"]
    assert api.get("/auth/sessions", params={"cursor": project_cursor}, as_=tenant.user).status_code == 422


def test_live_sessions_per_user_are_capped_and_the_least_recently_used_goes(
    api: Api, tenant: Tenant, owner: Sql
) -> None:
    """Logins (and switches between organizations) opened sessions without end. Past 100
    live sessions, opening one revokes the least recently used."""
    owner.execute(
        "INSERT INTO iam.sessions (user_id, organization_id, expires_at, last_used_at)"
        " SELECT %s, %s, now() + interval '1 day', now() - n * interval '1 minute' FROM generate_series(1, 99) AS n",
        [tenant.user.user_id, tenant.user.organization_id],
    )
    found = owner.execute(
        "SELECT id::text FROM iam.sessions WHERE user_id = %s ORDER BY last_used_at LIMIT 1", [tenant.user.user_id]
    ).fetchone()
    assert found is not None
    oldest = str(found[0])
    live = "SELECT count(*) FROM iam.sessions WHERE user_id = %s AND revoked_at IS NULL"
    assert owner.execute(live, [tenant.user.user_id]).fetchone() == (100,)
    newest = api.login(tenant.user.email)
    assert owner.execute(live, [tenant.user.user_id]).fetchone() == (100,)
    assert session_events(owner, oldest)[-1] == ("session.revoked", "session_limit")
    for session in (newest, tenant.user):
        assert api.get("/auth/me", as_=session).status_code == 200
