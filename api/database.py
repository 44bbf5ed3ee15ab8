"""The connection pool, and transactions that call named queries from db/queries.

The app runs on the event loop (asyncio), so connections are psycopg's AsyncConnection
from an AsyncConnectionPool: a request waiting for the database costs a coroutine, not a
thread. A request is one transaction on one pooled connection; api/context.py opens it and
sets its tenant context in one round trip (`Transaction.open`). Connections run in
autocommit mode so that BEGIN travels with the rest of that first round trip instead of
costing one of its own.

That round trip is one simple-query string (client-side binding), which any pooler passes.
With DB_PREPARED_STATEMENTS (the default) the resources' own statements are prepared once
per connection: GET /projects/{id} 1,470 -> 1,575 req/s (wrk -c32). Sending the context as a
pipeline of prepared statements instead cost more in Python than it saved in PostgreSQL
(1,340-1,430 req/s). Behind a transaction-mode pooler (PgBouncer, Supabase's port 6543) a
prepared statement does not outlive its transaction: DB_PREPARED_STATEMENTS=false there.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from api.settings import Settings
from db.queries import QUERIES

Row = dict[str, Any]
Connection = psycopg.AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Connection]


class TransactionAborted(psycopg.Error):
    """A commit was asked of a transaction in which a statement had failed."""


def create_pool(settings: Settings) -> Pool:
    """The pool, not yet open: it opens on its event loop, when the first request (or the
    ASGI lifespan's start-up) needs it (Database.lend)."""
    return AsyncConnectionPool(
        settings.database_url,
        connection_class=psycopg.AsyncConnection[DictRow],
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
        check=AsyncConnectionPool.check_connection if settings.db_pool_check else None,
        open=False,
        name="tenant-iam",
    )


class Transaction:
    """One request's transaction on a connection lent by the pool. Queries are called by
    name from db/queries."""

    def __init__(self, pool: Pool, connection: Connection) -> None:
        self._pool = pool
        self._connection = connection

    async def open(self, statements: str, params: dict[str, Any]) -> Row | None:
        """Sends several statements as one string (BEGIN and the context, api/context.py) in
        one round trip; the first row of the last one. Several statements in one string need
        client-side binding (psycopg's own quoting)."""
        async with psycopg.AsyncClientCursor(self._connection, row_factory=dict_row) as cursor:
            await cursor.execute(statements, params)
            while cursor.nextset():
                pass
            return await cursor.fetchone()

    @property
    def connection(self) -> Connection:
        """The connection inside this transaction, for ad-hoc SQL under the same context
        (tests and tools); the app itself calls named queries only."""
        return self._connection

    async def one(self, query: str, params: dict[str, Any] | None = None) -> Row | None:
        cursor = await self._connection.execute(QUERIES[query], params)
        return await cursor.fetchone()

    async def all(self, query: str, params: dict[str, Any] | None = None) -> list[Row]:
        cursor = await self._connection.execute(QUERIES[query], params)
        return await cursor.fetchall()

    async def run(self, query: str, params: dict[str, Any] | None = None) -> int:
        """Runs a statement that returns no rows; the number of rows it touched."""
        cursor = await self._connection.execute(QUERIES[query], params)
        return cursor.rowcount

    async def end(self, *, commit: bool) -> None:
        """COMMIT or ROLLBACK, then hand the connection back (the pool drops broken ones).
        PostgreSQL answers the COMMIT of a failed transaction with a silent ROLLBACK, so a
        commit is only sent to a transaction in good standing; otherwise it is rolled back
        and TransactionAborted says that nothing was saved."""
        try:
            aborted = self._connection.info.transaction_status == TransactionStatus.INERROR
            await self._connection.execute(QUERIES["commit" if commit and not aborted else "rollback"])
            if commit and aborted:
                raise TransactionAborted("a statement of this transaction failed: rolled back, not committed")
        finally:
            await self._pool.putconn(self._connection)


class Database:
    def __init__(self, pool: Pool, *, statement_timeout_ms: int = 5000, lock_timeout_ms: int = 1000) -> None:
        self.pool = pool
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms
        self._opened = False

    async def open(self) -> None:
        """Opens the pool on the running event loop, once: with the first request (serverless
        runtimes send no ASGI lifespan events; test harnesses send them around every
        request), or earlier where a server opens it at start-up (api/serving/asgi.py)."""
        await self.pool.open(wait=False)  # safe to call again, and concurrently
        self._opened = True

    async def lend(self) -> Transaction:
        """A connection from the pool, as a transaction that has not begun: api/context.py
        begins it (Transaction.open) and every path ends it (Transaction.end)."""
        if not self._opened:
            await self.open()
        return Transaction(self.pool, await self.pool.getconn())
