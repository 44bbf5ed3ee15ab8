"""Organization API keys: made by a person, used as `Authorization: Bearer tiam_...`, run
through the same context round trip and policies as a person's token."""

from __future__ import annotations

import datetime
import re
import zlib
from typing import Any

import psycopg
import pytest

from api.auth.api_keys import CHECKSUM_LENGTH, base62
from tests.integration.conftest import Api, Session, Sql, SqlDatabase, Tenant, begin_as

KEY_SHAPE = re.compile(r"tiam_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}")


def rename(key: str) -> str:
    """The same key with one secret character changed and its checksum made right again: a
    well-formed guess, which only the database can refuse."""
    body = key[:-CHECKSUM_LENGTH]
    changed = body[:-1] + ("A" if body[-1] != "A" else "B")
    return changed + base62(zlib.crc32(changed.encode()), CHECKSUM_LENGTH)


def test_a_new_key_is_shown_once_and_listed_without_its_secret(api: Api, tenant: Tenant) -> None:
    result = api.post("/api-keys", {"name": "billing job", "role": "ORG_USER"}, as_=tenant.admin)
    assert result.status_code == 201, result.json
    created = result.json
    assert KEY_SHAPE.fullmatch(created["key"])
    assert created["prefix"] == created["key"][:17]
    assert created["role"] == "ORG_USER"
    assert created["created_by_user_id"] == tenant.admin.user_id
    assert created["last_used_at"] is None
    assert result.headers["cache-control"] == "no-store"

    listed = api.get("/api-keys", as_=tenant.admin).json["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert created["key"] not in str(listed)
    one = api.get(f"/api-keys/{created['id']}", as_=tenant.admin).json
    assert "key" not in one
    assert one["prefix"] == created["prefix"]


def test_a_key_acts_in_its_organization_with_its_role(api: Api, tenant: Tenant) -> None:
    writer = api.api_key(tenant.admin, "ORG_USER")
    reader = api.api_key(tenant.admin, "READ_ONLY")
    made = api.post("/projects", {"name": "From a job"}, as_=writer)
    assert made.status_code == 201, made.json
    assert made.json["created_by_user_id"] is None
    assert api.get(f"/projects/{made.json['id']}", as_=reader).status_code == 200
    assert api.post("/projects", {"name": "No"}, as_=reader).status_code == 403
    me = api.get("/auth/me", as_=writer).json
    assert me["user"] is None
    assert me["session_id"] is None
    assert me["api_key"]["id"] == writer.session_id
    assert me["api_key"]["created_by_user_id"] == tenant.admin.user_id
    assert me["organization"]["id"] == tenant.admin.organization_id
    assert me["role"] == "ORG_USER"
    assert "projects:write" in me["permissions"]


def test_a_key_never_reads_another_organization(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = api.create_project(other_tenant.admin)
    key = api.api_key(tenant.admin, "ORG_ADMIN")
    assert api.get(f"/projects/{theirs['id']}", as_=key).status_code == 404
    assert api.get("/projects", as_=key).json["items"] == []
    assert api.get("/members", as_=key).json["items"] == [
        item for item in api.get("/members", as_=tenant.admin).json["items"]
    ]
    assert api.delete(f"/projects/{theirs['id']}", as_=key).status_code == 404
    assert api.get(f"/projects/{theirs['id']}", as_=other_tenant.admin).status_code == 200
    # Keys are the organization's own: another organization's admin neither sees nor revokes it.
    assert api.get(f"/api-keys/{key.session_id}", as_=other_tenant.admin).status_code == 404
    assert api.delete(f"/api-keys/{key.session_id}", as_=other_tenant.admin).status_code == 404
    assert api.get("/auth/me", as_=key).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/auth/sessions", None),
        ("POST", "/auth/logout", None),
        ("POST", "/auth/change-password", {"current_password": "x", "new_password": "another long password"}),
        ("POST", "/auth/switch-organization", {"organization_id": "00000000-0000-0000-0000-000000000000"}),
        ("GET", "/organizations", None),
        ("POST", "/invitations/accept", {"token": "whatever"}),
        ("GET", "/auth/invitations", None),
        ("POST", "/api-keys", {"name": "child", "role": "READ_ONLY"}),
    ],
)
def test_routes_for_people_refuse_a_key(api: Api, tenant: Tenant, method: str, path: str, body: Any) -> None:
    key = api.api_key(tenant.admin, "ORG_ADMIN")
    result = api.call(method, path, as_=key, json=body)
    assert result.status_code == 403, result.json
    assert result.headers["content-type"] == "application/problem+json"
    assert len(api.get("/api-keys", as_=tenant.admin).json["items"]) == 1


