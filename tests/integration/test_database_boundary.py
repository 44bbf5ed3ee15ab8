"""The database refuses on its own, where the Python is right today too: every check here runs
SQL as the API's role (iam_api) or as a DBA login, with no Python permission check in the way.

- Context exists only for a live session; a READ_ONLY member's writes are refused by policy.
- iam_api holds exactly the privileges, policies and functions listed here: a new one is a
  conscious change to this list (and to the README's "The database is the boundary").
- SECURITY DEFINER entry points act for the user the transaction proved, never a passed id.
- A DBA's table lock fails other tenants fast; a DBA's idle transaction is ended.
- Audit request ids, revoked invitations and commits of failed transactions hold too.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest

from api.auth.access_tokens import TokenSubject
from api.context import begin
from api.database import Database, Pool, TransactionAborted
from tests.integration.conftest import Api, AppFactory, Session, Sql, SqlDatabase, Tenant, begin_as, run

# Every column of invitations but token_hash.
INVITATION_COLUMNS = (
    "accepted_at accepted_by_user_id created_at email expires_at id invited_by_user_id "
    "organization_id revoked_at role updated_at"
)
USER_COLUMNS = "created_at email email_verified_at id is_active updated_at"
# Every column of iam.api_keys but key_hash, which no role reads.
API_KEY_COLUMNS = (
    "created_at created_by_user_id expires_at id last_used_at lookup_id name organization_id revoked_at role updated_at"
)

# What iam_api may do to tables, as (table, privilege, columns or "*" for the whole table).
API_TABLE_PRIVILEGES = {
    ("alembic_version", "SELECT", "*"),
    ("api_keys", "SELECT", API_KEY_COLUMNS),
    ("api_keys", "INSERT", "created_by_user_id expires_at key_hash lookup_id name organization_id role"),
    ("api_keys", "UPDATE", "name revoked_at role"),
    ("audit_events", "SELECT", "*"),
    ("invitations", "SELECT", INVITATION_COLUMNS),
    ("invitations", "INSERT", "*"),
    ("invitations", "UPDATE", "revoked_at"),
    ("organization_memberships", "SELECT", "*"),
    ("organization_memberships", "UPDATE", "role"),
    ("organization_memberships", "DELETE", "*"),
    ("permissions", "SELECT", "*"),
    ("projects", "SELECT", "*"),
    ("projects", "INSERT", "*"),
    ("projects", "UPDATE", "description name"),
    ("projects", "DELETE", "*"),
    ("role_permissions", "SELECT", "*"),
    ("roles", "SELECT", "*"),
    (
        "sessions",
        "SELECT",
        "aal amr client_address created_at expires_at id last_used_at organization_id revoked_at revoked_reason "
        "user_agent user_id",
    ),
    ("sessions", "UPDATE", "revoked_at revoked_reason"),
    ("users", "SELECT", USER_COLUMNS),
}

API_POLICIES = {
    ("alembic_version", "alembic_version_read", "SELECT"),
    ("api_keys", "api_keys_api_insert", "INSERT"),
    ("api_keys", "api_keys_api_select", "SELECT"),
    ("api_keys", "api_keys_api_update", "UPDATE"),
    ("audit_events", "audit_events_api_select", "SELECT"),
    ("invitations", "invitations_api_insert", "INSERT"),
    ("invitations", "invitations_api_select", "SELECT"),
    ("invitations", "invitations_api_update", "UPDATE"),
    ("organization_memberships", "memberships_api_delete", "DELETE"),
    ("organization_memberships", "memberships_api_select", "SELECT"),
    ("organization_memberships", "memberships_api_update", "UPDATE"),
    ("permissions", "permissions_read", "SELECT"),
    ("projects", "projects_api_delete", "DELETE"),
    ("projects", "projects_api_insert", "INSERT"),
    ("projects", "projects_api_select", "SELECT"),
    ("projects", "projects_api_update", "UPDATE"),
    ("role_permissions", "role_permissions_read", "SELECT"),
    ("roles", "roles_read", "SELECT"),
    ("sessions", "sessions_api_select", "SELECT"),
    ("sessions", "sessions_api_update", "UPDATE"),
    ("users", "users_api_select", "SELECT"),
}

API_FUNCTIONS = {
    # Policy helpers and the context.
    "iam.caller_has_permission(text)",
    "iam.caller_holds_role(text)",
    "iam.current_api_key_id()",
    "iam.current_org_id()",
    "iam.current_session_id()",
    "iam.current_user_id()",
    "iam.enter_context(uuid,uuid,uuid,text)",
    "iam.enter_api_key_context(text,bytea,bytea,integer,text)",
    "iam.touch_api_key(uuid,uuid)",
    "iam.is_visible_text(text,boolean)",
    # Acting for the signed-in user of a live session.
    "iam.accept_invitation(bytea)",
    "iam.change_own_password(text)",
    "iam.create_organization(text)",
    "iam.list_my_invitations()",
    "iam.list_my_organizations()",
    "iam.switch_organization(uuid,bytea,integer,text,inet)",
    # Pre-authentication (see the README for why each is safe with any input).
    "iam.find_login(text)",
    "iam.record_login(uuid,uuid,text)",
    "iam.refresh_session(bytea,bytea,integer)",
    "iam.register_invited_user(text,text,bytea,bytea,integer,text,inet)",
    "iam.register_user(text,text,text,bytea,integer,text,inet,bytea,integer,text,text)",
    "iam.request_registration(text,text,text,bytea,integer,text,text,bytea,integer,text,text,integer)",
    "iam.verify_email(bytea,bytea,integer,text,inet)",
    "iam.send_email_verification(bytea,integer,text,text,integer)",
    "iam.release_login_attempt(bytea,bytea,bytea,boolean)",
    "iam.reserve_login_attempt(bytea,bytea,bytea,integer,integer,integer,integer,integer,integer)",
    "iam.sign_in(uuid,text,uuid,bytea,integer,text,inet,text)",
    "iam.take_quota(bytea,integer,integer)",
    # Mail: queued with the change that causes it; claimed and settled outside any signed-in
    # context only (the delivery loop); reset requests and their use.
    "iam.queue_mail(text,text,text,text,integer)",
    "iam.claim_mail(integer,integer)",
    "iam.mail_sent(uuid)",
    "iam.mail_failed(uuid,text,integer,integer)",
    "iam.request_password_reset(text,bytea,integer,text,text,integer)",
    "iam.confirm_password_reset(bytea,text,text,text)",
    # MFA: the session user's own factor (secrets leave the database encrypted, with the API
    # holding the key), a login's challenge, step-up, and the organization's rule.
    "iam.enroll_totp(bytea)",
    "iam.own_totp(text)",
    "iam.activate_totp(uuid,bigint,bytea[])",
    "iam.remove_totp()",
    "iam.replace_recovery_codes(bytea[])",
    "iam.start_mfa_challenge(uuid,text,uuid,bytea,integer,text,inet,text)",
    "iam.open_mfa_challenge(bytea,integer)",
    "iam.complete_mfa_challenge(bytea,integer,bigint,bytea,bytea,integer,text,inet)",
    "iam.fail_mfa_challenge(bytea)",
    "iam.require_step_up()",
    "iam.update_organization(uuid,text,boolean)",
}

DBA_TABLE_PRIVILEGES = {
    ("api_keys", "SELECT", API_KEY_COLUMNS),
    ("api_keys", "UPDATE", "revoked_at"),
    ("audit_events", "SELECT", "*"),
    ("dba_tenant_grants", "SELECT", "*"),
    ("invitations", "SELECT", INVITATION_COLUMNS),
    ("invitations", "UPDATE", "revoked_at"),
    ("invitations", "DELETE", "*"),
    ("organization_memberships", "SELECT", "*"),
    ("organization_memberships", "UPDATE", "role"),
    ("organization_memberships", "DELETE", "*"),
    ("organizations", "SELECT", "*"),
    ("permissions", "SELECT", "*"),
    ("projects", "SELECT", "*"),
    ("projects", "INSERT", "*"),
    ("projects", "UPDATE", "description name"),
    ("projects", "DELETE", "*"),
    ("role_permissions", "SELECT", "*"),
    ("roles", "SELECT", "*"),
    ("users", "SELECT", USER_COLUMNS),
}

DBA_FUNCTIONS = {"iam.current_org_id()", "iam.dba_org_id()", "iam.is_visible_text(text,boolean)"}

PRIVILEGES_OF = """
    SELECT table_name, privilege_type, '*' FROM information_schema.role_table_grants
    WHERE table_schema = 'iam' AND grantee = %(role)s
    UNION ALL
    SELECT c.table_name, c.privilege_type, string_agg(c.column_name, ' ' ORDER BY c.column_name)
    FROM information_schema.column_privileges AS c
    WHERE c.table_schema = 'iam' AND c.grantee = %(role)s
      AND NOT EXISTS (SELECT FROM information_schema.role_table_grants AS t
                      WHERE t.table_schema = 'iam' AND t.grantee = %(role)s
                        AND t.table_name = c.table_name AND t.privilege_type = c.privilege_type)
    GROUP BY c.table_name, c.privilege_type
