"""Direct SQL by DBAs, as their own login roles, still under row-level security.

A DBA sees and changes tenant rows only in organizations granted to their login role with
iam.grant_tenant_access, and only in the one selected with SET app.org_id.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from tests.integration.conftest import Api, Sql, Tenant


@pytest.fixture
def populated(api: Api, tenant: Tenant, other_tenant: Tenant) -> tuple[Tenant, Tenant]:
    api.create_project(tenant.admin, "A1")
    api.create_project(other_tenant.admin, "B1")
    return tenant, other_tenant


def count(connection: Sql, table: str) -> int:
    row = connection.execute(sql.SQL("SELECT count(*) FROM iam.{}").format(sql.Identifier(table))).fetchone()
    assert row is not None
    return int(str(row[0]))


def select_org(connection: Sql, organization_id: str | None) -> None:
    connection.execute("SELECT set_config('app.org_id', %s, false)", [organization_id or ""])


TABLES = ["projects", "organization_memberships", "organizations", "users", "invitations"]


def test_granted_dba_sees_only_the_selected_granted_org(
    populated: tuple[Tenant, Tenant], granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, b = populated
    _, dba = granted_dba(a.admin.organization_id)

    # No organization selected: nothing at all.
    assert {table: count(dba, table) for table in TABLES} == dict.fromkeys(TABLES, 0)

    select_org(dba, a.admin.organization_id)
    assert [r[0] for r in dba.execute("SELECT name FROM iam.projects").fetchall()] == ["A1"]
    assert count(dba, "organization_memberships") == 3
    assert count(dba, "users") == 3
    assert count(dba, "organizations") == 1

    # Selecting an organization the role was not granted shows nothing, by the same rule.
    select_org(dba, b.admin.organization_id)
    assert {table: count(dba, table) for table in TABLES} == dict.fromkeys(TABLES, 0)


def test_dba_fixes_rows_in_the_granted_org_but_never_touches_another(
    populated: tuple[Tenant, Tenant], owner: Sql, granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, b = populated
    _, dba = granted_dba(a.admin.organization_id)
    select_org(dba, a.admin.organization_id)

    dba.execute(
        "INSERT INTO iam.projects (organization_id, name) VALUES (%s, 'Fixed by DBA')", [a.admin.organization_id]
    )
    assert dba.execute("UPDATE iam.projects SET description = 'checked'").rowcount == 2
    assert (
        dba.execute("UPDATE iam.organization_memberships SET role = 'ORG_USER' WHERE role = 'READ_ONLY'").rowcount == 1
    )
    assert dba.execute("DELETE FROM iam.projects WHERE name = 'A1'").rowcount == 1

    # Another tenant's rows: filtered from UPDATE/DELETE, refused on INSERT.
    assert (
        dba.execute("UPDATE iam.projects SET name = 'x' WHERE organization_id = %s", [b.admin.organization_id]).rowcount
        == 0
    )
    assert (
        dba.execute(
            "DELETE FROM iam.organization_memberships WHERE organization_id = %s", [b.admin.organization_id]
        ).rowcount
        == 0
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        dba.execute(
            "INSERT INTO iam.projects (organization_id, name) VALUES (%s, 'Planted')", [b.admin.organization_id]
        )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        dba.execute("UPDATE iam.projects SET organization_id = %s", [b.admin.organization_id])

    # Selecting B is no way around the grant.
    select_org(dba, b.admin.organization_id)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        dba.execute(
            "INSERT INTO iam.projects (organization_id, name) VALUES (%s, 'Planted')", [b.admin.organization_id]
        )
    assert dba.execute("DELETE FROM iam.projects").rowcount == 0

    b_projects = owner.execute(
        "SELECT name, description FROM iam.projects WHERE organization_id = %s", [b.admin.organization_id]
    ).fetchall()
    assert b_projects == [("B1", None)]


def test_transaction_local_selection_works_too(
    populated: tuple[Tenant, Tenant], granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, _ = populated
    _, dba = granted_dba(a.admin.organization_id)
    with dba.transaction():
        dba.execute(sql.SQL("SET LOCAL app.org_id = {}").format(sql.Literal(a.admin.organization_id)))
        assert count(dba, "projects") == 1
    assert count(dba, "projects") == 0


def test_revoked_access_shows_nothing(
    populated: tuple[Tenant, Tenant], owner: Sql, granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, _ = populated
    role, dba = granted_dba(a.admin.organization_id)
    select_org(dba, a.admin.organization_id)
    assert count(dba, "projects") == 1
    owner.execute("SELECT iam.revoke_tenant_access(%s, %s)", [role, a.admin.organization_id])
    assert count(dba, "projects") == 0


def test_dba_cannot_read_secrets_grant_itself_or_call_api_functions(
    populated: tuple[Tenant, Tenant], granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, _ = populated
    _, dba = granted_dba(a.admin.organization_id)
    select_org(dba, a.admin.organization_id)
    refused = [
        "SELECT password_hash FROM iam.users",
        "SELECT token_hash FROM iam.invitations",
        "INSERT INTO iam.dba_tenant_grants (organization_id, db_role) SELECT id, current_user FROM iam.organizations",
        "SELECT * FROM iam.find_login('x@example.com')",
        "SELECT iam.grant_tenant_access(current_user, gen_random_uuid())",
        "SET ROLE iam_api",
    ]
    for statement in refused:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dba.execute(statement)
    assert dba.execute("SELECT count(*) FROM iam.dba_tenant_grants").fetchone() == (1,)


def test_a_login_outside_iam_dba_gets_nothing(
    populated: tuple[Tenant, Tenant], owner: Sql, login_role: Callable[[bool], str], connect_as: Callable[[str], Sql]
) -> None:
    outsider = login_role(False)
    with pytest.raises(psycopg.errors.RaiseException, match="not a member of iam_dba"):
        owner.execute("SELECT iam.grant_tenant_access(%s, %s)", [outsider, populated[0].admin.organization_id])
    connection = connect_as(outsider)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute("SELECT count(*) FROM iam.projects")


def test_a_dba_cannot_probe_roles_in_organizations_they_were_not_granted(
    populated: tuple[Tenant, Tenant], granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, b = populated
    _, dba = granted_dba(a.admin.organization_id)
    for organization_id, user_id in [
        (b.admin.organization_id, b.admin.user_id),
        (a.admin.organization_id, a.admin.user_id),
    ]:
        select_org(dba, organization_id)
        dba.execute("SELECT set_config('app.user_id', %s, false)", [user_id])
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dba.execute("SELECT iam.caller_has_permission('users:manage')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            dba.execute("SELECT iam.current_user_id()")


def test_caller_has_permission_answers_only_for_the_apis_login(
    populated: tuple[Tenant, Tenant], owner: Sql, login_role: Callable[[bool], str], connect_as: Callable[[str], Sql]
) -> None:
    """Even a login that was handed EXECUTE by mistake learns nothing: the helper believes
    app.user_id only in the API's own sessions."""
    _, b = populated
    stranger = login_role(True)
    grant = sql.SQL("GRANT EXECUTE ON FUNCTION iam.caller_has_permission(text) TO {}")
    owner.execute(grant.format(sql.Identifier(stranger)))
    try:
        connection = connect_as(stranger)
        connection.execute(
            "SELECT set_config('app.user_id', %s, false), set_config('app.org_id', %s, false)",
            [b.admin.user_id, b.admin.organization_id],
        )
        assert connection.execute("SELECT iam.caller_has_permission('users:manage')").fetchone() == (False,)
    finally:
        revoke = sql.SQL("REVOKE EXECUTE ON FUNCTION iam.caller_has_permission(text) FROM {}")
        owner.execute(revoke.format(sql.Identifier(stranger)))
    # The API's own login, in the same context and with the user's live session, gets the true answer.
    owner.execute(
        "SELECT set_config('app.user_id', %s, false), set_config('app.org_id', %s, false),"
        " set_config('app.session_id', %s, false)",
        [b.admin.user_id, b.admin.organization_id, b.admin.session_id],
    )
    assert owner.execute("SELECT iam.caller_has_permission('users:manage')").fetchone() == (True,)


