"""The HTTP API behind PgBouncer in transaction mode (as on Supabase's port 6543), with a
server pool smaller than the concurrent clients and DB_PREPARED_STATEMENTS=false: every
route through the fuzzing run, and two tenants' concurrent requests, each answer checked
against its caller's tenant. The tenant context is transaction-local, so a server
connection handed from one client to the next carries nothing over."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.acceptance.conftest import Server, call, register, serving_fresh_database
from tests.acceptance.test_fuzzing import fuzz_every_operation
from tests.pgbouncer import SERVER_POOL_SIZE, running_pgbouncer

pytestmark = pytest.mark.gunicorn

CLIENTS = 12


@pytest.fixture(scope="module")
def bounced(
    server_url: str, template_database: str, owner_role: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The API, two workers with CLIENTS connections each at most, through PgBouncer."""
    env = {
        "JWT_ACCESS_SECRET": "pgbouncer-" + "b" * 40,
        "WEB_CONCURRENCY": "2",
        "DB_PREPARED_STATEMENTS": "false",
        "DB_POOL_MAX_SIZE": str(CLIENTS),
    }
    folder = tmp_path_factory.mktemp("pgbouncer")
    with (
        running_pgbouncer(server_url, owner_role) as pooler,
        serving_fresh_database(server_url, template_database, owner_role, folder, env, through=pooler) as running,
    ):
        yield running


def test_every_route_keeps_its_contract_through_pgbouncer(bounced: Server) -> None:
    fuzz_every_operation(bounced.url, examples=10)


def test_two_tenants_at_once_each_see_only_their_own(bounced: Server) -> None:
    assert CLIENTS > SERVER_POOL_SIZE
    url = bounced.url
    tenants = [register(url, f"bounced{n}@example.com", "bounced password 1", f"Bounced {n}") for n in range(2)]
    owned: dict[str, set[str]] = {}
    for tenant in tenants:
        owned[tenant["organization"]["id"]] = {
            call(url, "POST", "/projects", {"name": f"p{k}"}, tenant["access_token"])[1]["id"] for k in range(3)
        }

    def request(n: int) -> tuple[str, str, set[str], int]:
        tenant = tenants[n % 2]
        token = tenant["access_token"]
        _, me = call(url, "GET", "/auth/me", token=token)
        _, listed = call(url, "GET", "/projects?limit=200", token=token)
        created, _ = call(url, "POST", "/projects", {"name": f"c{n}"}, token)
        return tenant["organization"]["id"], me["organization"]["id"], {p["id"] for p in listed["items"]}, created

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers: list[Any] = list(pool.map(request, range(120)))
    for organization, seen, listed, created in answers:
        assert seen == organization
        assert owned[organization] <= listed
        others = next(ids for org, ids in owned.items() if org != organization)
        assert not listed & others
        assert created == 201
    for tenant in tenants:
        _, projects = call(url, "GET", "/projects?limit=200", token=tenant["access_token"])
        assert {p["organization_id"] for p in projects["items"]} == {tenant["organization"]["id"]}
        assert len(projects["items"]) == 3 + 60