def test_revocation_expiry_and_role_changes_apply_on_the_next_request(api: Api, tenant: Tenant, owner: Sql) -> None:
    key = api.api_key(tenant.admin, "ORG_USER")
    assert api.post("/projects", {"name": "Before"}, as_=key).status_code == 201
    changed = api.patch(f"/api-keys/{key.session_id}", {"role": "READ_ONLY"}, as_=tenant.admin)
    assert changed.status_code == 200
    assert changed.json["role"] == "READ_ONLY"
    assert api.post("/projects", {"name": "After"}, as_=key).status_code == 403
    assert api.get("/projects", as_=key).status_code == 200

    assert api.delete(f"/api-keys/{key.session_id}", as_=tenant.admin).status_code == 204
    refused = api.get("/projects", as_=key)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert api.delete(f"/api-keys/{key.session_id}", as_=tenant.admin).status_code == 404
    assert api.get("/api-keys", as_=tenant.admin).json["items"] == []

    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    expiring = api.api_key(tenant.admin, "READ_ONLY", expires_at=soon.isoformat())
    assert api.get("/projects", as_=expiring).status_code == 200
    owner.execute(
        "UPDATE iam.api_keys SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second' "
        "WHERE id = %s",
        (expiring.session_id,),
    )
    assert api.get("/projects", as_=expiring).status_code == 401


def test_bad_expiry_and_unknown_fields_are_refused(api: Api, tenant: Tenant) -> None:
    past = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)).isoformat()
    for body in (
        {"name": "k", "role": "READ_ONLY", "expires_at": past},
        {"name": "k", "role": "READ_ONLY", "expires_at": "2030-01-01T00:00:00"},  # no time zone
        {"name": "k", "role": "OWNER"},
        {"name": " ", "role": "READ_ONLY"},
        {"name": "k", "role": "READ_ONLY", "organization_id": tenant.admin.organization_id},
    ):
        result = api.post("/api-keys", body, as_=tenant.admin)
        assert result.status_code in (400, 422), (body, result.json)
    assert api.get("/api-keys", as_=tenant.admin).json["items"] == []


def test_a_key_outlives_its_creator_leaving(api: Api, tenant: Tenant) -> None:
    second_admin = api.add_member(tenant.admin, "ORG_ADMIN")
    key = api.api_key(second_admin, "ORG_USER")
    assert api.delete(f"/members/{second_admin.user_id}", as_=tenant.admin).status_code == 204
    assert api.get("/auth/me", as_=second_admin).status_code == 401
    assert api.post("/projects", {"name": "Still running"}, as_=key).status_code == 201
    listed = api.get("/api-keys", as_=tenant.admin).json["items"]
    assert listed[0]["created_by_user_id"] == second_admin.user_id


def test_a_key_is_never_given_more_than_its_creator_holds(api: Api, tenant: Tenant, owner: Sql) -> None:
    # Only ORG_ADMIN manages keys by default, and it holds every permission: let ORG_USER
    # manage keys to see the database refuse it an ORG_ADMIN key.
    owner.execute("INSERT INTO iam.role_permissions (role_key, permission_key) VALUES ('ORG_USER', 'api_keys:manage')")
    refused = api.post("/api-keys", {"name": "escalation", "role": "ORG_ADMIN"}, as_=tenant.user)
    assert refused.status_code == 403, refused.json
    made = api.post("/api-keys", {"name": "same role", "role": "ORG_USER"}, as_=tenant.user)
    assert made.status_code == 201
    promoted = api.patch(f"/api-keys/{made.json['id']}", {"role": "ORG_ADMIN"}, as_=tenant.user)
    assert promoted.status_code == 403
    assert api.get(f"/api-keys/{made.json['id']}", as_=tenant.admin).json["role"] == "ORG_USER"


def test_wrong_keys_get_the_token_answer_and_count_against_the_address(make_api: Any, tenant: Tenant) -> None:
    api: Api = make_api(LOGIN_MAX_FAILURES_PER_IP="5")
    key = api.api_key(tenant.admin, "READ_ONLY")
    assert api.get("/projects", as_=key).status_code == 200
    wrong = Session(rename(key.token), "", tenant.admin.organization_id, "", "", "")
    malformed = Session(key.token[:-1] + "?", "", tenant.admin.organization_id, "", "", "")
    assert api.get("/projects", as_=malformed).status_code == 401
    answers = [api.get("/projects", as_=wrong) for _ in range(6)]
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[0].json["detail"] == api.get("/projects", as_=malformed).json["detail"]
    # A refused key's request id is the server's own, never the client's.
    traced = api.get("/projects", as_=malformed, headers={"X-Request-ID": "chosen-by-client"})
    assert traced.headers["x-request-id"] != "chosen-by-client"
    assert int(answers[-1].headers["retry-after"]) > 0
    # Past the limit, no key is checked from this address, the right one included: guessing
    # is over for the window. Another address is not affected.
    assert api.get("/projects", as_=key).status_code == 429
    elsewhere = api.get("/projects", as_=key, remote_addr="203.0.113.9")
    assert elsewhere.status_code == 200


