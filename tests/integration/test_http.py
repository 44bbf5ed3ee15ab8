"""HTTP-level behaviour: problem+json for every error, body limits, request ids, health."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import falcon.testing
import psycopg
import pytest

from api.app import App
from db.migrate import head_revision
from tests.integration.conftest import Api, AppFactory, Tenant, run


def assert_problem(result: falcon.testing.Result, status: int) -> dict[str, object]:
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = result.json
    assert {"type", "title", "status", "detail", "request_id"} <= set(body)
    assert body["status"] == status
    assert body["request_id"] == result.headers["x-request-id"]
    return body


def test_unknown_route_and_wrong_method(api: Api, tenant: Tenant) -> None:
    assert_problem(api.get("/nowhere"), 404)
    assert_problem(api.delete("/projects", as_=tenant.admin), 405)
    assert_problem(api.call("PUT", "/auth/login"), 405)


def test_malformed_json_is_400(api: Api, tenant: Tenant) -> None:
    result = api.call("POST", "/projects", tenant.admin, body='{"name": ', headers={"Content-Type": "application/json"})
    assert_problem(result, 400)
    assert_problem(
        api.call("POST", "/projects", tenant.admin, body="", headers={"Content-Type": "application/json"}), 400
    )


def test_wrong_content_type_is_415(api: Api, tenant: Tenant) -> None:
    result = api.call("POST", "/projects", tenant.admin, body="name=x", headers={"Content-Type": "text/plain"})
    assert_problem(result, 415)
    assert_problem(api.call("POST", "/projects", tenant.admin, body='{"name":"x"}'), 415)


def test_body_over_one_mebibyte_is_413(api: Api, tenant: Tenant) -> None:
    big = '{"name": "' + "x" * (1024 * 1024) + '"}'
    result = api.call("POST", "/projects", tenant.admin, body=big, headers={"Content-Type": "application/json"})
    assert_problem(result, 413)
    assert api.get("/projects", as_=tenant.admin).json["items"] == []


def test_wrong_json_types_are_422_with_the_field(api: Api, tenant: Tenant) -> None:
    result = api.post("/projects", {"name": 42}, as_=tenant.admin)
    body = assert_problem(result, 422)
    assert body["errors"] == [{"field": "name", "message": "Expected `str`, got `int`"}]
    missing = assert_problem(api.post("/projects", {}, as_=tenant.admin), 422)
    assert missing["errors"] == [{"field": "name", "message": "is required"}]
    not_object = assert_problem(api.post("/projects", ["name"], as_=tenant.admin), 422)
    assert not_object["errors"] == [{"field": "$", "message": "Expected `object`, got `array`"}]


def test_names_are_trimmed_and_limited(api: Api, tenant: Tenant) -> None:
    assert_problem(api.post("/projects", {"name": "   "}, as_=tenant.admin), 422)
    assert_problem(api.post("/projects", {"name": "x" * 201}, as_=tenant.admin), 422)
    assert api.post("/projects", {"name": " " + "x" * 200 + " "}, as_=tenant.admin).status_code == 201


def test_request_id_is_the_clients_only_once_its_token_verified(api: Api, tenant: Tenant) -> None:
    echoed = api.get("/auth/me", as_=tenant.user, headers={"X-Request-ID": "trace-abc.123"})
    assert echoed.headers["x-request-id"] == "trace-abc.123"
    problem = api.get(f"/projects/{uuid.uuid4()}", as_=tenant.user, headers={"X-Request-ID": "trace-abc.123"})
    assert problem.status_code == 404
    assert problem.json["request_id"] == "trace-abc.123"
    # Anonymous callers, and callers whose token fails, get an id the server made.
    for anonymous in [
        api.get("/health/live", headers={"X-Request-ID": "trace-abc.123"}),
        api.get("/nowhere", headers={"X-Request-ID": "trace-abc.123"}),
        api.get("/auth/me", headers={"X-Request-ID": "trace-abc.123", "Authorization": "Bearer forged"}),
    ]:
        assert re.fullmatch(r"[0-9a-f]{32}", anonymous.headers["x-request-id"])
    for insane in ["x" * 200, "has space", 'quote"d']:
        replaced = api.get("/auth/me", as_=tenant.user, headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced)
    assert re.fullmatch(r"[0-9a-f]{32}", api.get("/auth/me", as_=tenant.user).headers["x-request-id"])


def test_health(api: Api) -> None:
    assert api.get("/health/live").json == {"status": "ok"}
    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "schema_revision": head_revision()}


def test_ready_is_503_on_an_unmigrated_database(make_api: AppFactory, empty_database: str) -> None:
    api = make_api(DATABASE_URL=empty_database)
    assert_problem(api.get("/health/ready"), 503)
    assert api.get("/health/live").status_code == 200


def test_database_unreachable_is_503_not_500(make_api: AppFactory) -> None:
    api = make_api(
        # Port 1 on loopback: nothing listens there, so connecting fails at once.
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
        DB_POOL_MIN_SIZE="0",
        DB_POOL_TIMEOUT_SECONDS="1",
    )
    result = api.post("/auth/login", {"email": "a@example.com", "password": "whatever-password"})
    assert_problem(result, 503)
    assert result.headers["retry-after"] == "1"
    assert_problem(api.get("/health/ready"), 503)


def test_refused_requests_return_their_connection_to_the_pool(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A 401 raised after the transaction began must still release the connection: more
    refusals than the pool has connections, then a normal request still gets through."""
    owner.execute("UPDATE iam.users SET is_active = false WHERE id = %s", [tenant.reader.user_id])
    for _ in range(10):
        assert api.get("/projects", as_=tenant.reader).status_code == 401
        assert api.post("/projects", {"name": ""}, as_=tenant.user).status_code == 422
        assert api.get(f"/projects/{'0' * 8}-0000-0000-0000-{'0' * 12}", as_=tenant.user).status_code == 404
    assert api.get("/projects", as_=tenant.user).status_code == 200


