"""What a request runs as, inside which transaction, and what it may do: the one module to
read for "where does a request get its transaction and its permission check".

- `Access`: what a resource needs, declared as its class attribute `access`.
- `begin()`: the **one place** that sets tenant context. In one round trip it sends BEGIN
  (READ ONLY for GET/HEAD), the statement and lock timeouts, SET LOCAL ROLE iam_api and
  iam.enter_context(), which sets the transaction-local `app.*` settings and returns the
  caller's membership and live session. Nothing else writes `app.*`.
- `begin_with_key()`: the same for an organization API key (iam.enter_api_key_context): the
  request runs in the key's organization with the key's role, under the same policies.
- `TransactionMiddleware`: verifies the access token (or reads the API key), reads the body,
  then opens the request's transaction with `begin()`; commits when the responder succeeded,
  rolls back otherwise. No caller row: 401.
- `@requires("projects:write")`: a responder's permission check, a clear 403 before any
  query runs. The policies in PostgreSQL are the boundary; this only names the refusal.
  /openapi.json reads the same declaration (`declared_security`).
- `transaction(req)`, `caller(req)`, `request_id(req)`: what resources read.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import falcon
import psycopg
from falcon.asgi import Request, Response

from api.auth.access_tokens import AccessTokens, InvalidToken, TokenSubject
from api.auth.api_key_throttle import ApiKeyThrottle, too_many_refused_keys
from api.auth.api_keys import ApiKey, looks_like_api_key, parse_api_key, prefix_of
from api.database import Database, Row, Transaction
from api.http.bearer import bearer_token
from api.http.body import read_body
from api.http.openapi import Needs
from api.http.problems import answer_with_problem, database_problem, mfa_required, problem, unauthorized
from api.observability.metrics import TOKEN_REJECTIONS
from db.queries import QUERIES

Responder = TypeVar("Responder", bound=Callable[..., Any])

SESSION_ENDED = "The session has ended, or its user is no longer an active member of its organization."
KEY_REFUSED = "The API key is unknown, revoked or expired."
MFA_RULE = (
    "This organization requires a second factor: enrol one (POST /auth/mfa/totp) or sign in with yours, "
    "then retry. /auth/me and logout still answer."
)
STEP_UP = "This change needs the second factor in this session: sign in again with your code, then retry."

# How precisely a key's last_used_at is kept.
KEY_USE_PRECISION = datetime.timedelta(minutes=1)

# Where the request's open transaction is kept in its ASGI scope, for `abandon`.
OPEN_TRANSACTION = "tenant_iam.transaction"


def no_organization() -> falcon.HTTPError:
    return problem(
        403,
        "No organization",
        "You belong to no organization: accept an invitation (GET /auth/invitations lists yours) or create "
        "one (POST /organizations), then switch to it (POST /auth/switch-organization).",
    )


def people_only() -> falcon.HTTPError:
    return problem(
        403,
        "Not for API keys",
        "This route acts on a person's own account or session; an API key cannot use it.",
    )


class Access(enum.Enum):
    """What a resource needs; resources state it as a class attribute `access`."""

    # No identity, and no transaction from the middleware: health, JWKS, and the auth flows
    # (register, login, refresh), which open short transactions of their own around
    # password hashing rather than hold a connection through it.
    PUBLIC = "no identity; the resource opens any transaction itself"
    # A verified token (req.context.subject), no transaction: change-password, which must
    # count a wrong guess in a committed transaction before it answers.
    SIGNED_IN = "a valid token; the resource opens its transactions itself"
    # One transaction per request, in the caller's context, for any live session, including
    # one with no organization (its user belongs to none): /auth/me, the caller's sessions,
    # organizations and invitations. Tenant data stays behind the policies and @requires.
    SESSION = "a valid token through a live session, in an organization or in none"
    # Everything else: one transaction per request, in the caller's context.
    MEMBER = "a valid token of an active member through a live session"
    # An organization's API key is accepted wherever a caller gets a transaction (SESSION and
    # MEMBER), except by responders marked @for_people.


def accepts_api_keys(resource: object) -> bool:
    return getattr(resource, "access", Access.MEMBER) in (Access.SESSION, Access.MEMBER)


@dataclass(frozen=True)
class KeyIdentity:
    """The API key a request was made with (a machine identity: no user, no session)."""

    id: uuid.UUID
    name: str
    prefix: str
    created_by_user_id: uuid.UUID | None
    expires_at: datetime.datetime | None
    last_used_at: datetime.datetime | None


@dataclass(frozen=True)
class Caller:
    """The authenticated user's active membership in the organization of the request, and
    the live session the request belongs to, as the database reported them. A session with
    no organization has no organization, no role and no permissions. A request made with an
    API key has the key (`api_key`) instead of a user and a session."""

    user_id: uuid.UUID | None
    email: str | None
    email_verified: bool
    organization_id: uuid.UUID | None
    organization_name: str | None
    session_id: uuid.UUID | None
    role: str | None
    permissions: frozenset[str]
    api_key: KeyIdentity | None = None
    # The session's assurance: aal 1 (a password) or 2 (and a second factor), and the methods.
    aal: int | None = None
    amr: tuple[str, ...] = ()
    # Whether the user has an active second factor (then step-up changes need aal 2).
    mfa_enrolled: bool = False
    # The organization requires MFA and this session is at aal 1: the database opened no
    # tenant rows to it (app.org_id stays empty); only @mfa_exempt resources serve it.
    mfa_required: bool = False

    @property
    def passed_second_factor(self) -> bool:
        return self.aal is not None and self.aal >= 2

    @property
    def needs_step_up(self) -> bool:
        """A user with an active second factor, in a session that has not passed it: what
        iam.require_step_up refuses sensitive changes to."""
        return self.mfa_enrolled and not self.passed_second_factor


def opening(begin: str, enter: str) -> str:
    statements = (begin, "set_statement_timeout", "set_lock_timeout", "set_api_role", enter)
    return ";\n".join(QUERIES[name] for name in statements)


BEGINS = {True: "begin_read_only", False: "begin_read_write"}

# Every request's first round trip, by read_only, assembled once: for a person's token, and
# for an API key.
OPENINGS = {read_only: opening(BEGINS[read_only], "enter_context") for read_only in (True, False)}
KEY_OPENINGS = {read_only: opening(BEGINS[read_only], "enter_api_key_context") for read_only in (True, False)}


async def open_transaction(
    database: Database, statements: str, params: dict[str, Any]
) -> tuple[Transaction, Row | None]:
    transaction = await database.lend()
    try:
        row = await transaction.open(
            statements,
            {
                **params,
                "statement_timeout_ms": database.statement_timeout_ms,
                "lock_timeout_ms": database.lock_timeout_ms,
            },
        )
    except BaseException:
        with suppress(psycopg.Error):
            await transaction.end(commit=False)
        raise
    return transaction, row


async def begin(
    database: Database, *, read_only: bool, request_id: str, subject: TokenSubject | None = None
) -> tuple[Transaction, Caller | None]:
    """A transaction in the context of the token's subject (or of nobody), and its caller:
    None unless the subject is an active member through a live session. One round trip."""
    transaction, row = await open_transaction(
        database,
        OPENINGS[read_only],
        {
            "user_id": subject.user_id if subject else None,
            "org_id": subject.organization_id if subject else None,
            "session_id": subject.session_id if subject else None,
            "request_id": request_id,
        },
    )
    if row is None:
        return transaction, None
    return transaction, Caller(
        user_id=row["user_id"],
        email=row["email"],
        email_verified=row["email_verified"],
        organization_id=row["organization_id"],
        organization_name=row["organization_name"],
        session_id=row["session_id"],
        role=row["role"],
        permissions=frozenset(row["permissions"]),
        aal=row["aal"],
        amr=tuple(row["amr"]),
        mfa_enrolled=row["mfa_enrolled"],
        mfa_required=row["mfa_required"],
    )


@dataclass(frozen=True)
class KeyOutcome:
    """Why a key has no caller (iam.enter_api_key_context): "unknown" (a guess, to be
    counted), "ended" (revoked or expired) or "throttled" (its client address is over the
    failure limit, for retry_after_seconds)."""

    outcome: str
    retry_after_seconds: int


async def begin_with_key(
    database: Database, *, read_only: bool, request_id: str, key: ApiKey, address_key: bytes, max_failures: int
) -> tuple[Transaction, Caller | KeyOutcome]:
    """A transaction in the context of an API key: its organization, its role. One round trip."""
    transaction, row = await open_transaction(
        database,
        KEY_OPENINGS[read_only],
        {
            "lookup_id": key.lookup_id,
            "key_hash": key.key_hash,
            "address_key": address_key,
            "max_failures": max_failures,
            "request_id": request_id,
        },
    )
    assert row is not None  # the function answers every key with an outcome
    if row["outcome"] != "ok":
        return transaction, KeyOutcome(row["outcome"], row["retry_after_seconds"])
    identity = KeyIdentity(
        id=row["api_key_id"],
        name=row["api_key_name"],
        prefix=prefix_of(row["lookup_id"]),
        created_by_user_id=row["created_by_user_id"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )
    return transaction, Caller(
        user_id=None,
        email=None,
        email_verified=False,
        organization_id=row["organization_id"],
        organization_name=row["organization_name"],
        session_id=None,
        role=row["role"],
        permissions=frozenset(row["permissions"]),
        api_key=identity,
    )


@asynccontextmanager
async def in_context(
    database: Database, *, request_id: str, subject: TokenSubject | None = None, read_only: bool = False
) -> AsyncIterator[tuple[Transaction, Caller | None]]:
    """A transaction a resource runs itself (auth flows keep password hashing outside any
    transaction): committed when the block ends, rolled back when it raises."""
    transaction, found = await begin(database, read_only=read_only, request_id=request_id, subject=subject)
    try:
        yield transaction, found
    except BaseException:
        with suppress(psycopg.Error):
            await transaction.end(commit=False)
        raise
    await transaction.end(commit=True)


@asynccontextmanager
async def signed_in(req: Request, database: Database) -> AsyncIterator[tuple[Transaction, Caller]]:
    """A read-write transaction in the context of the request's verified token
    (Access.SIGNED_IN resources); 401 when the session or membership has ended."""
    async with in_context(database, request_id=request_id(req), subject=req.context.subject) as (tx, found):
        if found is None:
            raise unauthorized(SESSION_ENDED)
        yield tx, found


def transaction(req: Request) -> Transaction:
    found: Transaction = req.context.transaction
    return found


def caller(req: Request) -> Caller:
    found: Caller | None = req.context.caller
    assert found is not None  # TransactionMiddleware answered 401 otherwise
    return found


def request_id(req: Request) -> str:
    found: str = req.context.request_id
    return found


def requires(permission: str) -> Callable[[Responder], Responder]:
    """The responder runs only for callers whose role holds `permission`: others get a 403
    before any query. /openapi.json documents it from `required_permission`."""

    async def check(req: Request, resp: Response, resource: object, params: dict[str, Any]) -> None:
        if caller(req).organization_id is None:
            raise no_organization()
        if permission not in caller(req).permissions:
            raise falcon.HTTPForbidden(
                title="Forbidden",
                description=f"Your role in this organization lacks the {permission} permission.",
            )

    def decorate(responder: Responder) -> Responder:
        checked: Responder = falcon.before(check)(responder)
        checked.required_permission = permission  # type: ignore[attr-defined]
        return checked

    return decorate


def step_up(responder: Responder) -> Responder:
    """The responder changes something sensitive: a user with an active second factor must
    have passed it in this session (aal 2), else a 403 of type mfa_required before any
    query. The database holds the same rule (iam.require_step_up)."""

    async def check(req: Request, resp: Response, resource: object, params: dict[str, Any]) -> None:
        if caller(req).needs_step_up:
            raise mfa_required(STEP_UP)

    checked: Responder = falcon.before(check)(responder)
    return checked


def for_people(responder: Responder) -> Responder:
    """The responder acts on a person's own account or sessions: a request made with an API
    key gets a 403 before any query. /openapi.json documents it from `people_only`."""

    async def check(req: Request, resp: Response, resource: object, params: dict[str, Any]) -> None:
        if caller(req).api_key is not None:
            raise people_only()

    checked: Responder = falcon.before(check)(responder)
    checked.people_only = True  # type: ignore[attr-defined]
    return checked


def declared_security(resource: object, responder: Callable[..., None]) -> Needs:
    """What /openapi.json says a responder needs."""
    needs_token = getattr(resource, "access", Access.MEMBER) is not Access.PUBLIC
    return Needs(
        needs_token,
        getattr(responder, "required_permission", None),
        accepts_api_keys(resource) and not getattr(responder, "people_only", False),
    )


class TransactionMiddleware:
    """Opens the request's transaction once the route is known; commits it when the
    responder succeeded, rolls it back otherwise, so a failed request changes nothing."""

    def __init__(self, database: Database, tokens: AccessTokens, keys: ApiKeyThrottle) -> None:
        self._database = database
        self._tokens = tokens
        self._keys = keys
        # The last_used_at this process last marked each key from: the database keeps the
        # minute rule; this only spares it the calls of requests in flight together.
        self._marking: dict[uuid.UUID, datetime.datetime | None] = {}

    async def process_resource(self, req: Request, resp: Response, resource: object, params: dict[str, Any]) -> None:
        access = getattr(resource, "access", Access.MEMBER)
        # OPTIONS is Falcon's own responder: it lists the allowed methods and reads no data.
        if resource is None or access is Access.PUBLIC or req.method == "OPTIONS":
            return
        token = bearer_token(req)
        if token is None:
            TOKEN_REJECTIONS.labels("missing").inc()
            raise unauthorized("Send an access token or an API key as 'Authorization: Bearer <token>'.")
        if looks_like_api_key(token):
            await self.enter_as_key(req, resource, token)
            return
        try:
            req.context.subject = self._tokens.verify(token)
        except InvalidToken as exc:
            TOKEN_REJECTIONS.labels(exc.reason).inc()
            raise unauthorized("The access token is invalid or expired.") from None
        # The client's own request id counts only from a verified caller on.
        req.context.request_id = req.context.client_request_id or req.context.request_id
        if access is Access.SIGNED_IN:
            return
        # The whole body first: however slowly it arrives, no transaction waits for it.
        await read_body(req)
        req.context.transaction, req.context.caller = await begin(
            self._database,
            read_only=req.method in ("GET", "HEAD"),
            request_id=req.context.request_id,
            subject=req.context.subject,
        )
        req.scope[OPEN_TRANSACTION] = req.context.transaction
        if req.context.caller is None:
            TOKEN_REJECTIONS.labels("session_ended").inc()
            raise unauthorized(SESSION_ENDED)
        if req.context.caller.organization_id is None and access is not Access.SESSION:
            raise no_organization()
        if req.context.caller.mfa_required and not getattr(resource, "mfa_exempt", False):
            raise mfa_required(MFA_RULE)

    async def enter_as_key(self, req: Request, resource: object, token: str) -> None:
        """The request's transaction in the context of an organization API key."""
        if not accepts_api_keys(resource):
            raise people_only()
        key = parse_api_key(token)
        if key is None:
            # Not a key this service made (shape or checksum): refused offline, like a token
            # with a bad signature.
            TOKEN_REJECTIONS.labels("api_key_malformed").inc()
            raise unauthorized(KEY_REFUSED)
        req.context.api_key = key
        await read_body(req)
        address_key = self._keys.address_key(req, key)
        # The client's request id, for the audit trail, only if the key is accepted.
        request_id = req.context.client_request_id or req.context.request_id
        transaction, found = await begin_with_key(
            self._database,
            read_only=req.method in ("GET", "HEAD"),
            request_id=request_id,
            key=key,
            address_key=address_key,
            max_failures=self._keys.max_failures,
        )
        if isinstance(found, Caller):
            req.context.transaction, req.context.caller = transaction, found
            req.context.request_id = request_id
            req.scope[OPEN_TRANSACTION] = transaction
            return
        await transaction.end(commit=False)
        TOKEN_REJECTIONS.labels(f"api_key_{found.outcome}").inc()
        retry_after = found.retry_after_seconds if found.outcome == "throttled" else None
        if found.outcome == "unknown":
            async with in_context(self._database, request_id=req.context.request_id) as (counting, _):
                retry_after = await self._keys.count_failure(counting, address_key)
        if retry_after is not None:
            raise too_many_refused_keys(retry_after)
        raise unauthorized(KEY_REFUSED)

    async def mark_key_used(self, req: Request, key: KeyIdentity, organization_id: uuid.UUID) -> None:
        """Keeps last_used_at to the minute: one short transaction when the database's value
        is over a minute old, not a write per request."""
        if key.last_used_at is not None and key.last_used_at > datetime.datetime.now(datetime.UTC) - KEY_USE_PRECISION:
            return
        # Requests in flight together saw the same old value: one of them marks it.
        if key.id in self._marking and self._marking[key.id] == key.last_used_at:
            return
        if len(self._marking) > 10_000:
            self._marking.clear()
        self._marking[key.id] = key.last_used_at
        with suppress(psycopg.Error):
            async with in_context(self._database, request_id=req.context.request_id) as (tx, _):
                await tx.one("touch_api_key", {"organization_id": organization_id, "id": key.id})

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        transaction: Transaction | None = getattr(req.context, "transaction", None)
        if transaction is None:
            return
        found: Caller | None = getattr(req.context, "caller", None)
        try:
            await self.end(req, resp, transaction, req_succeeded)
        finally:
            if found is not None and found.api_key is not None and found.organization_id is not None:
                await self.mark_key_used(req, found.api_key, found.organization_id)

    async def end(self, req: Request, resp: Response, transaction: Transaction, req_succeeded: bool) -> None:
        req.context.transaction = None
        req.scope.pop(OPEN_TRANSACTION, None)
        try:
            await transaction.end(commit=req_succeeded)
        except psycopg.Error as exc:
            if not req_succeeded:
                return  # the response already reports the failure; the rollback was best effort
            req.context.refusal = f"commit failed: {type(exc).__name__}"
            retry = {"Retry-After": "1"}
            if isinstance(exc, psycopg.OperationalError):
                # The connection broke during COMMIT: the server may have committed or not, and
                # nobody here can tell. Say so, rather than promise either.
                unknown = problem(
                    503,
                    "Outcome unknown",
                    "The database connection was lost while committing: the change may or may not "
                    "have been saved. Read it back before retrying.",
                    headers=retry,
                )
                answer_with_problem(req, resp, unknown)
                return
            # The database refused the commit: nothing was saved, and the client must not see a success.
            mapped = database_problem(exc)
            status = mapped.status_code if mapped else 500
            refused = problem(
                status,
                "Not saved",
                "The change could not be committed; nothing was saved.",
                headers=retry if status == 503 else None,
            )
            answer_with_problem(req, resp, refused)


async def abandon(scope: dict[str, Any]) -> None:
    """Rolls back a request's transaction that nothing ended: the request was cancelled (its
    client went away and the server cancelled the call) between BEGIN and process_response,
    which then never ran. Without this its connection would stay out of the pool, idle in
    transaction, for good."""
    transaction: Transaction | None = scope.pop(OPEN_TRANSACTION, None)
    if transaction is not None:
        with suppress(psycopg.Error):
            await transaction.end(commit=False)
