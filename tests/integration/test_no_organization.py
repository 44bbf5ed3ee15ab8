"""Users who belong to no organization: a user removed from their only organization could
never get back in (login said 401 "Invalid email or password", registering said "log in and
accept", accepting needed a session). They now sign in to a session with no organization,
which may read /auth/me, list and accept their invitations, create an organization, switch
into one, and log out, and sees no tenant's rows."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import PASSWORD, Api, Session, SqlDatabase, Tenant, begin_as, sign
from tests.integration.test_tokens import claims_for

TENANT_ROUTES = ("/projects", "/members", "/invitations", "/audit-events", "/roles")


def removed(api: Api, tenant: Tenant) -> Session:
    """tenant.user, removed from their only organization, signed in again."""
    assert api.delete(f"/members/{tenant.user.user_id}", as_=tenant.admin).status_code == 204
    result = api.post("/auth/login", {"email": tenant.user.email, "password": PASSWORD})
    assert result.status_code == 200, result.json
    assert result.json["organization"] is None
    assert result.json["role"] is None
    return api.session_of(result)


def test_a_removed_user_signs_in_and_gets_back_in_through_a_new_invitation(api: Api, tenant: Tenant) -> None:
    alone = removed(api, tenant)
    me = api.get("/auth/me", as_=alone)
    assert me.status_code == 200
    assert me.json["organization"] is None
    assert me.json["role"] is None
    assert me.json["permissions"] == []
    # The old session ended with the removal; the new one has no organization.
    assert api.get("/auth/me", as_=tenant.user).status_code == 401
    for path in TENANT_ROUTES:
        refused = api.get(path, as_=alone)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json["title"] == "No organization"
    assert api.get("/auth/invitations", as_=alone).json["items"] == []
    assert api.get("/organizations", as_=alone).json["items"] == []
    assert [s["id"] for s in api.get("/auth/sessions", as_=alone).json["items"]] == [alone.session_id]

    token = api.invite(tenant.admin, tenant.user.email, "READ_ONLY")
    mine = api.get("/auth/invitations", as_=alone).json["items"]
    assert len(mine) == 1
    assert mine[0]["organization"]["name"] == "Tenant A"
    assert mine[0]["role"] == "READ_ONLY"
    assert "token" not in mine[0]
    assert api.post("/invitations/accept", {"token": token}, as_=alone).status_code == 200
    assert api.get("/auth/invitations", as_=alone).json["items"] == []
    organization_id = api.get("/organizations", as_=alone).json["items"][0]["id"]
    switched = api.post("/auth/switch-organization", {"organization_id": organization_id}, as_=alone)
    assert switched.status_code == 200, switched.json
    assert switched.json["role"] == "READ_ONLY"
    back = api.session_of(switched)
    assert api.get("/projects", as_=back).status_code == 200
    # Logging in again lands in the organization.
    assert api.login(tenant.user.email).organization_id == organization_id


def test_a_user_with_no_organization_creates_one(api: Api, tenant: Tenant) -> None:
    alone = removed(api, tenant)
    created = api.post("/organizations", {"name": "Fresh start"}, as_=alone)
    assert created.status_code == 201, created.json
    switched = api.post("/auth/switch-organization", {"organization_id": created.json["id"]}, as_=alone)
    assert switched.json["role"] == "ORG_ADMIN"


def test_a_session_with_no_organization_refreshes_and_logs_out(api: Api, tenant: Tenant) -> None:
    alone = removed(api, tenant)
    refreshed = api.post("/auth/refresh", {"refresh_token": alone.refresh_token})
    assert refreshed.status_code == 200, refreshed.json
    assert refreshed.json["organization"] is None
    renewed = api.session_of(refreshed)
    assert api.get("/auth/me", as_=renewed).status_code == 200
    assert api.post("/auth/logout", as_=renewed).status_code == 204
    assert api.get("/auth/me", as_=renewed).status_code == 401
    # A wrong password is still a failure.
    assert api.post("/auth/login", {"email": tenant.user.email, "password": "not the password"}).status_code == 401


def test_tokens_cannot_cross_between_sessions_with_and_without_an_organization(api: Api, tenant: Tenant) -> None:
    alone = removed(api, tenant)
    # A session in an organization, presented without its organization: no such session.
    without = api.get("/auth/me", headers={"Authorization": f"Bearer {sign(claims_for(tenant.admin, org_id=None))}"})
    assert without.status_code == 401
    # A session with no organization, presented as one in an organization: none either.
    forged = sign(claims_for(alone, org_id=tenant.admin.organization_id))
    assert api.get("/projects", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_in_sql_a_session_with_no_organization_sees_and_writes_nothing(
    api: Api, database: SqlDatabase, tenant: Tenant
) -> None:
    """No Python check on this path: the statements go straight to PostgreSQL."""
    api.create_project(tenant.admin, "Theirs")
    alone = removed(api, tenant)
    transaction = begin_as(database, alone, read_only=False)
    try:
        connection = transaction.connection
        context = "SELECT current_setting('app.user_id') AS user_id, current_setting('app.org_id') AS org_id"
        assert connection.execute(context).fetchone() == {"user_id": alone.user_id, "org_id": ""}
        for table in ("projects", "organization_memberships", "invitations", "audit_events"):
            counted = sql.SQL("SELECT count(*) AS n FROM iam.{}").format(sql.Identifier(table))
            assert connection.execute(counted).fetchone() == {"n": 0}, table
        assert connection.execute("UPDATE iam.projects SET description = 'x'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%s, 'x', %s)",
                [tenant.admin.organization_id, alone.user_id],
            )
    finally:
        transaction.end(commit=False)
