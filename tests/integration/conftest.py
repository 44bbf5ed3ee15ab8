"""The API in-process (falcon.testing) over a fresh database per test, plus helpers that
speak to it as real clients do.

The app is an ASGI app: falcon.testing runs each request on one module-wide event loop
(`run`). Requests that must overlap go through `Api.parallel`, which gathers them on that
loop. SQL-level checks open transactions exactly as the API does (the same opening
statements), on plain synchronous connections (`begin_as`)."""

from __future__ import annotations

import asyncio
import atexit
import email
import email.policy
import io
import logging
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import falcon
import falcon.asgi
import falcon.testing
import jwt
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import DictRow, dict_row

from api.app import App, create_app
from api.auth.access_tokens import secret_key
from api.auth.passwords import Passwords
from api.context import OPENINGS
from api.database import Pool, create_pool
from api.mail.outbox import Delivered, Outbox
from api.observability import request_log
from api.observability.logs import JsonLines
from api.settings import Settings
from db.queries import QUERIES
from tests.mail_server import token_in

Sql = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")


def run(awaitable: Awaitable[T]) -> T:
    """Runs a coroutine on the event loop falcon.testing runs the app on."""

    async def wrapped() -> T:
        return await awaitable

    return falcon.async_to_sync(wrapped)


PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-" + "x" * 60  # long enough for the HS512 forgery test


# Every secret the suite sent or was given: passwords, access, refresh and invitation tokens,
# password hashes. No log line of the whole session may contain one (captured_logs).
SECRETS: set[str] = {PASSWORD}
API_CALLS: list[str] = []  # one entry per request made through Api
SECRET_FIELDS = ("access_token", "refresh_token", "token", "invitation_token", "password", "current_password", "key")


def remember_secrets(body: Any) -> None:
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, str) and len(value) >= 8 and (key in SECRET_FIELDS or key.endswith("password")):
                SECRETS.add(value)


class RecordingPasswords(Passwords):
    async def hash(self, password: str) -> str:
        hashed = await super().hash(password)
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


# A fresh folder per test session: mail of an earlier run must not answer for this one.
TEST_MAIL_DIR = Path(tempfile.mkdtemp(prefix="tenant-iam-test-mail-"))
atexit.register(shutil.rmtree, TEST_MAIL_DIR, ignore_errors=True)
MAILED_FILES: dict[str, EmailMessage] = {}