def test_unexpected_errors_are_500_without_internals(api: Api, tenant: Tenant, app: App) -> None:
    class Broken:
        async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            raise RuntimeError("secret internals")

    app.add_route("/broken", Broken())
    result = api.get("/broken", as_=tenant.admin, headers={"X-Request-ID": "boom-1"})
    body = assert_problem(result, 500)
    assert "secret" not in result.text
    assert body["request_id"] == "boom-1"


def test_nul_characters_are_422_not_500(api: Api, tenant: Tenant) -> None:
    """PostgreSQL text cannot hold NUL; JSON can send it as \\u0000."""
    login = api.post("/auth/login", {"email": "a\u0000@example.com", "password": "x" * 12})
    assert assert_problem(login, 422)["errors"] == [{"field": "email", "message": "must not contain NUL characters"}]
    assert_problem(api.post("/projects", {"name": "bad\u0000name"}, as_=tenant.admin), 422)
    assert_problem(api.post("/invitations/accept", {"token": "\u0000"}, as_=tenant.user), 422)
    assert api.get("/projects", as_=tenant.admin).json["items"] == []


def test_a_failed_commit_is_never_reported_as_success(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A deferred check that fails at COMMIT, after the responder succeeded: the client gets
    a problem, not a 201, and nothing is saved."""
    owner.execute(
        """CREATE FUNCTION iam.refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN RAISE EXCEPTION 'refused at commit'; END$$"""
    )
    owner.execute(
        """CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON iam.projects
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION iam.refuse_at_commit()"""
    )
    result = api.post("/projects", {"name": "Never saved"}, as_=tenant.admin, headers={"X-Request-ID": "commit-1"})
    body = assert_problem(result, 500)
    assert body["title"] == "Not saved"
    assert "refused at commit" not in result.text
    owner.execute("DROP TRIGGER refuse_at_commit ON iam.projects")
    assert api.get("/projects", as_=tenant.admin).json["items"] == []


def test_head_answers_wherever_get_does_without_a_body(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    paths = [
        "/health/live",
        "/health/ready",
        "/auth/me",
        "/organizations",
        "/members",
        "/invitations",
        "/roles",
        "/permissions",
        "/projects",
        f"/projects/{project['id']}",
        "/audit-events",
    ]
    for path in paths:
        got = api.get(path, as_=tenant.admin)
        head = api.call("HEAD", path, tenant.admin)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert "HEAD" in api.call("OPTIONS", path).headers["allow"], path
    # HEAD passes through the same checks as GET.
    assert api.call("HEAD", "/projects").status_code == 401
    assert api.call("HEAD", "/audit-events", tenant.reader).status_code == 403
    assert api.call("HEAD", f"/projects/{project['id']}", tenant.reader).status_code == 200
    assert api.call("HEAD", "/auth/login").status_code == 405


def test_the_body_is_read_before_the_transaction_begins(
    app: App, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    """The body arrives in pieces; while the app reads each, no transaction of it is open."""
    data = json.dumps({"name": "Read first", "description": "x" * 1900}).encode()
    pieces = [data[start : start + 256] for start in range(0, len(data), 256)]
    open_transactions: list[object] = []

    async def receive() -> dict[str, Any]:
        if not pieces:
            return {"type": "http.disconnect"}
        row = owner.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        ).fetchone()
        open_transactions.append(row[0] if row else None)
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = {**tenant.admin.headers, "Content-Type": "application/json", "Content-Length": str(len(data))}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/projects",
        "raw_path": b"/projects",
        "query_string": b"",
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    run(app(scope, receive, send))
    assert sent[0]["status"] == 201
    assert len(open_transactions) == len(range(0, len(data), 256))
    assert set(open_transactions) == {0}


@pytest.mark.parametrize(("setting", "prepares"), [("true", True), ("false", False)])
def test_prepared_statements_follow_the_setting(make_api: AppFactory, setting: str, prepares: bool) -> None:
    """Behind a transaction-mode pooler the API must prepare nothing (DB_PREPARED_STATEMENTS=false)."""
    api = make_api(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_PREPARED_STATEMENTS=setting)
    admin = api.register()
    api.create_project(admin)
    assert api.get("/projects", as_=admin).status_code == 200
    pool = api.pool
    assert pool is not None

    async def prepared_by_the_pool() -> dict[str, Any] | None:
        # The pool's one connection served every request above: what has it prepared?
        async with pool.connection() as connection:
            cursor = await connection.execute("SELECT count(*) AS n FROM pg_prepared_statements")
            return await cursor.fetchone()

    prepared = run(prepared_by_the_pool())
    assert prepared is not None
    assert (prepared["n"] > 0) is prepares


def test_a_statement_past_the_timeout_is_a_503_and_frees_the_connection(
    make_api: AppFactory, database_url: str
) -> None:
    api = make_api(DB_STATEMENT_TIMEOUT_MS="200", DB_POOL_MAX_SIZE="1")
    admin = api.register()
    project = api.create_project(admin)
    with psycopg.connect(database_url) as blocker:
        # Another transaction holds the row: the PATCH waits for its lock until the timeout.
        blocker.execute("SELECT 1 FROM iam.projects WHERE id = %s FOR UPDATE", [project["id"]])
        slow = api.patch(f"/projects/{project['id']}", {"name": "blocked"}, as_=admin)
        assert_problem(slow, 503)
        assert slow.headers["retry-after"]
        # The one pooled connection came back: the next request is served.
        assert api.get(f"/projects/{project['id']}", as_=admin).json["name"] == project["name"]
    assert api.patch(f"/projects/{project['id']}", {"name": "free"}, as_=admin).status_code == 200


def test_an_exhausted_pool_answers_503_within_its_timeout(make_api: AppFactory, database_url: str) -> None:
    api = make_api(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_POOL_TIMEOUT_SECONDS="1")
    admin = api.register()
    pool = api.pool
    assert pool is not None
    held = run(pool.getconn())  # the pool's only connection, taken by a request that never ends
    try:
        started = time.monotonic()
        result = api.get("/projects", as_=admin)
        waited = time.monotonic() - started
    finally:
        run(pool.putconn(held))
    assert_problem(result, 503)
    assert result.headers["retry-after"] == "1"
    assert 0.9 <= waited < 3
    assert api.get("/projects", as_=admin).status_code == 200


def test_a_cancelled_request_gives_its_connection_back(
    make_api: AppFactory, database_url: str, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    """A client that goes away mid-request gets its call cancelled by the server: Falcon runs
    no middleware then, and the transaction must still end and its connection come back."""
    api = make_api(DB_POOL_MAX_SIZE="1", DB_LOCK_TIMEOUT_MS="20000", DB_STATEMENT_TIMEOUT_MS="20000")
    admin = api.register()
    project = api.create_project(admin)
    path = f"/projects/{project['id']}"
    with psycopg.connect(database_url) as blocker:
        blocker.execute("SELECT 1 FROM iam.projects WHERE id = %s FOR UPDATE", [project["id"]])

        async def cancel_a_waiting_patch() -> None:
            clients = falcon.testing.ASGIConductor(api.client.app)
            patch = asyncio.create_task(clients.simulate_patch(path, json={"name": "never"}, headers=admin.headers))
            await asyncio.sleep(0.5)  # inside its transaction, waiting for the row lock
            patch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await patch

        run(cancel_a_waiting_patch())
        blocker.rollback()
    # The pool's only connection is back: the next request is served, and nothing is left open.
    after = api.get(path, as_=admin)
    assert after.status_code == 200, after.json
    assert after.json["name"] == project["name"]
    left_open = owner.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
    ).fetchone()
    assert left_open == (0,)
