"""The per-request transaction, and the one place that sets the tenant context.

A request is one transaction on one pooled connection: BEGIN (READ ONLY for GET/HEAD),
SET LOCAL ROLE iam_api, and iam.enter_context(), which sets the transaction-local `app.*`
settings and returns the caller's membership and session, all in a single round trip.
Nothing else writes `app.*`.
Connections run in autocommit mode so that BEGIN travels with the rest of that first
round trip instead of costing one of its own.

That round trip is one simple-query string (client-side binding), which any pooler passes.
With DB_PREPARED_STATEMENTS (the default) the resources' own statements are prepared once
per connection: GET /projects/{id} 1,470 -> 1,575 req/s (wrk -c32). Sending the context as a
pipeline of prepared statements instead cost more in Python than it saved in PostgreSQL
(1,340-1,430 req/s). Behind a transaction-mode pooler (PgBouncer, Supabase's port 6543) a
prepared statement does not outlive its transaction: DB_PREPARED_STATEMENTS=false there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from api.settings import Settings
from api.tokens import TokenSubject
from db.queries import QUERIES

Row = dict[str, Any]
Connection = psycopg.Connection[DictRow]


def opening(begin: str) -> str:
    statements = (begin, "set_statement_timeout", "set_api_role", "enter_context")
    return ";\n".join(QUERIES[name] for name in statements)


# Every request's first round trip, by read_only, assembled once.
OPENINGS = {True: opening("begin_read_only"), False: opening("begin_read_write")}


@dataclass(frozen=True)
class Caller:
    """The authenticated user's active membership in the organization of the request, and
    the live session the request belongs to."""

    user_id: uuid.UUID
    email: str
    organization_id: uuid.UUID
    organization_name: str
    session_id: uuid.UUID
    role: str
    permissions: frozenset[str]


def create_pool(settings: Settings, *, open_now: bool = True) -> ConnectionPool[Connection]:
    return ConnectionPool(
        settings.database_url,
        connection_class=psycopg.Connection[DictRow],
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            # 0: prepare every statement on its first use on a connection; None: never.
            "prepare_threshold": 0 if settings.db_prepared_statements else None,
        },
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout_seconds,
        max_idle=settings.db_pool_max_idle_seconds,
        max_lifetime=settings.db_pool_max_lifetime_seconds,
        # Serverless: a connection the network dropped while the instance was suspended is
        # found by one empty round trip and replaced, not handed to a request. Off for
        # long-running servers, where it would cost every request that round trip.
        check=ConnectionPool.check_connection if settings.db_pool_check else None,
        open=open_now,
        name="tenant-iam",
    )


class Transaction:
    """One request's transaction. Queries are called by name from db/queries."""

    def __init__(
        self, pool: ConnectionPool[Connection], connection: Connection, request_id: str, statement_timeout_ms: int
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._request_id = request_id
        self._statement_timeout_ms = statement_timeout_ms
        self.caller: Caller | None = None

    def _enter(self, subject: TokenSubject | None, *, read_only: bool) -> Caller | None:
        """Opens the transaction, then sets app.user_id, app.org_id and app.session_id for the
        rest of it; returns the caller's membership and session there, read from the database
        (None: no subject, or no active membership through a live session). One round trip."""
        params = {
            "user_id": subject.user_id if subject else None,
            "org_id": subject.organization_id if subject else None,
            "session_id": subject.session_id if subject else None,
            "request_id": self._request_id,
            "statement_timeout_ms": self._statement_timeout_ms,
        }
        # Several statements in one string need client-side binding (psycopg's own quoting);
        # the caller's row is the result of the last statement.
        with psycopg.ClientCursor(self._connection, row_factory=dict_row) as cursor:
            cursor.execute(OPENINGS[read_only], params)
            while cursor.nextset():
                pass
            row = cursor.fetchone()
        if row is None:
            return None
        return Caller(
            user_id=row["user_id"],
            email=row["email"],
            organization_id=row["organization_id"],
            organization_name=row["organization_name"],
            session_id=row["session_id"],
            role=row["role"],
            permissions=frozenset(row["permissions"]),
        )

    @property
    def connection(self) -> Connection:
        """The connection inside this transaction, for ad-hoc SQL under the same context
        (tests and tools); the app itself calls named queries only."""
        return self._connection

    def one(self, query: str, params: dict[str, Any] | None = None) -> Row | None:
        return self._connection.execute(QUERIES[query], params).fetchone()

    def all(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        return self._connection.execute(QUERIES[query], params).fetchall()

    def run(self, query: str, params: dict[str, Any] | None = None) -> int:
        """Runs a statement that returns no rows; the number of rows it touched."""
        return self._connection.execute(QUERIES[query], params).rowcount

    def end(self, *, commit: bool) -> None:
        """COMMIT or ROLLBACK, then hand the connection back (the pool drops broken ones)."""
        try:
            self._connection.execute(QUERIES["commit" if commit else "rollback"])
        finally:
            self._pool.putconn(self._connection)


class Database:
    def __init__(self, pool: ConnectionPool[Connection], *, statement_timeout_ms: int = 5000) -> None:
        self.pool = pool
        self._statement_timeout_ms = statement_timeout_ms

    def begin(self, *, read_only: bool, request_id: str, subject: TokenSubject | None = None) -> Transaction:
        """Opens a transaction in the context of the token's subject (or none): the caller is
        None unless the subject is an active member through a live session."""
        connection = self.pool.getconn()
        transaction = Transaction(self.pool, connection, request_id, self._statement_timeout_ms)
        try:
            transaction.caller = transaction._enter(subject, read_only=read_only)
        except BaseException:
            with suppress(psycopg.Error):
                transaction.end(commit=False)
            raise
        return transaction

    @contextmanager
    def transaction(
        self, *, read_only: bool, request_id: str, subject: TokenSubject | None = None
    ) -> Iterator[Transaction]:
        """A transaction a resource runs itself (auth flows keep password hashing outside
        any transaction): committed when the block ends, rolled back when it raises."""
        transaction = self.begin(read_only=read_only, request_id=request_id, subject=subject)
        try:
            yield transaction
        except BaseException:
            with suppress(psycopg.Error):
                transaction.end(commit=False)
            raise
        transaction.end(commit=True)