def settings_for(database_url: str, **overrides: str) -> Settings:
    return Settings.from_env(
        {
            "APP_ENV": "test",
            "DATABASE_URL": database_url,
            "JWT_ACCESS_SECRET": TEST_SECRET,
            "DB_POOL_MAX_SIZE": "4",
            # Every test registers its users from the test client's one address.
            "REGISTRATIONS_PER_ADDRESS": "1000000",
            # Tests register accounts and use them at once; required verification is tested apart.
            "EMAIL_VERIFICATION": "optional",
            # Without SMTP_URL mail goes to files: never into the checkout.
            "MAIL_DIR": str(TEST_MAIL_DIR),
            **overrides,
        }
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(database_url)


@pytest.fixture
def pool(settings: Settings) -> Iterator[Pool]:
    """The app's pool: it opens with the first request, on falcon.testing's event loop."""
    opened = create_pool(settings)
    yield opened
    run(opened.close())


class SqlTransaction:
    """A request's transaction the way the API opens it (api/context.py's opening statements,
    as iam_api, in a session's context), on a synchronous connection of its own: for
    checks that go straight to SQL, with no Python permission check in the way."""

    def __init__(self, connection: psycopg.Connection[DictRow]) -> None:
        self.connection = connection

    def one(self, query: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return self.connection.execute(QUERIES[query], params).fetchone()

    def all(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.connection.execute(QUERIES[query], params).fetchall()

    def end(self, *, commit: bool) -> None:
        try:
            self.connection.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self.connection.close()


@dataclass(frozen=True)
class SqlDatabase:
    url: str


@pytest.fixture
def database(database_url: str) -> SqlDatabase:
    return SqlDatabase(database_url)


@dataclass(frozen=True)
class Session:
    """A logged-in user: their tokens and ids."""

    token: str
    user_id: str
    organization_id: str  # "" for a session with no organization
    email: str
    session_id: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


Call = tuple[str, str, dict[str, Any]]  # method, path, and call()'s keywords


class Client(falcon.testing.TestClient):
    """falcon's TestClient, minus the ASGI lifespan it simulates around every request (the
    app's start-up opens its pool and its shut-down closes it, for good). Here the pool
    opens with the first request, as on a serverless instance, and the test closes it."""

    def simulate_request(self, *args: Any, **kwargs: Any) -> falcon.testing.Result:
        conductor = falcon.testing.ASGIConductor(self.app, headers=self._default_headers)
        result: falcon.testing.Result = run(conductor.simulate_request(*args, **kwargs))
        return result


class Api:
    """A thin client: every call goes through the real app, middleware and database."""

    @property
    def outbox(self) -> Outbox:
        app = self.client.app
        assert isinstance(app, App)
        return app.outbox

    def deliver_mail(self) -> Delivered:
        """The deliveries requests started (which only run while the test's event loop
        does), then one round of the app's outbox, as its loop would run it."""

        async def settle_and_deliver() -> Delivered:
            await self.outbox.settle()
            return await self.outbox.deliver_due()

        return run(settle_and_deliver())

    def __init__(self, client: Client, pool: Pool | None = None) -> None:
        self.client = client
        self.pool = pool  # the app's own pool, when the test made the app (make_api)

    @staticmethod
    def _prepare(path: str, as_: Session | None, json: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        headers = dict(kwargs.pop("headers", {}))
        if as_ is not None:
            headers.update(as_.headers)
        remember_secrets(json)
        API_CALLS.append(path)
        return {"headers": headers, "json": json, **kwargs}

    @staticmethod
    def _received(result: falcon.testing.Result) -> falcon.testing.Result:
        if result.content and result.headers.get("content-type", "").startswith("application/json"):
            remember_secrets(result.json)
        return result

    def call(
        self, method: str, path: str, as_: Session | None = None, json: Any = None, **kwargs: Any
    ) -> falcon.testing.Result:
        prepared = self._prepare(path, as_, json, kwargs)
        return self._received(self.client.simulate_request(method, path, **prepared))

    def parallel(self, calls: list[Call]) -> list[falcon.testing.Result]:
        """The calls at once, interleaved on the app's event loop (as concurrent clients)."""
        conductor = falcon.testing.ASGIConductor(self.client.app)  # not entered: no lifespan events

        async def all_at_once() -> list[falcon.testing.Result]:
            requests = []
            for method, path, keywords in calls:
                keywords = dict(keywords)
                prepared = self._prepare(path, keywords.pop("as_", None), keywords.pop("json", None), keywords)
                requests.append(conductor.simulate_request(method, path, **prepared))
            return list(await asyncio.gather(*requests))

        return [self._received(result) for result in run(all_at_once())]

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
            body["organization"]["id"] if body["organization"] else "",
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
        """The token of a new invitation, from the mail sent to the invited address."""
        return self.invitation(admin, email, role)[1]

    def invitation(self, admin: Session, email: str, role: str) -> tuple[dict[str, Any], str]:
        """A new invitation's answer, and the token mailed to the invited address."""
        result = self.post("/invitations", {"email": email, "role": role}, as_=admin)
        assert result.status_code == 201, result.json
        return result.json, self.mailed_token(result.json["email"], "accept-invitation")

    def mailed(self, recipient: str) -> list[EmailMessage]:
        """Every message delivered to the recipient (as files: tests run without SMTP_URL), oldest first."""
        self.deliver_mail()
        for path in sorted(TEST_MAIL_DIR.glob("*.eml")):
            if path.name not in MAILED_FILES:  # each file is read once in the whole session
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                MAILED_FILES[path.name] = message
        return [message for _, message in sorted(MAILED_FILES.items()) if message["To"] == recipient]

    def verify_email(self, session: Session) -> None:
        """Proves the session's address with the link mailed to it at registration."""
        token = self.mailed_token(session.email, "verify-email")
        assert self.post("/auth/verify-email", {"token": token}).status_code == 200

    def mailed_token(self, recipient: str, page: str) -> str:
        """The token of the newest link to `page` (accept-invitation, reset-password) mailed to the recipient."""
        for message in reversed(self.mailed(recipient)):
            if f"/{page}?token=" in message.get_content():
                return token_in(message, page)
        raise AssertionError(f"no {page} link was mailed to {recipient}")

    def add_member(self, admin: Session, role: str, email: str | None = None) -> Session:
        """A new user who joined the admin's organization through an invitation."""
        email = email or f"{role.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        token = self.invite(admin, email, role)
        return self.session_of(
            self.post("/auth/register", {"email": email, "password": PASSWORD, "invitation_token": token})
        )

    def api_key(self, admin: Session, role: str, **fields: Any) -> Session:
        """A new API key of the admin's organization, as a credential: its token is the key
        (no user, no session)."""
        result = self.post("/api-keys", {"name": f"{role.lower()} key", "role": role, **fields}, as_=admin)
        assert result.status_code == 201, result.json
        return Session(
            token=result.json["key"],
            user_id="",
            organization_id=admin.organization_id,
            email="",
            session_id=result.json["id"],  # the key's id, for tests that revoke or change it
            refresh_token="",
        )

    def create_project(self, member: Session, name: str | None = None) -> dict[str, Any]:
        result = self.post("/projects", {"name": name or f"project-{uuid.uuid4().hex[:8]}"}, as_=member)
        assert result.status_code == 201, result.json
        project: dict[str, Any] = result.json
        return project


def begin_as(database: SqlDatabase, session: Session | None, *, read_only: bool) -> SqlTransaction:
    """Opens a request transaction exactly as the API does for this session (or none)."""
    connection = psycopg.connect(database.url, autocommit=True, row_factory=dict_row)
    with psycopg.ClientCursor(connection, row_factory=dict_row) as cursor:
        cursor.execute(
            OPENINGS[read_only],
            {
                "user_id": session.user_id if session else None,
                "org_id": (session.organization_id or None) if session else None,
                "session_id": session.session_id if session else None,
                "request_id": "test",
                "statement_timeout_ms": 5000,
                "lock_timeout_ms": 5000,
            },
        )
    return SqlTransaction(connection)


def sign(claims: dict[str, Any], secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    """A token as the server would sign it with this secret (the kid included)."""
    return jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": secret_key(secret, signing=True).kid})


@pytest.fixture
def app(settings: Settings, pool: Pool, passwords: Passwords) -> App:
    return create_app(settings, pool, passwords)


@pytest.fixture
def api(app: App) -> Api:
    return Api(Client(app))


AppFactory = Callable[..., Api]


@pytest.fixture
def make_api(database_url: str, passwords: Passwords) -> Iterator[AppFactory]:
    """Another instance of the app on this test's database, with its own settings (the
    environment's names as keywords) and pool: as a second server or serverless instance."""
    pools: list[Pool] = []

    def make(passwords_: Passwords | None = None, **env: str) -> Api:
        settings = settings_for(database_url, **env)
        pool = create_pool(settings)
        pools.append(pool)
        return Api(Client(create_app(settings, pool, passwords_ or passwords)), pool)

    yield make
    for pool in pools:
        run(pool.close())


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
