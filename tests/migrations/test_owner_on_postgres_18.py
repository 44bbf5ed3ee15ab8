"""The managed-host migration path on PostgreSQL 16 and newer, where CREATEROLE no longer
makes a role's creator a member of it: a login like Supabase's `postgres` (LOGIN,
CREATEROLE, CREATEDB, BYPASSRLS, not a superuser) migrates a fresh cluster, and the
migration itself grants it what the API needs (SET ROLE iam_api). Runs on a private
PostgreSQL 18 cluster (the embedded wheel's), whatever server the rest of the suite uses."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import make_conninfo

from db.migrate import upgrade
from tests.servers import private_cluster

OWNER = "supabase_like_owner"


def test_a_createrole_owner_migrates_postgres_18_and_can_serve() -> None:
    with private_cluster() as cluster:
        superuser_url = cluster.url
        with psycopg.connect(superuser_url, autocommit=True) as admin:
            version = admin.execute("SHOW server_version_num").fetchone()
            assert version is not None
            assert int(version[0]) >= 160000
            admin.execute(f"CREATE ROLE {OWNER} LOGIN CREATEROLE CREATEDB BYPASSRLS")
            admin.execute(f"CREATE DATABASE iam OWNER {OWNER}")
        owner_url = make_conninfo(superuser_url, user=OWNER, dbname="iam")

        upgrade(owner_url)

        with psycopg.connect(owner_url, autocommit=True) as owner:
            row = owner.execute(
                "SELECT rolsuper, pg_has_role(current_user, 'iam_api', 'SET')"
                " FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            # Not a superuser, and may SET ROLE iam_api: the migration granted it.
            assert row == (False, True)
            # A request transaction as the API runs it: the role switch and the policies hold.
            owner.execute("BEGIN")
            owner.execute("SET LOCAL ROLE iam_api")
            registered = owner.execute(
                "SELECT user_id, organization_id"
                " FROM iam.register_user('owner@example.com', 'h', 'Org', '\\x01', 3600, NULL, NULL,"
                " '\\x02', 3600, 'S', 'B')"
            ).fetchone()
            assert registered is not None
            assert owner.execute("SELECT current_user").fetchone() == ("iam_api",)
            # No context: the policies fail closed even for rows that exist.
            assert owner.execute("SELECT count(*) FROM iam.projects").fetchone() == (0,)
            assert owner.execute("SELECT count(*) FROM iam.organization_memberships").fetchone() == (0,)
            owner.execute("COMMIT")
