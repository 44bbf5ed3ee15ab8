"""Runs the pgTAP policy suite in db/tests with pg_prove, on a fresh migrated database.

pg_prove connects as the server's admin login: the suite switches to every identity of its
matrix with SET ROLE. Where pgTAP or pg_prove is missing (the embedded server has no pgTAP)
the suite is skipped with a loud reason, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import create_database, database_on, drop_database

SQL_TESTS = Path(__file__).resolve().parents[2] / "db" / "tests"


def unavailable(reason: str) -> None:
    message = f"pgTAP policy suite NOT RUN: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run it)")
    pytest.skip(message)


@pytest.fixture
def pgtap_database(server_url: str, template_database: str, owner_role: str) -> Iterator[str]:
    name = f"iam_test_pgtap_{uuid.uuid4().hex[:10]}"
    create_database(server_url, name, template=template_database, owner=owner_role)
    try:
        yield database_on(server_url, name)
    finally:
        drop_database(server_url, name)


def test_policy_suite(pgtap_database: str) -> None:
    pg_prove = shutil.which("pg_prove")
    if pg_prove is None:
        unavailable("pg_prove is not installed (Debian: libtap-parser-sourcehandler-pgtap-perl)")
    with psycopg.connect(pgtap_database, autocommit=True) as connection:
        available = connection.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap'").fetchone()
        superuser = connection.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not available:
        unavailable("this PostgreSQL server has no pgtap extension (Debian: postgresql-NN-pgtap)")
    if superuser != (True,):
        unavailable("the server login is not a superuser, so the suite cannot SET ROLE to every identity")

    setup = subprocess.run(
        [
            "psql",
            "--no-psqlrc",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            pgtap_database,
            "-f",
            str(SQL_TESTS / "setup.sql"),
        ],
        capture_output=True,
        text=True,
    )
    assert setup.returncode == 0, setup.stderr
    files = sorted(str(path) for path in SQL_TESTS.glob("*_test.sql"))
    assert len(files) >= 10
    # pg_prove takes no connection string; libpq's environment variables reach its psql.
    params = conninfo_to_dict(pgtap_database)
    env = {
        **os.environ,
        **{f"PG{key.upper()}": str(params[key]) for key in ("host", "port", "user", "dbname") if key in params},
    }
    env["PGDATABASE"] = env.pop("PGDBNAME")
    result = subprocess.run([str(pg_prove), *files], capture_output=True, text=True, env=env)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All tests successful." in result.stdout
