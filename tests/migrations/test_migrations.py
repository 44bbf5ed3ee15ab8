"""Migrations: the snapshot in db/schema.sql matches them, they walk down to base and back
up with surviving data intact, and the database can be backed up only by a role that
bypasses row security."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from psycopg import sql

from db.migrate import MIGRATIONS_DIR, downgrade, head_revision, upgrade
from db.schema_snapshot import SCHEMA_FILE, apply_schema_file, dump_schema, normalize, pg_tool
from tests.conftest import as_role

Sql = psycopg.Connection[tuple[object, ...]]


def test_schema_sql_matches_the_migrations(database_url: str, empty_database: str) -> None:
    migrated = dump_schema(database_url)
    apply_schema_file(empty_database)
    assert dump_schema(empty_database) == migrated, "db/schema.sql is stale: run `make db-schema`"
    # And the file says so in as many words.
    assert normalize(SCHEMA_FILE.read_text()) == migrated


def rows(connection: Sql, table: str) -> list[dict[str, Any]]:
    query = sql.SQL("SELECT * FROM iam.{} ORDER BY 1, 2").format(sql.Identifier(table))
    cursor = connection.execute(query)
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# Permissions that migrations after 0001 added to the catalogue.
LATER_PERMISSIONS = {"api_keys:manage", "organization:manage"}


def iam_tables(connection: Sql) -> set[str]:
    found = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'iam'").fetchall()
    return {str(name) for (name,) in found}


def populate(database_url: str) -> None:
    """Data in every table, written through the same SQL functions the API uses."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("BEGIN")
        connection.execute("SET LOCAL ROLE iam_api")
        row = connection.execute(
            "SELECT session_id, user_id, organization_id"
            " FROM iam.register_user('m@example.com', 'h', 'Org', '\\x02', 3600, 'test', '127.0.0.1',"
            " '\\x07', 3600, 'S', 'B')"
        ).fetchone()
        assert row is not None
        session_id, user_id, organization_id = row
        # The API's own way into the context: a live session of the user.
        connection.execute(
            "SELECT * FROM iam.enter_context(%s, %s, %s, 'populate')", [user_id, organization_id, session_id]
        )
        connection.execute(
            "INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%s, 'P', %s)",
            [organization_id, user_id],
        )
        connection.execute(
            "INSERT INTO iam.invitations (organization_id, email, role, token_hash, invited_by_user_id, expires_at)"
            " VALUES (%s, 'i@example.com', 'ORG_USER', '\\x01', %s, now() + interval '1 day')",
            [organization_id, user_id],
        )
        connection.execute(
            "INSERT INTO iam.api_keys (organization_id, lookup_id, key_hash, name, role, created_by_user_id)"
            " VALUES (%s, 'AAAAAAAAAAAA', sha256('k'), 'K', 'READ_ONLY', %s)",
            [organization_id, user_id],
        )
        # A second factor, its recovery codes, and a login waiting for it.
        connection.execute("SELECT iam.enroll_totp('\\x01')")
        factor = connection.execute("SELECT factor_id FROM iam.own_totp('pending')").fetchone()
        assert factor is not None
        connection.execute("SELECT iam.activate_totp(%s, 1, ARRAY[sha256('r')])", [factor[0]])
        connection.execute(
            "SELECT iam.start_mfa_challenge(%s, 'h', %s, '\\x08', 300, 'test', '127.0.0.1', NULL)",
            [user_id, organization_id],
        )
        connection.execute(
            "SELECT * FROM iam.reserve_login_attempt('\\x03', '\\x04', '\\x05', 10, 100, 900, 10, 30, 10)"
        )
        connection.execute("SELECT iam.request_password_reset('m@example.com', '\\x06', 1800, 'S', 'B', 0)")
        connection.execute("SELECT iam.release_login_attempt('\\x03', '\\x04', '\\x05', true)")
        connection.execute("COMMIT")