def test_a_dba_cannot_read_an_account_by_adding_it_to_a_granted_organization(
    populated: tuple[Tenant, Tenant], owner: Sql, granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    a, b = populated
    _, dba = granted_dba(a.admin.organization_id)
    select_org(dba, a.admin.organization_id)
    with dba.transaction(force_rollback=True), pytest.raises(psycopg.errors.InsufficientPrivilege):
        dba.execute(
            "INSERT INTO iam.organization_memberships (organization_id, user_id, role) VALUES (%s, %s, 'READ_ONLY')",
            [a.admin.organization_id, b.user.user_id],
        )
    assert dba.execute("SELECT email FROM iam.users WHERE id = %s", [b.user.user_id]).fetchall() == []
    # Nor can a project credited to that user confirm the account exists.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        dba.execute(
            "INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%s, 'probe', %s)",
            [a.admin.organization_id, b.user.user_id],
        )
    # What DBAs may still do to memberships: change roles and remove members.
    assert (
        dba.execute(
            "UPDATE iam.organization_memberships SET role = 'ORG_USER' WHERE user_id = %s", [a.reader.user_id]
        ).rowcount
        == 1
    )
    assert dba.execute("DELETE FROM iam.organization_memberships WHERE user_id = %s", [a.reader.user_id]).rowcount == 1
    assert owner.execute(
        "SELECT count(*) FROM iam.organization_memberships WHERE organization_id = %s", [a.admin.organization_id]
    ).fetchone() == (2,)
