"""The HTTP API behind PgBouncer in transaction mode (as on Supabase's port 6543), with a
server pool smaller than the concurrent clients and DB_PREPARED_STATEMENTS=false: every
route through the fuzzing run, and two tenants' concurrent requests, each answer checked
against its caller's tenant. The tenant context is transaction-local, so a server
connection handed from one client to the next carries nothing over."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import falcon
import falcon.testing
import pytest
import schemathesis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.app import create_app
from api.auth.passwords import Passwords
from api.database import create_pool
from tests.integration.conftest import Api, settings_for
from tests.integration.test_fuzzing import fuzz
from tests.pgbouncer import SERVER_POOL_SIZE, running_pgbouncer

CLIENTS = 12


@pytest.fixture(scope="session")
def pgbouncer(server_url: str, owner_role: str) -> Iterator[str]:
    with running_pgbouncer(server_url, owner_role) as url:
        yield url


@pytest.fixture
def pooled_app(database_url: str, pgbouncer: str, passwords: Passwords) -> Iterator[falcon.App[Any, Any]]:
    through = make_conninfo(pgbouncer, dbname=conninfo_to_dict(database_url)["dbname"])
    settings = settings_for(through, DB_PREPARED_STATEMENTS="false", DB_POOL_MAX_SIZE=str(CLIENTS))
    with create_pool(settings, open_now=False) as pool:
        pool.open(wait=True)
        yield create_app(settings, pool, passwords)


def test_every_route_keeps_its_contract_through_pgbouncer(pooled_app: falcon.App[Any, Any]) -> None:
    api = Api(falcon.testing.TestClient(pooled_app))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", pooled_app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 30
    for operation in operations:
        fuzz(operation, api.register(organization="Pooled").token, examples=10)


def test_two_tenants_at_once_each_see_only_their_own(pooled_app: falcon.App[Any, Any]) -> None:
    assert CLIENTS > SERVER_POOL_SIZE
    api = Api(falcon.testing.TestClient(pooled_app))
    tenants = [api.register(organization=f"Bounced {n}") for n in range(2)]
    owned = {tenant.organization_id: {api.create_project(tenant)["id"] for _ in range(3)} for tenant in tenants}

    def request(n: int) -> tuple[str, str, set[str], int]:
        tenant = tenants[n % 2]
        me = api.get("/auth/me", as_=tenant).json
        listed = {p["id"] for p in api.get("/projects?limit=200", as_=tenant).json["items"]}
        created = api.post("/projects", {"name": f"c{n}"}, as_=tenant)
        return tenant.organization_id, me["organization"]["id"], listed, created.status_code

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(request, range(120)))
    for organization, seen, listed, created in answers:
        assert seen == organization
        assert owned[organization] <= listed
        others = next(ids for org, ids in owned.items() if org != organization)
        assert not listed & others
        assert created == 201
    for tenant in tenants:
        projects = api.get("/projects?limit=200", as_=tenant).json["items"]
        assert {p["organization_id"] for p in projects} == {tenant.organization_id}
        assert len(projects) == 3 + 60
