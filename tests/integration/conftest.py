"""The API in-process (falcon.testing) over a fresh database per test, plus helpers that
speak to it as real clients do."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import falcon.testing
import jwt
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from api.app import create_app
from api.auth.access_tokens import TokenSubject, secret_key
from api.auth.passwords import Passwords
from api.context import begin
from api.database import Connection, Database, Transaction, create_pool
from api.observability import request_log
from api.observability.logs import JsonLines
from api.settings import Settings

Sql = psycopg.Connection[tuple[object, ...]]

PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-" + "x" * 60  # long enough for the HS512 forgery test


# Every secret the suite sent or was given: passwords, access, refresh and invitation tokens,
# password hashes. No log line of the whole session may contain one (captured_logs).
SECRETS: set[str] = {PASSWORD}
API_CALLS: list[str] = []  # one entry per request made through Api
SECRET_FIELDS = ("access_token", "refresh_token", "token", "invitation_token", "password", "current_password")


def remember_secrets(body: Any) -> None:
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, str) and len(value) >= 8 and (key in SECRET_FIELDS or key.endswith("password")):
                SECRETS.add(value)


class RecordingPasswords(Passwords):
    def hash(self, password: str) -> str:
        hashed = super().hash(password)
        SECRETS.update((password, hashed))
        return hashed


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    return RecordingPasswords()


@pytest.fixture(scope="session", autouse=True)
def captured_logs() -> Iterator[None]:
    """Every log record of the session at every level, formatted as the server writes them;
    at the end, none may contain a secret the suite used. (gunicorn's own log and request
    lines are checked the same way in tests/acceptance.)"""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Request lines skip the logging module (api/observability/request_log.py): read them where they go.
    to_stdout = request_log.write_line
    request_log.write_line = lambda line: buffer.write(line.decode())  # type: ignore[assignment]
    try:
        yield
    finally:
        request_log.write_line = to_stdout
        root.removeHandler(handler)
        root.setLevel(previous)
    text = buffer.getvalue()
    # Every request through Api wrote its line: the capture cannot have missed the log.
    assert text.count('"logger":"api.request"') >= len(API_CALLS), "the request lines were captured"
    leaked = [secret[:12] + "..." for secret in SECRETS if secret in text]
    assert not leaked, f"{len(leaked)} secrets reached the log: {leaked}"


def settings_for(database_url: str, **overrides: str) -> Settings:
    return Settings.from_env(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_ACCESS_SECRET": TEST_SECRET,
            "DB_POOL_MAX_SIZE": "4",
            **overrides,
        }
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
def pool(settings: Settings) -> Iterator[ConnectionPool[Connection]]:
    with create_pool(settings, open_now=False) as opened:
        opened.wait()
        yield opened


@pytest.fixture
def database(pool: ConnectionPool[Connection]) -> Database:
    return Database(pool)


@dataclass(frozen=True)
class Session:
    """A logged-in user: their tokens and ids."""

    token: str
    user_id: str
    organization_id: str
    email: str
    session_id: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """A thin client: every call goes through the real app, middleware and database."""

    def __init__(self, client: falcon.testing.TestClient, pool: ConnectionPool[Connection] | None = None) -> None:
        self.client = client
        self.pool = pool  # the app's own pool, when the test made the app (make_api)

    def call(
        self, method: str, path: str, as_: Session | None = None, json: Any = None, **kwargs: Any
    ) -> falcon.testing.Result:
        headers = dict(kwargs.pop("headers", {}))
        if as_ is not None:
            headers.update(as_.headers)
        remember_secrets(json)
        API_CALLS.append(path)
        result = self.client.simulate_request(method, path, headers=headers, json=json, **kwargs)
        if result.content and result.headers.get("content-type", "").startswith("application/json"):
            remember_secrets(result.json)
        return result

    def get(self, path: str, as_: Session | None = None, **kwargs: Any) -> falcon.testing.Result:
        return self.call("GET", path, as_, **kwargs)

    def post(self, path: str, json: Any = None, as_: Session | None = None, **kwargs: Any) -> falcon.testing.Result:
        return self.call("POST", path, as_, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, as_: Session | None = None, **kwargs: Any) -> falcon.testing.Result:
        return self.call("PATCH", path, as_, json=json, **kwargs)

    def delete(self, path: str, as_: Session | None = None, **kwargs: Any) -> falcon.testing.Result:
        return self.call("DELETE", path, as_, **kwargs)

    @staticmethod
    def session_of(result: falcon.testing.Result) -> Session:
        assert result.status_code in (200, 201), result.json
        body = result.json
        return Session(
            body["access_token"],
            body["user"]["id"],
            body["organization"]["id"],
            body["user"]["email"],
            body["session_id"],
            body["refresh_token"],
        )

    def register(self, email: str | None = None, organization: str = "Acme") -> Session:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        return self.session_of(
            self.post("/auth/register", {"email": email, "password": PASSWORD, "organization_name": organization})
        )

    def login(self, email: str, organization_id: str | None = None) -> Session:
        body: dict[str, Any] = {"email": email, "password": PASSWORD}
        if organization_id:
            body["organization_id"] = organization_id
        return self.session_of(self.post("/auth/login", body))

    def invite(self, admin: Session, email: str, role: str) -> str:
        result = self.post("/invitations", {"email": email, "role": role}, as_=admin)
        assert result.status_code == 201, result.json
        token: str = result.json["token"]
        return token

    def add_member(self, admin: Session, role: str, email: str | None = None) -> Session:
        """A new user who joined the admin's organization through an invitation."""
        email = email or f"{role.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        token = self.invite(admin, email, role)
        return self.session_of(
            self.post("/auth/register", {"email": email, "password": PASSWORD, "invitation_token": token})
        )

    def create_project(self, member: Session, name: str | None = None) -> dict[str, Any]:
        result = self.post("/projects", {"name": name or f"project-{uuid.uuid4().hex[:8]}"}, as_=member)
        assert result.status_code == 201, result.json
        project: dict[str, Any] = result.json
        return project