"""


def catalogue(owner: Sql, query: str, role: str) -> set[tuple[str, ...]]:
    return {tuple(str(value) for value in row) for row in owner.execute(query, {"role": role}).fetchall()}


def test_iam_api_holds_exactly_the_listed_privileges_policies_and_functions(owner: Sql) -> None:
    assert catalogue(owner, PRIVILEGES_OF, "iam_api") == API_TABLE_PRIVILEGES
    policies = "SELECT tablename, policyname, cmd FROM pg_policies WHERE schemaname = 'iam' AND %(role)s = ANY(roles)"
    assert catalogue(owner, policies, "iam_api") == API_POLICIES
    functions = """SELECT p.oid::regprocedure::text FROM pg_proc AS p
                   WHERE p.pronamespace = 'iam'::regnamespace AND has_function_privilege(%(role)s, p.oid, 'EXECUTE')"""
    assert {name for (name,) in catalogue(owner, functions, "iam_api")} == API_FUNCTIONS
    assert {name for (name,) in catalogue(owner, functions, "iam_dba")} == DBA_FUNCTIONS


def test_iam_dba_holds_exactly_the_listed_privileges(owner: Sql) -> None:
    assert catalogue(owner, PRIVILEGES_OF, "iam_dba") == DBA_TABLE_PRIVILEGES


def revoke_session(owner: Sql, session: Session, how: str) -> None:
    if how == "logged out":
        statement = "UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE id = %s"
    elif how == "reuse-revoked":
        statement = "UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'reuse' WHERE id = %s"
    else:
        statement = "UPDATE iam.sessions SET expires_at = now() - interval '1 second' WHERE id = %s"
    owner.execute(statement, [session.session_id])


@pytest.mark.parametrize("how", ["logged out", "reuse-revoked", "expired"])
def test_the_context_of_an_ended_session_sees_nothing_and_writes_nothing(
    api: Api, database: SqlDatabase, owner: Sql, tenant: Tenant, how: str
) -> None:
    api.create_project(tenant.admin, "Secret")
    revoke_session(owner, tenant.admin, how)
    transaction = begin_as(database, tenant.admin, read_only=False)
    try:
        connection = transaction.connection
        assert connection.execute("SELECT current_setting('app.user_id') AS v").fetchone() == {"v": ""}
        assert connection.execute("SELECT count(*) AS n FROM iam.projects").fetchone() == {"n": 0}
        assert connection.execute("SELECT count(*) AS n FROM iam.organization_memberships").fetchone() == {"n": 0}
        assert connection.execute("UPDATE iam.projects SET description = 'x'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%s, 'After', %s)",
                [tenant.admin.organization_id, tenant.admin.user_id],
            )
    finally:
        transaction.end(commit=False)


def test_a_forged_context_without_a_live_session_gets_no_permission(
    api: Api, database: SqlDatabase, tenant: Tenant, other_tenant: Tenant
) -> None:
    """SQL smuggled into an API transaction can set app.* itself; without a live session of
    the claimed user there, no policy grants it anything."""
    api.create_project(other_tenant.admin, "Theirs")
    transaction = begin_as(database, tenant.admin, read_only=True)
    try:
        connection = transaction.connection
        connection.execute(
            "SELECT set_config('app.user_id', %s, true), set_config('app.org_id', %s, true)",
            [other_tenant.admin.user_id, other_tenant.admin.organization_id],
        )
        assert connection.execute("SELECT count(*) AS n FROM iam.projects").fetchone() == {"n": 0}
        assert connection.execute("SELECT count(*) AS n FROM iam.invitations").fetchone() == {"n": 0}
    finally:
        transaction.end(commit=False)


def test_a_read_only_members_writes_are_refused_by_policy(api: Api, database: SqlDatabase, tenant: Tenant) -> None:
    """No Python permission check on this path: the statements go straight to PostgreSQL."""
    project = api.create_project(tenant.admin, "Keep")
    transaction = begin_as(database, tenant.reader, read_only=False)
    try:
        connection = transaction.connection
        assert connection.execute("SELECT count(*) AS n FROM iam.projects").fetchone() == {"n": 1}
        for insert in (
            "INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (iam.current_org_id(), 'No',"
            " iam.current_user_id())",
            "INSERT INTO iam.invitations (organization_id, email, role, token_hash, invited_by_user_id, expires_at)"
            " VALUES (iam.current_org_id(), 'x@example.com', 'ORG_ADMIN', '\\x01', iam.current_user_id(), now())",
        ):
            connection.execute("SAVEPOINT attempt")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(insert)
            connection.execute("ROLLBACK TO SAVEPOINT attempt")
        assert connection.execute("UPDATE iam.projects SET name = 'Taken' WHERE id = %s", [project["id"]]).rowcount == 0
        assert connection.execute("DELETE FROM iam.projects WHERE id = %s", [project["id"]]).rowcount == 0
        assert connection.execute("UPDATE iam.organization_memberships SET role = 'ORG_ADMIN'").rowcount == 0
        assert connection.execute("DELETE FROM iam.organization_memberships").rowcount == 0
    finally:
        transaction.end(commit=False)


def test_an_admin_context_cannot_add_members_or_overwrite_its_password(
    api: Api, database: SqlDatabase, owner: Sql, tenant: Tenant, other_tenant: Tenant
) -> None:
    transaction = begin_as(database, tenant.admin, read_only=False)
    try:
        connection = transaction.connection
        connection.execute("SAVEPOINT attempt")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "INSERT INTO iam.organization_memberships (organization_id, user_id, role)"
                " VALUES (%s, %s, 'READ_ONLY')",
                [tenant.admin.organization_id, other_tenant.admin.user_id],
            )
        connection.execute("ROLLBACK TO SAVEPOINT attempt")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("UPDATE iam.users SET password_hash = 'mine' WHERE id = iam.current_user_id()")
    finally:
        transaction.end(commit=False)
    row = owner.execute("SELECT password_hash <> 'mine' FROM iam.users WHERE id = %s", [tenant.admin.user_id])
    assert row.fetchone() == (True,)


def as_api(database_url: str) -> Sql:
    connection = psycopg.connect(database_url, autocommit=True)
    connection.execute("BEGIN")
    connection.execute("SET LOCAL ROLE iam_api")
    return connection


def test_sessions_open_only_for_what_the_transaction_proved(
    api: Api, database_url: str, owner: Sql, tenant: Tenant, other_tenant: Tenant
) -> None:
    victim = other_tenant.admin
    with as_api(database_url) as connection:
        # start_session would open a session for any user id: it is internal now.
        connection.execute("SAVEPOINT attempt")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "SELECT * FROM iam.start_session(%s, %s, '\\x01', 3600, NULL, NULL)",
                [victim.user_id, victim.organization_id],
            )
        connection.execute("ROLLBACK TO SAVEPOINT attempt")
        # sign_in wants the hash the password was verified against, still stored.
        assert (
            connection.execute(
                "SELECT * FROM iam.sign_in(%s, 'a guess', %s, '\\x02', 3600, NULL, NULL, 'rehash')",
                [victim.user_id, victim.organization_id],
            ).fetchall()
            == []
        )
        # Switching organization starts from the signed-in user of a live session: none here.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(
                "SELECT * FROM iam.switch_organization(%s, '\\x03', 3600, NULL, NULL)", [victim.organization_id]
            )
        connection.execute("ROLLBACK")
    assert owner.execute("SELECT count(*) FROM iam.sessions WHERE user_id = %s", [victim.user_id]).fetchone() == (1,)


def stored_hash(owner: Sql, user: Session) -> str:
    row = owner.execute("SELECT password_hash FROM iam.users WHERE id = %s", [user.user_id]).fetchone()
    assert row is not None
    return str(row[0])


def test_a_rehash_is_a_compare_and_swap_on_the_verified_hash(
    api: Api, database_url: str, owner: Sql, tenant: Tenant
) -> None:
    user = tenant.admin
    stored = stored_hash(owner, user)
    with as_api(database_url) as connection:
        opened = connection.execute(
            "SELECT session_id FROM iam.sign_in(%s, %s, %s, '\\x04', 3600, NULL, NULL, 'new-hash')",
            [user.user_id, stored, user.organization_id],
        ).fetchall()
        assert len(opened) == 1
        connection.execute("COMMIT")
    assert owner.execute("SELECT password_hash FROM iam.users WHERE id = %s", [user.user_id]).fetchone() == (
        "new-hash",
    )
    # The old hash is no longer the account's: a login verified against it opens nothing.
    with as_api(database_url) as connection:
        stale = connection.execute(
            "SELECT session_id FROM iam.sign_in(%s, %s, %s, '\\x05', 3600, NULL, NULL, 'other-hash')",
            [user.user_id, stored, user.organization_id],
        ).fetchall()
        assert stale == []
        connection.execute("COMMIT")
    assert owner.execute("SELECT password_hash FROM iam.users WHERE id = %s", [user.user_id]).fetchone() == (
        "new-hash",
    )


def test_a_dba_table_lock_fails_other_tenants_fast_and_its_idle_transaction_is_ended(
    make_api: AppFactory,
    tenant: Tenant,
    other_tenant: Tenant,
    owner: Sql,
    login_role: Callable[[bool], str],
    connect_as: Callable[[str], Sql],
) -> None:
    api = make_api(DB_LOCK_TIMEOUT_MS="200", DB_STATEMENT_TIMEOUT_MS="20000")
    dba_role = login_role(True)
    owner.execute(
        "SELECT iam.grant_tenant_access(%s, %s, idle_in_transaction_timeout => '1500ms')",
        [dba_role, tenant.admin.organization_id],
    )
    dba = connect_as(dba_role)
    assert dba.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("1500ms",)
    assert dba.execute("SHOW statement_timeout").fetchone() == ("1min",)
    dba.execute("BEGIN")
    dba.execute("LOCK TABLE iam.organization_memberships IN ACCESS EXCLUSIVE MODE")
    # Another tenant's request gives up on the lock, not after the 20 s statement timeout.
    blocked = api.get("/auth/me", as_=other_tenant.admin)
    assert blocked.status_code == 503
    assert blocked.headers["retry-after"] == "1"
    assert "locked" in blocked.json["detail"]
    # The DBA's transaction sits idle: the server ends it, and with it the lock.
    deadline = time.monotonic() + 10
    while api.get("/auth/me", as_=other_tenant.admin).status_code != 200:
        assert time.monotonic() < deadline, "the idle DBA transaction was never ended"
        time.sleep(0.2)
    with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
        dba.execute("SELECT 1")


def test_a_dba_cannot_forge_the_request_id_of_audit_events(
    api: Api, tenant: Tenant, owner: Sql, granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    project = api.create_project(tenant.admin, "Audited")
    _, dba = granted_dba(tenant.admin.organization_id)
    dba.execute(
        "SELECT set_config('app.org_id', %s, false), set_config('app.request_id', 'forged', false)",
        [tenant.admin.organization_id],
    )
    dba.execute("UPDATE iam.projects SET description = 'by hand' WHERE id = %s", [project["id"]])
    row = owner.execute(
        "SELECT request_id, anonymous FROM iam.audit_events WHERE resource_id = %s AND action = 'project.updated'",
        [project["id"]],
    ).fetchone()
    assert row == (None, False)


def test_a_revoked_invitation_stays_revoked(
    api: Api, database: SqlDatabase, tenant: Tenant, granted_dba: Callable[[str], tuple[str, Sql]]
) -> None:
    created = api.post("/invitations", {"email": "gone@example.com", "role": "ORG_ADMIN"}, as_=tenant.admin)
    invitation_id = created.json["id"]
    assert api.delete(f"/invitations/{invitation_id}", as_=tenant.admin).status_code == 204
    transaction = begin_as(database, tenant.admin, read_only=False)
    try:
        with pytest.raises(psycopg.errors.CheckViolation):
            transaction.connection.execute(
                "UPDATE iam.invitations SET revoked_at = NULL WHERE id = %s", [invitation_id]
            )
    finally:
        transaction.end(commit=False)
    _, dba = granted_dba(tenant.admin.organization_id)
    dba.execute("SELECT set_config('app.org_id', %s, false)", [tenant.admin.organization_id])
    with pytest.raises(psycopg.errors.CheckViolation):
        dba.execute("UPDATE iam.invitations SET revoked_at = NULL WHERE id = %s", [invitation_id])


def test_a_failed_transaction_is_never_reported_as_committed(api: Api, pool: Pool, owner: Sql, tenant: Tenant) -> None:
    """The app's own Transaction: a caller that swallowed a failed statement and asks for a
    commit gets TransactionAborted, and nothing is kept (PostgreSQL would roll back silently)."""
    subject = TokenSubject(
        uuid.UUID(tenant.admin.user_id), uuid.UUID(tenant.admin.organization_id), uuid.UUID(tenant.admin.session_id)
    )

    async def swallow_and_commit() -> None:
        transaction, _ = await begin(Database(pool), read_only=False, request_id="test", subject=subject)
        await transaction.one("create_project", {"name": "Half done", "description": None})
        with pytest.raises(psycopg.errors.UniqueViolation):
            await transaction.one("create_project", {"name": "Half done", "description": None})
        with pytest.raises(TransactionAborted):
            await transaction.end(commit=True)

    run(swallow_and_commit())
    assert owner.execute("SELECT count(*) FROM iam.projects WHERE name = 'Half done'").fetchone() == (0,)


def test_the_text_rule_pins_its_operator_and_search_path(owner: Sql) -> None:
    row = owner.execute(
        "SELECT proconfig, prosrc LIKE '%%OPERATOR(pg_catalog.!~)%%' FROM pg_proc"
        " WHERE oid = 'iam.is_visible_text(text, boolean)'::regprocedure"
    ).fetchone()
    assert row == (['search_path=""'], True)


def test_accepting_an_invitation_without_a_signed_in_user_consumes_nothing(
    api: Api, database: SqlDatabase, tenant: Tenant
) -> None:
    _, token = api.invitation(tenant.admin, "nobody-signed-in@example.com", "ORG_USER")
    transaction = begin_as(database, None, read_only=False)
    try:
        accepted = transaction.connection.execute(
            "SELECT * FROM iam.accept_invitation(%s)", [hashlib.sha256(token.encode()).digest()]
        ).fetchall()
        assert accepted == []
    finally:
        transaction.end(commit=True)
    pending = [i["email"] for i in api.get("/invitations", as_=tenant.admin).json["items"]]
    assert "nobody-signed-in@example.com" in pending
