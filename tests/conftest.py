"""Test databases: one migrated template per session, a fresh clone per test.

The server is TEST_DATABASE_URL, else DATABASE_URL, else the embedded PostgreSQL. Cloning a
template (CREATE DATABASE ... TEMPLATE) is cheap and isolates tests that commit.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from db.embedded import embedded_postgres_url
from db.migrate import upgrade


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with embedded_postgres_url() as url:
        yield url


def database_on(server_url: str, name: str) -> str:
    return make_conninfo(server_url, dbname=name)


def create_database(server_url: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        admin.execute(statement)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    name = f"iam_test_template_{uuid.uuid4().hex[:10]}"
    create_database(server_url, name)
    try:
        upgrade(database_on(server_url, name))
        yield name
    finally:
        drop_database(server_url, name)


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """A migrated database of this test's own."""
    name = f"iam_test_{uuid.uuid4().hex[:12]}"
    create_database(server_url, name, template=template_database)
    try:
        yield database_on(server_url, name)
    finally:
        drop_database(server_url, name)


@pytest.fixture
def owner(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """The test database as the login that migrated it (the schema owner, exempt from RLS): for arranging
    states the API cannot produce, such as an expired invitation or a deactivated user."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection
