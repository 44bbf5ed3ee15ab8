"""PostgreSQL goes away under load and comes back: gunicorn answers 503 with Retry-After in
the meantime (never a 500, never a hang past the pool timeout), /health/ready says so, and
once the server is back the API serves again without a restart. No acknowledged create is
lost; a create that got an error exists only where the client could not know (its commit
was cut: "Outcome unknown")."""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from db.migrate import upgrade
from tests.acceptance.conftest import register
from tests.servers import private_cluster, running_gunicorn

pytestmark = pytest.mark.gunicorn

OWNER = "restart_owner"
POOL_TIMEOUT_SECONDS = 2


def ready(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def create(url: str, token: str, name: str) -> tuple[int, Any, float]:
    request = urllib.request.Request(  # noqa: S310
        f"{url}/projects",
        data=json.dumps({"name": name}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read()), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, (json.loads(error.read()), error.headers.get("Retry-After")), time.monotonic() - started


def test_creates_survive_a_database_restart(tmp_path: Any) -> None:
    with private_cluster() as cluster:
        with psycopg.connect(cluster.url, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {OWNER} LOGIN CREATEROLE CREATEDB BYPASSRLS")
            admin.execute(f"CREATE DATABASE iam OWNER {OWNER}")
        database_url = make_conninfo(cluster.url, user=OWNER, dbname="iam")
        upgrade(database_url)
        env = {
            **os.environ,
            "APP_ENV": "test",
            "EMAIL_VERIFICATION": "optional",
            "DATABASE_URL": database_url,
            "JWT_ACCESS_SECRET": "restart-" + "r" * 40,
            "WEB_CONCURRENCY": "2",
            "DB_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_SECONDS),
        }
        with running_gunicorn(env, tmp_path / "server.log") as (url, _):
            token = register(url, "restart@example.com", "restart password 1", "R")["access_token"]

            outcomes: list[tuple[str, int, Any, float]] = []
            names = (f"p{n}" for n in itertools.count())
            lock = threading.Lock()
            stop = threading.Event()

            def load() -> None:
                while not stop.is_set():
                    with lock:
                        name = next(names)
                    status, body, seconds = create(url, token, name)
                    with lock:
                        outcomes.append((name, status, body, seconds))

            workers = [threading.Thread(target=load) for _ in range(4)]
            for worker in workers:
                worker.start()
            time.sleep(1.5)
            cluster.stop()
            time.sleep(POOL_TIMEOUT_SECONDS + 1)
            down = ready(url)
            cluster.start()
            deadline = time.monotonic() + 30
            while ready(url) != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            back = ready(url)
            time.sleep(1.5)  # creates go on against the restarted server
            stop.set()
            for worker in workers:
                worker.join(timeout=60)

        with psycopg.connect(database_url) as owner:
            stored = {name for (name,) in owner.execute("SELECT name FROM iam.projects")}

    assert down == 503
    assert back == 200
    statuses = {status for _, status, _, _ in outcomes}
    assert statuses <= {201, 503}, statuses  # never a 500
    acknowledged = {name for name, status, _, _ in outcomes if status == 201}
    failed = [(name, body) for name, status, body, _ in outcomes if status != 201]
    assert failed, "the outage was seen"
    assert acknowledged <= stored, "an acknowledged create was lost"
    for name, (problem, retry_after) in failed:
        assert retry_after, problem
        if name in stored:
            assert problem["title"] == "Outcome unknown", (name, problem)
    # No answer waited much past the pool timeout while the database was away.
    assert max(seconds for _, _, _, seconds in outcomes) < POOL_TIMEOUT_SECONDS + 5
    # And the API served creates again after the restart, without being restarted itself.
    last_failure = max(int(name[1:]) for name, _ in failed)
    assert any(int(name[1:]) > last_failure for name in acknowledged)