def test_walk_down_to_base_and_back_up_keeps_surviving_data(database_url: str) -> None:
    populate(database_url)
    with psycopg.connect(database_url, autocommit=True) as owner:
        head_tables = iam_tables(owner)
        before = {table: rows(owner, table) for table in head_tables - {"alembic_version"}}
        assert all(before[table] for table in before if table != "dba_tenant_grants"), "every table holds data"

        downgrade(database_url, "0001")
        kept = iam_tables(owner)
        assert kept == head_tables - {
            "audit_events",
            "sessions",
            "refresh_tokens",
            "attempt_counters",
            "known_sign_in_clients",
            "outbox_messages",
            "password_reset_tokens",
            "email_verifications",
            "api_keys",
            "mfa_factors",
            "mfa_recovery_codes",
            "mfa_challenges",
        }
        for table in kept - {"alembic_version"}:
            # Columns later migrations added (such as row versions) go, and so do the
            # permissions they added; the rest is kept.
            after = rows(owner, table)
            columns = set(after[0]) if after else set()
            expected = [
                {k: v for k, v in row.items() if k in columns}
                for row in before[table]
                if not {row.get("key"), row.get("permission_key")} & LATER_PERMISSIONS
            ]
            assert after == expected, table

        downgrade(database_url, "base")
        assert iam_tables(owner) == {"alembic_version"}
        assert owner.execute("SELECT count(*) FROM iam.alembic_version").fetchone() == (0,)

        upgrade(database_url)
        assert iam_tables(owner) == head_tables
        assert owner.execute("SELECT version_num FROM iam.alembic_version").fetchone() == (head_revision(),)
    populate(database_url)  # the schema works again from scratch


def previous_revision() -> str:
    revision = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(head_revision())
    assert revision is not None
    assert isinstance(revision.down_revision, str)
    return revision.down_revision


def test_make_db_rollback_undoes_the_last_migration(database_url: str) -> None:
    populate(database_url)
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "db.migrate", "down"], env=env, check=True, capture_output=True)
    with psycopg.connect(database_url, autocommit=True) as owner:
        assert owner.execute("SELECT version_num FROM iam.alembic_version").fetchone() == (previous_revision(),)
        assert rows(owner, "projects")
    subprocess.run([sys.executable, "-m", "db.migrate", "up"], env=env, check=True, capture_output=True)
    with psycopg.connect(database_url, autocommit=True) as owner:
        assert owner.execute("SELECT version_num FROM iam.alembic_version").fetchone() == (head_revision(),)


def test_backups_need_a_role_that_bypasses_row_security(database_url: str, owner_role: str, server_url: str) -> None:
    populate(database_url)
    dump = subprocess.run(
        [pg_tool("pg_dump"), "--schema=iam", "--data-only", "--dbname", database_url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "m@example.com" in dump

    reader = f"backup_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE iam_dba").format(sql.Identifier(reader)))
    try:
        refused = subprocess.run(
            [pg_tool("pg_dump"), "--schema=iam", "--data-only", "--dbname", as_role(database_url, reader)],
            capture_output=True,
            text=True,
        )
        assert refused.returncode != 0
        assert "row-level security" in refused.stderr or "permission denied" in refused.stderr
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))
    assert owner_role


def test_migrations_create_nothing_outside_schema_iam(database_url: str, empty_database: str) -> None:
    """Supabase's Data API exposes schema public: nothing of ours may land there, or in any
    schema but iam, and nothing is granted to Supabase's API roles."""

    def footprint(url: str) -> set[tuple[str, str]]:
        with psycopg.connect(url, autocommit=True) as connection:
            found = connection.execute(
                """SELECT 'schema', nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'
                   UNION ALL SELECT 'relation', relnamespace::regnamespace || '.' || relname FROM pg_class
                   WHERE relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
                     AND relnamespace::regnamespace::text NOT LIKE 'pg\\_%'
                   UNION ALL SELECT 'function', pronamespace::regnamespace || '.' || proname FROM pg_proc
                   WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
                   UNION ALL SELECT 'extension', extname FROM pg_extension"""
            ).fetchall()
        return {(str(kind), str(name)) for kind, name in found}

    added = footprint(database_url) - footprint(empty_database)
    assert added
    assert {name.split(".")[0] for kind, name in added if kind != "schema"} == {"iam"}
    assert {name for kind, name in added if kind == "schema"} == {"iam"}
    assert not [name for kind, name in added if kind == "extension"]


def test_addresses_are_normalized_and_collisions_reported_not_merged(database_url: str) -> None:
    """0012 rewrites existing addresses to one spelling (NFKC, IDNA A-label domain) and stops,
    naming the accounts, when two would become one."""
    downgrade(database_url, "0011")
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO iam.users (email, password_hash) VALUES"
            " ('ada@münchen.example', 'h'), ('victim@corp.example', 'h'), ('\uff56ictim@corp.example', 'h')"
        )
        with pytest.raises(RuntimeError, match=r"victim@corp\.example: .*ictim@corp\.example"):
            upgrade(database_url)
        assert owner.execute("SELECT version_num FROM iam.alembic_version").fetchone() == ("0011",)
        owner.execute("DELETE FROM iam.users WHERE email = '\uff56ictim@corp.example'")
        upgrade(database_url)
        emails = owner.execute("SELECT email FROM iam.users ORDER BY email").fetchall()
        assert emails == [("ada@xn--mnchen-3ya.example",), ("victim@corp.example",)]