def begin_as(database: Database, session: Session | None, *, read_only: bool) -> Transaction:
    """Opens a request transaction exactly as the API does for this session (or none)."""
    subject = None
    if session is not None:
        subject = TokenSubject(
            uuid.UUID(session.user_id), uuid.UUID(session.organization_id), uuid.UUID(session.session_id)
        )
    transaction, _ = begin(database, read_only=read_only, request_id="test", subject=subject)
    return transaction


def sign(claims: dict[str, Any], secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    """A token as the server would sign it with this secret (the kid included)."""
    return jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": secret_key(secret, signing=True).kid})


@pytest.fixture
def app(settings: Settings, pool: ConnectionPool[Connection], passwords: Passwords) -> falcon.App[Any, Any]:
    return create_app(settings, pool, passwords)


@pytest.fixture
def api(app: falcon.App[Any, Any]) -> Api:
    return Api(falcon.testing.TestClient(app))


AppFactory = Callable[..., Api]


@pytest.fixture
def make_api(database_url: str, passwords: Passwords) -> Iterator[AppFactory]:
    """Another instance of the app on this test's database, with its own settings (the
    environment's names as keywords) and pool: as a second server or serverless instance."""
    pools: list[ConnectionPool[Connection]] = []

    def make(passwords_: Passwords | None = None, **env: str) -> Api:
        settings = settings_for(database_url, **env)
        pool = create_pool(settings, open_now=False)
        pool.open(wait=True)
        pools.append(pool)
        return Api(falcon.testing.TestClient(create_app(settings, pool, passwords_ or passwords)), pool)

    yield make
    for pool in pools:
        pool.close()


@dataclass(frozen=True)
class Tenant:
    """An organization with one member of each role."""

    admin: Session
    user: Session
    reader: Session

    def as_role(self, role: str) -> Session:
        return {"ORG_ADMIN": self.admin, "ORG_USER": self.user, "READ_ONLY": self.reader}[role]


@pytest.fixture
def tenant(api: Api) -> Tenant:
    admin = api.register(organization="Tenant A")
    return Tenant(admin, api.add_member(admin, "ORG_USER"), api.add_member(admin, "READ_ONLY"))


@pytest.fixture
def other_tenant(api: Api) -> Tenant:
    admin = api.register(organization="Tenant B")
    return Tenant(admin, api.add_member(admin, "ORG_USER"), api.add_member(admin, "READ_ONLY"))


# DBAs: humans in psql, connected as their own login roles ---------------------------


@pytest.fixture
def login_role(server_url: str, owner_role: str) -> Iterator[Callable[[bool], str]]:
    """Makes LOGIN roles (cluster-wide, so uniquely named and dropped afterwards). The schema
    owner administers them, as when it creates them itself (the README's way): that lets
    iam.grant_tenant_access bound their sessions on PostgreSQL 16+ too."""
    made: list[str] = []

    def make(in_iam_dba: bool = True) -> str:
        name = f"dba_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            admin.execute(
                sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(sql.Identifier(name), sql.Identifier(owner_role))
            )
            if in_iam_dba:
                admin.execute(sql.SQL("GRANT iam_dba TO {}").format(sql.Identifier(name)))
        made.append(name)
        return name

    yield make
    with psycopg.connect(server_url, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def connect_as(database_url: str) -> Iterator[Callable[[str], Sql]]:
    opened: list[Sql] = []

    def connect(role: str) -> Sql:
        connection = psycopg.connect(make_conninfo(database_url, user=role), autocommit=True)
        opened.append(connection)
        return connection

    yield connect
    for connection in opened:
        connection.close()


@pytest.fixture
def granted_dba(
    owner: Sql, login_role: Callable[[bool], str], connect_as: Callable[[str], Sql]
) -> Callable[[str], tuple[str, Sql]]:
    """A new DBA login granted one organization, connected, nothing selected yet."""

    def make(organization_id: str) -> tuple[str, Sql]:
        role = login_role(True)
        owner.execute("SELECT iam.grant_tenant_access(%s, %s)", [role, organization_id])
        return role, connect_as(role)

    return make
