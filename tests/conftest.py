"""Test databases: one migrated template per session, a fresh clone per test.

The server is TEST_DATABASE_URL, else DATABASE_URL, else the embedded PostgreSQL. Cloning a
template (CREATE DATABASE ... TEMPLATE) is cheap and isolates tests that commit.

The template is owned and migrated the way a managed host does it: when the server login
is a superuser, by a role like Supabase's `postgres` (LOGIN CREATEROLE CREATEDB BYPASSRLS,
not a superuser), and the API under test logs in as that role too. So the whole suite
proves that nothing in the migrations or the app needs a superuser.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from db.migrate import upgrade
from tests.servers import database_server


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    with database_server() as url:
        yield url


def database_on(server_url: str, name: str) -> str:
    return make_conninfo(server_url, dbname=name)


def create_database(server_url: str, name: str, template: str | None = None, owner: str | None = None) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        if owner:
            statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        admin.execute(statement)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


MANAGED_OWNER = "iam_test_owner"


@pytest.fixture(scope="session")
def owner_role(server_url: str) -> str:
    """The role that owns and migrates test databases and that the API logs in as."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        row = admin.execute("SELECT rolsuper, current_user FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row is not None
        is_superuser, login = row
        if not is_superuser:
            return str(login)  # already a managed-host-like login: use it as it is
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [MANAGED_OWNER]).fetchone():
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB BYPASSRLS").format(sql.Identifier(MANAGED_OWNER))
            )
        # On PostgreSQL 16+ only a role's creator (or a superuser) may grant it. Where an
        # earlier superuser-run migration created iam_api on this cluster, provision the
        # membership the way a host's administrator would.
        if admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'iam_api'").fetchone():
            admin.execute(sql.SQL("GRANT iam_api TO {}").format(sql.Identifier(MANAGED_OWNER)))
        return MANAGED_OWNER


def as_role(url: str, role: str) -> str:
    return make_conninfo(url, user=role)


@pytest.fixture(scope="session")
def template_database(server_url: str, owner_role: str) -> Iterator[str]:
    name = f"iam_test_template_{uuid.uuid4().hex[:10]}"
    create_database(server_url, name, owner=owner_role)
    try:
        upgrade(as_role(database_on(server_url, name), owner_role))
        yield name
    finally:
        drop_database(server_url, name)


@pytest.fixture
def database_url(server_url: str, template_database: str, owner_role: str) -> Iterator[str]:
    """A migrated database of this test's own, reached as its (non-superuser) owner."""
    name = f"iam_test_{uuid.uuid4().hex[:12]}"
    create_database(server_url, name, template=template_database, owner=owner_role)
    try:
        yield as_role(database_on(server_url, name), owner_role)
    finally:
        drop_database(server_url, name)


@pytest.fixture
def empty_database(server_url: str, owner_role: str) -> Iterator[str]:
    """A database with no migrations applied, reached as the owner role."""
    name = f"iam_test_empty_{uuid.uuid4().hex[:10]}"
    create_database(server_url, name, owner=owner_role)
    yield as_role(database_on(server_url, name), owner_role)
    drop_database(server_url, name)


@pytest.fixture
def owner(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The test database as the login that migrated it (the schema owner, exempt from RLS): for arranging
    states the API cannot produce, such as an expired invitation or a deactivated user."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