def test_last_used_at_is_kept_to_the_minute_without_a_write_per_request(api: Api, tenant: Tenant, owner: Sql) -> None:
    key = api.api_key(tenant.admin, "READ_ONLY")
    api.get("/projects", as_=key)
    first = api.get(f"/api-keys/{key.session_id}", as_=tenant.admin).json["last_used_at"]
    assert first is not None
    for _ in range(3):
        api.get("/projects", as_=key)
    assert api.get(f"/api-keys/{key.session_id}", as_=tenant.admin).json["last_used_at"] == first
    owner.execute(
        "UPDATE iam.api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = %s", (key.session_id,)
    )
    api.get("/projects", as_=key)
    assert api.get(f"/api-keys/{key.session_id}", as_=tenant.admin).json["last_used_at"] > first


def test_the_audit_trail_names_the_key(api: Api, tenant: Tenant) -> None:
    key = api.api_key(tenant.admin, "ORG_USER")
    project = api.post("/projects", {"name": "By a key"}, as_=key, headers={"X-Request-ID": "job-42"}).json
    assert api.delete(f"/api-keys/{key.session_id}", as_=tenant.admin).status_code == 204
    events = {e["action"]: e for e in api.get("/audit-events", as_=tenant.admin).json["items"]}
    created = events["api_key.created"]
    assert created["actor_user_id"] == tenant.admin.user_id
    assert created["resource_id"] == key.session_id
    assert "key_hash" not in created["new_values"]
    assert events["api_key.revoked"]["actor_user_id"] == tenant.admin.user_id
    by_key = events["project.created"]
    assert by_key["resource_id"] == project["id"]
    assert by_key["actor_user_id"] is None
    assert by_key["anonymous"] is False
    assert by_key["actor_api_key_id"] == key.session_id
    assert by_key["actor_api_key_created_by_user_id"] == tenant.admin.user_id
    assert by_key["request_id"] == "job-42"


def test_the_hash_is_unreadable_to_the_api_role(api: Api, database: SqlDatabase, tenant: Tenant) -> None:
    api.api_key(tenant.admin, "READ_ONLY")
    transaction = begin_as(database, tenant.admin, read_only=True)
    try:
        assert transaction.connection.execute("SELECT count(*) AS n FROM iam.api_keys").fetchone() is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            transaction.connection.execute("SELECT key_hash FROM iam.api_keys")
    finally:
        transaction.end(commit=False)


def test_a_forged_key_context_gets_no_permission(api: Api, database: SqlDatabase, tenant: Tenant) -> None:
    """SQL smuggled into an API transaction can set app.* itself, and a key's id is no secret;
    without the key's hash, which nobody can read, no policy grants it anything."""
    key = api.api_key(tenant.admin, "ORG_ADMIN")
    api.create_project(tenant.admin, "Secret")
    transaction = begin_as(database, None, read_only=False)
    try:
        connection = transaction.connection
        connection.execute(
            "SELECT set_config('app.org_id', %s, true), set_config('app.api_key_id', %s, true)",
            [tenant.admin.organization_id, key.session_id],
        )
        assert connection.execute("SELECT count(*) AS n FROM iam.projects").fetchone() == {"n": 0}
        assert connection.execute("SELECT count(*) AS n FROM iam.api_keys").fetchone() == {"n": 0}
        connection.execute("SELECT set_config('app.api_key_hash', repeat('00', 32), true)")
        assert connection.execute("SELECT count(*) AS n FROM iam.projects").fetchone() == {"n": 0}
    finally:
        transaction.end(commit=False)


def test_parallel_guesses_stop_at_the_limit(make_api: Any, tenant: Tenant) -> None:
    """Guesses sent at once are counted one by one (the counter row is locked): no more than
    the limit of them are checked, the rest are refused with 429."""
    api: Api = make_api(LOGIN_MAX_FAILURES_PER_IP="4")
    key = api.api_key(tenant.admin, "READ_ONLY")
    guess = Session(rename(key.token), "", "", "", "", "")
    answers = api.parallel([("GET", "/projects", {"as_": guess}) for _ in range(10)])
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(401) <= 4, statuses
    assert set(statuses) <= {401, 429}
    assert api.get("/projects", as_=key).status_code == 429
