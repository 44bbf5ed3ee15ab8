"""The connection pool, and transactions that call named queries from db/queries.

A request is one transaction on one pooled connection; api/context.py opens it and sets
its tenant context in one round trip (`Transaction.open`). Connections run in autocommit
mode so that BEGIN travels with the rest of that first round trip instead of costing one of
its own.

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
from psycopg_pool import ConnectionPool

from api.settings import Settings
from db.queries import QUERIES

Row = dict[str, Any]
Connection = psycopg.Connection[DictRow]


class TransactionAborted(psycopg.Error):
    """A commit was asked of a transaction in which a statement had failed."""


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
    """One request's transaction on a connection lent by the pool. Queries are called by
    name from db/queries."""

    def __init__(self, pool: ConnectionPool[Connection], connection: Connection) -> None:
        self._pool = pool
        self._connection = connection

    def open(self, statements: str, params: dict[str, Any]) -> Row | None:
        """Sends several statements as one string (BEGIN and the context, api/context.py) in
        one round trip; the first row of the last one. Several statements in one string need
        client-side binding (psycopg's own quoting)."""
        with psycopg.ClientCursor(self._connection, row_factory=dict_row) as cursor:
            cursor.execute(statements, params)
            while cursor.nextset():
                pass
            return cursor.fetchone()

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
        """COMMIT or ROLLBACK, then hand the connection back (the pool drops broken ones).
        PostgreSQL answers the COMMIT of a failed transaction with a silent ROLLBACK, so a
        commit is only sent to a transaction in good standing; otherwise it is rolled back
        and TransactionAborted says that nothing was saved."""
        try:
            aborted = self._connection.info.transaction_status == TransactionStatus.INERROR
            self._connection.execute(QUERIES["commit" if commit and not aborted else "rollback"])
            if commit and aborted:
                raise TransactionAborted("a statement of this transaction failed: rolled back, not committed")
        finally:
            self._pool.putconn(self._connection)


class Database:
    def __init__(
        self, pool: ConnectionPool[Connection], *, statement_timeout_ms: int = 5000, lock_timeout_ms: int = 1000
    ) -> None:
        self.pool = pool
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms

    def lend(self) -> Transaction:
        """A connection from the pool, as a transaction that has not begun: api/context.py
        begins it (Transaction.open) and every path ends it (Transaction.end)."""
        return Transaction(self.pool, self.pool.getconn())
