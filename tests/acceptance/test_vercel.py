"""The Vercel path: the entry point pyproject.toml declares is imported the way Vercel's
runtime does, is an ASGI callable, and serves two tenants' concurrent requests in one
process (Fluid compute) with no lifespan event, including after PostgreSQL dropped every
pooled connection (an instance suspended while the network closed its idle connections)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.acceptance.conftest import call, register, serving_fresh_database
from tests.fluid_server import PYPROJECT, entrypoint

ROOT = PYPROJECT.parent


def fluid_command(env: dict[str, str], port: int) -> list[str]:
    return [sys.executable, "-m", "tests.fluid_server"]


@pytest.fixture(scope="module")
def fluid(
    server_url: str, template_database: str, owner_role: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    env = {
        "APP_ENV": "production",
        "MFA_ENCRYPTION_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "JWT_ACCESS_SECRET": "vercel-" + "v" * 40,
        # Production needs a mail server; nothing here sends mail (port 9: discard).
        "SMTP_URL": "smtp://127.0.0.1:9",
        "APP_BASE_URL": "https://app.example.com",
        "EMAIL_VERIFICATION": "optional",
        # The serverless pool settings docs/deploy-vercel.md recommends.
        "DB_POOL_MIN_SIZE": "0",
        "DB_POOL_MAX_SIZE": "2",
        "DB_POOL_MAX_IDLE_SECONDS": "60",
        "DB_POOL_CHECK": "true",
    }
    folder = tmp_path_factory.mktemp("vercel")
    with serving_fresh_database(server_url, template_database, owner_role, folder, env, fluid_command) as running:
        yield running.url, str(conninfo_to_dict(running.database_url)["dbname"])


def test_the_declared_entrypoint_is_a_module_level_asgi_app() -> None:
    module, attribute = entrypoint()
    assert attribute in ("app", "application", "handler")  # the names Vercel looks for
    source = ROOT / (module.replace(".", "/") + ".py")
    assert source.exists()
    text = source.read_text()
    assert f"\n{attribute} = " in text  # a module-level attribute, not a factory Vercel would have to call
    config = json.loads((ROOT / "vercel.json").read_text())
    # One function only: the entry point; every path goes to it, so no other file under
    # api/ becomes a function of its own.
    assert [build["src"] for build in config["builds"]] == [str(source.relative_to(ROOT))]
    assert config["routes"] == [{"src": "/(.*)", "dest": str(source.relative_to(ROOT))}]
    pyproject = tomllib.loads(PYPROJECT.read_text())
    assert pyproject["project"]["requires-python"].startswith(">=3.11")  # includes Vercel's 3.12


def test_imported_like_vercel_it_is_an_asgi_callable(fluid: tuple[str, str]) -> None:
    # The module was imported in the server process (tests/fluid_server.py); here, check the
    # protocol in a fresh interpreter the same way, without a database round trip.
    probe = (
        "import importlib, inspect, tests.fluid_server as f;"
        "m, a = f.entrypoint(); app = getattr(importlib.import_module(m), a);"
        "print(inspect.iscoroutinefunction(app.__call__), list(inspect.signature(app.__call__).parameters))"
    )
    env = {**os.environ, "APP_ENV": "test", "JWT_ACCESS_SECRET": "x" * 40, "DB_POOL_MIN_SIZE": "0"}
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/none"  # no connection is made at import
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True, timeout=60, cwd=ROOT
    )
    assert done.stdout.strip().splitlines()[-1] == "True ['scope', 'receive', 'send']"


def test_two_tenants_concurrently_then_after_every_connection_was_dropped(
    fluid: tuple[str, str], server_url: str
) -> None:
    url, database = fluid
    tenants = []
    for n in range(2):
        tenants.append(register(url, f"fluid{n}@example.com", "fluid password 123", f"Fluid {n}"))
    for tenant in tenants:
        for k in range(3):
            status, _ = call(url, "POST", "/projects", {"name": f"p{k}"}, tenant["access_token"])
            assert status == 201

    def read(n: int) -> tuple[int, Any, Any]:
        tenant = tenants[n % 2]
        _, me = call(url, "GET", "/auth/me", token=tenant["access_token"])
        _, projects = call(url, "GET", "/projects", token=tenant["access_token"])
        return n % 2, me, projects

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(read, range(40)))
    for index, me, projects in answers:
        organization = tenants[index]["organization"]["id"]
        assert me["organization"]["id"] == organization
        assert {p["organization_id"] for p in projects["items"]} == {organization}
        assert len(projects["items"]) == 3

    with psycopg.connect(server_url, autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()) AS terminated",
            (database,),
        ).fetchone()
    assert dropped is not None
    assert dropped[0] >= 1
    status, me = call(url, "GET", "/auth/me", token=tenants[0]["access_token"])
    # The pool's check finds the dead connection and opens another: never a 500.
    assert status == 200, me
    assert me["organization"]["id"] == tenants[0]["organization"]["id"]


def test_the_serverless_pool_settings_are_documented() -> None:
    guide = (ROOT / "docs" / "deploy-vercel.md").read_text()
    for variable in ("DB_POOL_MIN_SIZE=0", "DB_POOL_CHECK=true", "DB_POOL_MAX_IDLE_SECONDS", "MIGRATIONS_DATABASE_URL"):
        assert variable in guide
    assert Path(ROOT / ".env.example").read_text().count("DB_POOL_CHECK") >= 1
