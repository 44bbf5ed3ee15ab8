"""Tenant isolation: another tenant's ids answer 404 and change nothing, lists never show
another tenant's rows, and the database refuses even when the Python forgets a filter."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.integration.conftest import Api, SqlDatabase, Tenant, begin_as


def test_another_tenants_project_is_404_for_every_method_and_unchanged(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = api.create_project(other_tenant.admin, "Secret")
    path = f"/projects/{theirs['id']}"
    assert api.get(path, as_=tenant.admin).status_code == 404
    assert api.patch(path, {"name": "Hijacked"}, as_=tenant.admin).status_code == 404
    assert api.delete(path, as_=tenant.admin).status_code == 404
    assert api.get(path, as_=other_tenant.admin).json == theirs


def test_deleted_and_malformed_project_ids_are_404(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    assert api.delete(f"/projects/{project['id']}", as_=tenant.admin).status_code == 204
    assert api.get(f"/projects/{project['id']}", as_=tenant.admin).status_code == 404
    assert api.get("/projects/not-a-uuid", as_=tenant.admin).status_code == 404
    assert api.get(f"/projects/{uuid.uuid4()}", as_=tenant.admin).status_code == 404


def test_another_tenants_member_is_404_and_unchanged(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    path = f"/members/{other_tenant.user.user_id}"
    assert api.patch(path, {"role": "READ_ONLY"}, as_=tenant.admin).status_code == 404
    assert api.delete(path, as_=tenant.admin).status_code == 404
    assert api.get("/auth/me", as_=other_tenant.user).json["role"] == "ORG_USER"


def test_another_tenants_invitation_cannot_be_revoked(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    invitation = api.post("/invitations", {"email": "x@example.com", "role": "ORG_USER"}, as_=other_tenant.admin)
    assert api.delete(f"/invitations/{invitation.json['id']}", as_=tenant.admin).status_code == 404
    pending = api.get("/invitations", as_=other_tenant.admin).json["items"]
    assert [item["id"] for item in pending] == [invitation.json["id"]]


def test_lists_show_only_the_callers_tenant(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    api.create_project(tenant.admin, "Ours")
    api.create_project(other_tenant.admin, "Theirs")
    api.post("/invitations", {"email": "ours@example.com", "role": "ORG_USER"}, as_=tenant.admin)
    api.post("/invitations", {"email": "theirs@example.com", "role": "ORG_USER"}, as_=other_tenant.admin)

    projects = api.get("/projects", as_=tenant.user).json["items"]
    assert [p["name"] for p in projects] == ["Ours"]
    members = api.get("/members", as_=tenant.admin).json["items"]
    assert {m["user_id"] for m in members} == {tenant.admin.user_id, tenant.user.user_id, tenant.reader.user_id}
    invitations = api.get("/invitations", as_=tenant.admin).json["items"]
    assert [i["email"] for i in invitations] == ["ours@example.com"]
    organizations = api.get("/organizations", as_=tenant.admin).json["items"]
    assert [o["id"] for o in organizations] == [tenant.admin.organization_id]


def test_project_names_are_unique_per_organization_only(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    api.create_project(tenant.admin, "Shared Name")
    api.create_project(other_tenant.admin, "Shared Name")
    duplicate = api.post("/projects", {"name": "shared name"}, as_=tenant.user)
    assert duplicate.status_code == 409


def test_a_token_for_one_tenant_cannot_reach_another(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    # The admin of A also becomes a member of B (once their address is proved); a token for
    # A still only sees A.
    api.verify_email(tenant.admin)
    token = api.invite(other_tenant.admin, tenant.admin.email, "ORG_USER")
    assert api.post("/invitations/accept", {"token": token}, as_=tenant.admin).status_code == 200
    api.create_project(other_tenant.admin, "B only")
    assert api.get("/projects", as_=tenant.admin).json["items"] == []
    in_b = api.login(tenant.admin.email, organization_id=other_tenant.admin.organization_id)
    assert [p["name"] for p in api.get("/projects", as_=in_b).json["items"]] == ["B only"]


# Organizations are not on the list: the API reads none directly (enter_context and
# list_my_organizations answer for it), so iam_api holds no privilege on them at all.
TENANT_TABLES = ["projects", "organization_memberships", "invitations", "users"]


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_a_query_without_where_clause_sees_only_the_context_tenant(
    api: Api, database: SqlDatabase, tenant: Tenant, other_tenant: Tenant, table: str
) -> None:
    """What if a Python query forgot its filter? Policies still return only tenant A's rows."""
    api.create_project(tenant.admin, "A")
    api.create_project(other_tenant.admin, "B")
    api.post("/invitations", {"email": "a@example.com", "role": "ORG_USER"}, as_=tenant.admin)
    api.post("/invitations", {"email": "b@example.com", "role": "ORG_USER"}, as_=other_tenant.admin)

    org_column = "id" if table == "users" else "organization_id"
    transaction = begin_as(database, tenant.admin, read_only=True)
    try:
        rows = transaction.connection.execute(f"SELECT {org_column} AS key FROM iam.{table}").fetchall()  # noqa: S608
    finally:
        transaction.end(commit=False)
    assert rows, "the context tenant's own rows are visible"
    keys = {str(row["key"]) for row in rows}
    if table == "users":
        assert keys == {tenant.admin.user_id, tenant.user.user_id, tenant.reader.user_id}
    else:
        assert keys == {tenant.admin.organization_id}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_no_context_means_no_rows(api: Api, database: SqlDatabase, tenant: Tenant, table: str) -> None:
    api.create_project(tenant.admin, "A")
    transaction = begin_as(database, None, read_only=True)
    try:
        count = transaction.connection.execute(f"SELECT count(*) AS n FROM iam.{table}").fetchone()  # noqa: S608
    finally:
        transaction.end(commit=False)
    assert count == {"n": 0}


def test_writes_into_another_tenant_are_refused_by_the_database(
    database: SqlDatabase, tenant: Tenant, other_tenant: Tenant
) -> None:
    transaction = begin_as(database, tenant.admin, read_only=False)
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            transaction.connection.execute(
                "INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%s, 'Planted', %s)",
                [other_tenant.admin.organization_id, tenant.admin.user_id],
            )
    finally:
        transaction.end(commit=False)


def test_a_read_only_request_transaction_refuses_writes(database: SqlDatabase, tenant: Tenant) -> None:
    transaction = begin_as(database, tenant.admin, read_only=True)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            transaction.one("create_project", {"name": "x", "description": None})
    finally:
        transaction.end(commit=False)
