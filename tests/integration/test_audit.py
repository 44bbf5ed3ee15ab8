"""The audit trail: written by database triggers for API traffic and psql alike, append-only,
and readable per tenant by ORG_ADMINs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.integration.conftest import PASSWORD, Api, Session, Sql, Tenant


def events(api: Api, admin: Session, query: str = "") -> list[dict[str, Any]]:
    result = api.get("/audit-events", as_=admin, query_string=query)
    assert result.status_code == 200, result.json
    items: list[dict[str, Any]] = result.json["items"]
    return items


def login_role_of(owner: Sql) -> str:
    row = owner.execute("SELECT session_user").fetchone()
    assert row is not None
    return str(row[0])


def test_project_changes_are_recorded_with_actor_request_and_values(api: Api, tenant: Tenant, owner: Sql) -> None:
    created = api.post("/projects", {"name": "Audited"}, as_=tenant.user, headers={"X-Request-ID": "req-create"})
    project_id = created.json["id"]
    api.patch(f"/projects/{project_id}", {"name": "Renamed"}, as_=tenant.user, headers={"X-Request-ID": "req-rename"})
    api.delete(f"/projects/{project_id}", as_=tenant.admin, headers={"X-Request-ID": "req-delete"})

    trail = events(api, tenant.admin, f"resource_id={project_id}")
    assert [e["action"] for e in trail] == ["project.deleted", "project.updated", "project.created"]
    deleted, updated, created_event = trail
    assert created_event["actor_user_id"] == tenant.user.user_id
    assert created_event["actor_db_role"] == login_role_of(owner)
    assert created_event["request_id"] == "req-create"
    assert created_event["anonymous"] is False
    assert created_event["resource_type"] == "project"
    assert created_event["old_values"] is None
    assert created_event["new_values"]["name"] == "Audited"
    assert (updated["old_values"]["name"], updated["new_values"]["name"]) == ("Audited", "Renamed")
    assert updated["request_id"] == "req-rename"
    assert deleted["actor_user_id"] == tenant.admin.user_id
    assert deleted["new_values"] is None
    assert set(created_event) == {
        "id",
        "organization_id",
        "occurred_at",
        "actor_user_id",
        "actor_api_key_id",
        "actor_api_key_created_by_user_id",
        "actor_db_role",
        "action",
        "resource_type",
        "resource_id",
        "old_values",
        "new_values",
        "request_id",
        "anonymous",
    }
    assert created_event["actor_api_key_id"] is None


def test_membership_invitation_and_organization_events(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    token = api.invite(tenant.admin, other_tenant.user.email, "READ_ONLY")
    api.post("/invitations/accept", {"token": token}, as_=other_tenant.user)
    api.patch(f"/members/{other_tenant.user.user_id}", {"role": "ORG_USER"}, as_=tenant.admin)
    api.delete(f"/members/{other_tenant.user.user_id}", as_=tenant.admin)
    revoked = api.post("/invitations", {"email": "later@example.com", "role": "ORG_USER"}, as_=tenant.admin).json
    api.delete(f"/invitations/{revoked['id']}", as_=tenant.admin)

    actions = [e["action"] for e in events(api, tenant.admin)]
    for action in [
        "invitation.created",
        "invitation.accepted",
        "membership.created",
        "membership.updated",
        "membership.deleted",
        "invitation.revoked",
    ]:
        assert action in actions
    # The setup's registrations and invitations are there too, oldest last.
    assert actions[-1] == "organization.created"
    for event in events(api, tenant.admin, "action=invitation.created"):
        assert "token_hash" not in (event["new_values"] or {})
        assert "token" not in (event["new_values"] or {})

    accepted = events(api, tenant.admin, "action=invitation.accepted")[0]
    assert accepted["actor_user_id"] == other_tenant.user.user_id
    new_org = api.post("/organizations", {"name": "Subsidiary"}, as_=tenant.admin).json
    in_new_org = api.login(tenant.admin.email, organization_id=new_org["id"])
    assert [e["action"] for e in events(api, in_new_org, "action=organization.created")] == ["organization.created"]


def test_login_outcomes_are_recorded_in_the_targeted_organization(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    api.login(tenant.user.email)
    failed = api.post("/auth/login", {"email": tenant.user.email, "password": "wrong password!"})
    assert failed.status_code == 401
    # Targeting an organization the user is not a member of leaves that tenant no trace.
    stranger = api.post(
        "/auth/login",
        {
            "email": tenant.user.email,
            "password": "wrong password!",
            "organization_id": other_tenant.admin.organization_id,
        },
    )
    assert stranger.status_code == 401
    api.post("/auth/login", {"email": "nobody@example.com", "password": PASSWORD})

    logins = events(api, tenant.admin, f"resource_id={tenant.user.user_id}")
    login_events = [e for e in logins if e["action"].startswith("login.")]
    assert [e["action"] for e in login_events] == ["login.failed", "login.succeeded"]
    assert login_events[0]["actor_user_id"] is None
    assert login_events[1]["actor_user_id"] == tenant.user.user_id
    assert login_events[0]["request_id"] == failed.headers["x-request-id"]
    assert not [e for e in events(api, other_tenant.admin) if e["action"].startswith("login.failed")]


def test_only_admins_read_the_trail_and_only_their_own(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    api.create_project(other_tenant.admin, "Theirs")
    assert api.get("/audit-events", as_=tenant.user).status_code == 403
    assert api.get("/audit-events", as_=tenant.reader).status_code == 403
    mine = events(api, tenant.admin)
    assert mine
    assert {e["organization_id"] for e in mine} == {tenant.admin.organization_id}


def test_trail_pagination_and_filters(api: Api, tenant: Tenant) -> None:
    for i in range(5):
        api.create_project(tenant.admin, f"page{i}")
    everything = events(api, tenant.admin, "limit=200")
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/audit-events", as_=tenant.admin, query_string=query).json
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in everything]
    assert len(events(api, tenant.admin, "action=project.created")) == 5
    assert events(api, tenant.admin, "action=no.such.action") == []
    bad = api.get("/audit-events", as_=tenant.admin, query_string="resource_id=nope")
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "resource_id"
    project_cursor = api.get("/projects", as_=tenant.admin, query_string="limit=1").json["next_cursor"]
    assert api.get("/audit-events", as_=tenant.admin, query_string=f"cursor={project_cursor}").status_code == 422


@pytest.fixture
def dba(granted_dba: Callable[[str], tuple[str, Sql]]) -> Callable[[str], Sql]:
    """A connected DBA login granted the given organization, with it selected."""

    def connect(organization_id: str) -> Sql:
        _, connection = granted_dba(organization_id)
        connection.execute("SELECT set_config('app.org_id', %s, false)", [organization_id])
        return connection

    return connect


def test_a_dba_change_in_psql_is_recorded_like_api_traffic(api: Api, tenant: Tenant, dba: Callable[[str], Sql]) -> None:
    project = api.create_project(tenant.admin, "Fix me")
    connection = dba(tenant.admin.organization_id)
    role = str((connection.execute("SELECT session_user").fetchone() or [""])[0])
    # Claiming to be an API user does not change who the trail says acted.
    connection.execute("SELECT set_config('app.user_id', %s, false)", [tenant.admin.user_id])
    connection.execute("UPDATE iam.projects SET description = 'fixed by hand' WHERE id = %s", [project["id"]])
    event = events(api, tenant.admin, f"resource_id={project['id']}")[0]
    assert event["action"] == "project.updated"
    assert event["actor_db_role"] == role
    assert event["actor_user_id"] is None
    assert event["new_values"]["description"] == "fixed by hand"
    # The DBA reads the trail of the granted organization too.
    row = connection.execute("SELECT count(*) FROM iam.audit_events WHERE action = 'project.updated'").fetchone()
    assert row == (1,)


def test_the_trail_is_append_only_for_the_api_and_dbas(
    api: Api, tenant: Tenant, dba: Callable[[str], Sql], database_url: str
) -> None:
    api.create_project(tenant.admin, "Evidence")
    before = events(api, tenant.admin)
    connection = dba(tenant.admin.organization_id)
    attempts = [
        "UPDATE iam.audit_events SET action = 'nothing.happened'",
        "DELETE FROM iam.audit_events",
        "INSERT INTO iam.audit_events (organization_id, action, resource_type) "
        "SELECT organization_id, 'forged', 'x' FROM iam.audit_events LIMIT 1",
        "TRUNCATE iam.audit_events",
    ]
    for statement in attempts:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(statement)
    with psycopg.connect(database_url, autocommit=True) as as_api:
        as_api.execute("BEGIN")
        as_api.execute("SET LOCAL ROLE iam_api")
        as_api.execute("SELECT set_config('app.org_id', %s, true)", [tenant.admin.organization_id])
        as_api.execute("SELECT set_config('app.user_id', %s, true)", [tenant.admin.user_id])
        for statement in attempts:
            as_api.execute("SAVEPOINT attempt")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                as_api.execute(statement)
            as_api.execute("ROLLBACK TO SAVEPOINT attempt")
        as_api.execute("ROLLBACK")
    assert events(api, tenant.admin) == before


def test_outsiders_cannot_choose_what_the_trail_records(api: Api, tenant: Tenant) -> None:
    failed = api.post(
        "/auth/login",
        {"email": tenant.user.email, "password": "wrong password!", "organization_id": tenant.admin.organization_id},
        headers={"X-Request-ID": "attacker-chosen"},
    )
    assert failed.status_code == 401
    server_made = failed.headers["x-request-id"]
    assert server_made != "attacker-chosen"

    (event,) = events(api, tenant.admin, "action=login.failed")
    assert event["request_id"] == server_made
    assert event["anonymous"] is True
    assert event["actor_user_id"] is None

    # A password that proves who logs in, or a valid token, makes events attributable.
    api.post("/auth/login", {"email": tenant.user.email, "password": PASSWORD}, headers={"X-Request-ID": "mine"})
    (succeeded,) = events(api, tenant.admin, "action=login.succeeded")[:1]
    assert (succeeded["anonymous"], succeeded["actor_user_id"]) == (False, tenant.user.user_id)
    api.post("/projects", {"name": "Traced"}, as_=tenant.user, headers={"X-Request-ID": "client-trace-1"})
    (created,) = events(api, tenant.admin, "action=project.created")
    assert (created["anonymous"], created["request_id"]) == (False, "client-trace-1")
    # Registration happens before anyone is known: its events are anonymous.
    registered = [e for e in events(api, tenant.admin) if e["action"] == "organization.created"]
    assert [e["anonymous"] for e in registered] == [True]
