"""Registration, login and /auth/me."""

from __future__ import annotations

import uuid

import falcon.testing
import psycopg
from argon2 import PasswordHasher

from tests.integration.conftest import PASSWORD, Api, AppFactory, Sql, Tenant


def test_register_creates_user_organization_and_admin_membership(api: Api) -> None:
    result = api.post(
        "/auth/register", {"email": "  Ada@Example.COM ", "password": PASSWORD, "organization_name": "  Analytical  "}
    )
    assert result.status_code == 201
    body = result.json
    assert body["user"]["email"] == "ada@example.com"
    assert body["organization"]["name"] == "Analytical"
    assert body["role"] == "ORG_ADMIN"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    me = api.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json
    assert me["user"] == body["user"]
    assert me["organization"] == body["organization"]
    assert me["role"] == "ORG_ADMIN"
    assert "users:manage" in me["permissions"]


def test_register_twice_with_any_letter_case_is_409_and_changes_nothing(
    api: Api, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    api.register("grace@example.com")
    result = api.post(
        "/auth/register", {"email": "GRACE@example.com", "password": PASSWORD, "organization_name": "Second"}
    )
    assert result.status_code == 409
    assert result.headers["content-type"] == "application/problem+json"
    assert owner.execute("SELECT count(*) FROM iam.organizations").fetchone() == (1,)


def test_organization_names_are_not_globally_unique(api: Api) -> None:
    first = api.register(organization="Same Name")
    second = api.register(organization="Same Name")
    assert first.organization_id != second.organization_id


def test_password_is_stored_as_argon2id_hash(api: Api, owner: psycopg.Connection[tuple[object, ...]]) -> None:
    session = api.register()
    row = owner.execute("SELECT password_hash FROM iam.users WHERE id = %s", [session.user_id]).fetchone()
    assert row is not None
    stored = str(row[0])
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in stored


def test_login_defaults_to_the_earliest_membership(api: Api, tenant: Tenant) -> None:
    # The user joined Tenant A first, then created another organization... as an admin only
    # can; so make the admin create one and check login still lands in the first.
    created = api.post("/organizations", {"name": "Later"}, as_=tenant.admin)
    assert created.status_code == 201
    session = api.login(tenant.admin.email)
    assert session.organization_id == tenant.admin.organization_id
    chosen = api.login(tenant.admin.email, organization_id=created.json["id"])
    assert chosen.organization_id == created.json["id"]
    assert api.get("/auth/me", as_=chosen).json["role"] == "ORG_ADMIN"


def test_login_into_an_organization_without_membership_is_403(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    result = api.post(
        "/auth/login",
        {"email": tenant.user.email, "password": PASSWORD, "organization_id": other_tenant.admin.organization_id},
    )
    assert result.status_code == 403


def test_unknown_email_wrong_password_and_inactive_user_get_the_same_401(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    owner.execute("UPDATE iam.users SET is_active = false WHERE id = %s", [tenant.reader.user_id])
    attempts = [
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": tenant.user.email, "password": PASSWORD + "!"},
        {"email": tenant.reader.email, "password": PASSWORD},
    ]
    bodies = []
    for attempt in attempts:
        result = api.post("/auth/login", attempt)
        assert result.status_code == 401
        assert result.headers["www-authenticate"] == "Bearer"
        body = dict(result.json)
        body.pop("request_id")
        bodies.append(body)
    assert bodies[0] == bodies[1] == bodies[2]


def test_login_rehashes_a_password_hashed_with_old_parameters(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    owner.execute("UPDATE iam.users SET password_hash = %s WHERE id = %s", [weak, tenant.user.user_id])
    api.login(tenant.user.email)
    row = owner.execute("SELECT password_hash FROM iam.users WHERE id = %s", [tenant.user.user_id]).fetchone()
    assert row is not None
    assert str(row[0]).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    api.login(tenant.user.email)  # and the new hash verifies


def test_me_reports_role_and_permissions_per_role(api: Api, tenant: Tenant) -> None:
    reader = api.get("/auth/me", as_=tenant.reader).json
    assert reader["role"] == "READ_ONLY"
    assert reader["permissions"] == ["permissions:read", "projects:read", "roles:read", "tenant:read"]
    user = api.get("/auth/me", as_=tenant.user).json
    assert user["permissions"] == [
        "permissions:read",
        "projects:read",
        "projects:write",
        "roles:read",
        "tenant:read",
        "users:read",
    ]


def test_register_rejects_both_or_neither_of_organization_and_invitation(api: Api) -> None:
    neither = api.post("/auth/register", {"email": "a@example.com", "password": PASSWORD})
    both = api.post(
        "/auth/register",
        {"email": "a@example.com", "password": PASSWORD, "organization_name": "X", "invitation_token": "t"},
    )
    empty_name = api.post("/auth/register", {"email": "a@example.com", "password": PASSWORD, "organization_name": ""})
    assert neither.status_code == both.status_code == empty_name.status_code == 422
    assert neither.json["errors"][0]["field"] == "organization_name"
    assert empty_name.json["errors"][0]["field"] == "organization_name"


def test_register_reports_every_bad_field(api: Api) -> None:
    result = api.post("/auth/register", {"email": "not-an-email", "password": "short", "organization_name": "   "})
    assert result.status_code == 422
    fields = {error["field"] for error in result.json["errors"]}
    assert fields == {"email", "password", "organization_name"}


def test_password_and_email_limits(api: Api) -> None:
    def register(email: str, password: str) -> int:
        return api.post(
            "/auth/register", {"email": email, "password": password, "organization_name": "Org"}
        ).status_code

    assert register("a@example.com", "x" * 11) == 422
    assert register("b@example.com", "x" * 12) == 201
    assert register("c@example.com", "x" * 256) == 201
    assert register("d@example.com", "x" * 257) == 422
    local = "a" * 64
    long_email = f"{local}@{'b' * 180}.example.com"
    assert len(long_email) > 254
    assert register(long_email, PASSWORD) == 422


def test_login_with_a_malformed_organization_id_is_422(api: Api, tenant: Tenant) -> None:
    result = api.post("/auth/login", {"email": tenant.user.email, "password": PASSWORD, "organization_id": "nope"})
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "organization_id"


def test_login_into_an_unknown_organization_is_403(api: Api, tenant: Tenant) -> None:
    body = {"email": tenant.user.email, "password": PASSWORD, "organization_id": str(uuid.uuid4())}
    assert api.post("/auth/login", body).status_code == 403


def test_registrations_from_one_address_are_limited(make_api: AppFactory, owner: Sql) -> None:
    """Anonymous registration ran at 9 accounts and organizations a second from one address."""
    api = make_api(REGISTRATIONS_PER_ADDRESS="3")

    def register(email: str, address: str, **fields: str) -> falcon.testing.Result:
        body = {"email": email, "password": PASSWORD, **(fields or {"organization_name": "Mass"})}
        return api.post("/auth/register", body, remote_addr=address)

    assert [register(f"mass-{n}@example.com", "203.0.113.40").status_code for n in range(3)] == [201] * 3
    refused = register("mass-3@example.com", "203.0.113.40")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert owner.execute("SELECT count(*) FROM iam.users WHERE email = 'mass-3@example.com'").fetchone() == (0,)
    # Another address is not limited with it; nor is joining with an invitation, which an
    # admin granted.
    assert register("mass-3@example.com", "203.0.113.41").status_code == 201
    admin = api.login("mass-0@example.com")
    token = api.invite(admin, "invited@example.com", "ORG_USER")
    assert register("invited@example.com", "203.0.113.40", invitation_token=token).status_code == 201
