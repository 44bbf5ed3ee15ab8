"""/metrics under gunicorn with two workers: prometheus-client's multiprocess mode sums what
every worker counted, whichever worker answers the scrape; METRICS_TOKEN guards it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.acceptance.conftest import Server, log_lines, serving_fresh_database

pytestmark = pytest.mark.gunicorn

TOKEN = "metrics-" + "t" * 32


@pytest.fixture(scope="module")
def metrics_server(
    server_url: str, template_database: str, owner_role: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {"JWT_ACCESS_SECRET": "metrics-" + "m" * 40, "WEB_CONCURRENCY": "2", "METRICS_TOKEN": TOKEN}
    folder = tmp_path_factory.mktemp("metrics")
    with serving_fresh_database(server_url, template_database, owner_role, folder, env) as running:
        yield running


def get(url: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode(), response.headers.get("X-Request-ID", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), ""


def total(text: str, route: str) -> float:
    pattern = rf'^http_requests_total\{{[^}}]*route="{re.escape(route)}"[^}}]*\}} (\S+)$'
    return sum(float(found) for found in re.findall(pattern, text, re.MULTILINE))


def test_the_scrape_sums_every_worker_and_needs_the_token(metrics_server: Server) -> None:
    url = metrics_server.url
    assert get(f"{url}/metrics")[0] == 401
    assert get(f"{url}/metrics", "wrong" * 8)[0] == 401

    # Requests until both workers have served some (their request lines say which): each
    # worker alone then counted fewer than were sent. A few dozen can all land on one.
    sent = 0
    served_by: set[int] = set()
    while len(served_by) < 2:
        assert sent < 1000, "one worker served every request"
        with ThreadPoolExecutor(max_workers=32) as pool:
            statuses = list(pool.map(lambda _: get(f"{url}/roles")[0], range(100)))
        assert statuses == [401] * 100  # no token: counted all the same, by route and status
        sent += 100
        served_by = {line["pid"] for line in log_lines(metrics_server.log) if line.get("route") == "/roles"}
    # Whichever worker answers, the scrape sees them all.
    for _ in range(4):
        status, text, _ = get(f"{url}/metrics", TOKEN)
        assert status == 200
        assert total(text, "/roles") == sent
    assert f'token_rejections_total{{reason="missing"}} {float(sent)}' in text
    assert "db_pool_connections " in text
    assert "http_request_duration_seconds_bucket" in text
