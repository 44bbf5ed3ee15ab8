"""What a request runs as, inside which transaction, and what it may do: the one module to
read for "where does a request get its transaction and its permission check".

- `Access`: what a resource needs, declared as its class attribute `access`.
- `begin()`: the **one place** that sets tenant context. In one round trip it sends BEGIN
  (READ ONLY for GET/HEAD), the statement and lock timeouts, SET LOCAL ROLE iam_api and
  iam.enter_context(), which sets the transaction-local `app.*` settings and returns the
  caller's membership and live session. Nothing else writes `app.*`.
- `TransactionMiddleware`: verifies the access token, reads the body, then opens the
  request's transaction with `begin()`; commits when the responder succeeded, rolls back
  otherwise. No caller row: 401.
- `@requires("projects:write")`: a responder's permission check, a clear 403 before any
  query runs. The policies in PostgreSQL are the boundary; this only names the refusal.
  /openapi.json reads the same declaration (`declared_security`).
- `transaction(req)`, `caller(req)`, `request_id(req)`: what resources read.
"""

from __future__ import annotations

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
from api.database import Database, Transaction
from api.http.bearer import bearer_token
from api.http.body import read_body
from api.http.problems import answer_with_problem, database_problem, problem, unauthorized
from api.observability.metrics import TOKEN_REJECTIONS
from db.queries import QUERIES

Responder = TypeVar("Responder", bound=Callable[..., Any])

SESSION_ENDED = "The session has ended, or its user is no longer an active member of its organization."

# Where the request's open transaction is kept in its ASGI scope, for `abandon`.
OPEN_TRANSACTION = "tenant_iam.transaction"


def no_organization() -> falcon.HTTPError:
    return problem(
        403,
        "No organization",
        "You belong to no organization: accept an invitation (GET /auth/invitations lists yours) or create "
        "one (POST /organizations), then switch to it (POST /auth/switch-organization).",
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


@dataclass(frozen=True)
class Caller:
    """The authenticated user's active membership in the organization of the request, and
    the live session the request belongs to, as the database reported them. A session with
    no organization has no organization, no role and no permissions."""

    user_id: uuid.UUID
    email: str
    email_verified: bool
    organization_id: uuid.UUID | None
    organization_name: str | None
    session_id: uuid.UUID
    role: str | None
    permissions: frozenset[str]


def opening(begin: str) -> str:
    statements = (begin, "set_statement_timeout", "set_lock_timeout", "set_api_role", "enter_context")
    return ";\n".join(QUERIES[name] for name in statements)


# Every request's first round trip, by read_only, assembled once.
OPENINGS = {True: opening("begin_read_only"), False: opening("begin_read_write")}


async def begin(
    database: Database, *, read_only: bool, request_id: str, subject: TokenSubject | None = None
) -> tuple[Transaction, Caller | None]:
    """A transaction in the context of the token's subject (or of nobody), and its caller:
    None unless the subject is an active member through a live session. One round trip."""
    transaction = await database.lend()
    try:
        row = await transaction.open(
            OPENINGS[read_only],
            {
                "user_id": subject.user_id if subject else None,
                "org_id": subject.organization_id if subject else None,
                "session_id": subject.session_id if subject else None,
                "request_id": request_id,
                "statement_timeout_ms": database.statement_timeout_ms,
                "lock_timeout_ms": database.lock_timeout_ms,
            },
        )
    except BaseException:
        with suppress(psycopg.Error):
            await transaction.end(commit=False)
        raise
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


def declared_security(resource: object, responder: Callable[..., None]) -> tuple[bool, str | None]:
    """What /openapi.json says a responder needs: a token (bool) and a permission (or None)."""
    needs_token = getattr(resource, "access", Access.MEMBER) is not Access.PUBLIC
    return needs_token, getattr(responder, "required_permission", None)


class TransactionMiddleware:
    """Opens the request's transaction once the route is known; commits it when the
    responder succeeded, rolls it back otherwise, so a failed request changes nothing."""

    def __init__(self, database: Database, tokens: AccessTokens) -> None:
        self._database = database
        self._tokens = tokens

    async def process_resource(self, req: Request, resp: Response, resource: object, params: dict[str, Any]) -> None:
        access = getattr(resource, "access", Access.MEMBER)
        # OPTIONS is Falcon's own responder: it lists the allowed methods and reads no data.
        if resource is None or access is Access.PUBLIC or req.method == "OPTIONS":
            return
        token = bearer_token(req)
        if token is None:
            TOKEN_REJECTIONS.labels("missing").inc()
            raise unauthorized("Send an access token as 'Authorization: Bearer <token>'.")
        try:
            req.context.subject = self._tokens.verify(token)
        except InvalidToken as exc:
            TOKEN_REJECTIONS.labels(exc.reason).inc()
            raise unauthorized("The access token is invalid or expired.") from None
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

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        transaction: Transaction | None = getattr(req.context, "transaction", None)
        if transaction is None:
            return
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
