"""Liveness and readiness probes."""

from __future__ import annotations

import logging

import psycopg
from falcon.asgi import Request, Response
from psycopg_pool import PoolTimeout

from api.context import Access, begin, request_id
from api.database import Database
from api.http.openapi import operation
from api.http.problems import problem
from api.http.responses import Live, Ready

log = logging.getLogger("api")


class LiveResource:
    access = Access.PUBLIC

    @operation("Liveness: the process answers", ok={200: Live})
    async def on_get(self, req: Request, resp: Response) -> None:
        resp.media = Live(status="ok")


class ReadyResource:
    """200 when PostgreSQL answers and the schema is at the migration head, else 503.

    It opens its own transaction: on a database that is down or not migrated yet, the
    ordinary request transaction cannot even begin, and that is this probe's answer."""

    access = Access.PUBLIC

    def __init__(self, database: Database, head_revision: str) -> None:
        self._database = database
        self._head = head_revision

    @operation("Readiness: the database answers and is migrated", ok={200: Ready})
    async def on_get(self, req: Request, resp: Response) -> None:
        try:
            transaction, _ = await begin(self._database, read_only=True, request_id=request_id(req))
            try:
                row = await transaction.one("schema_version")
            finally:
                await transaction.end(commit=False)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("not ready: %s", type(exc).__name__)
            raise problem(503, "Not ready", "The database cannot be reached or is not migrated.") from None
        current = row["version_num"] if row else None
        if current != self._head:
            raise problem(
                503,
                "Not ready",
                f"The database schema is at {current or 'no revision'}, not {self._head}; run the migrations.",
            )
        resp.media = Ready(status="ready", schema_revision=current)
