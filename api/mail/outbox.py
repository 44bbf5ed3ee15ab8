"""The transactional outbox: a message is queued (iam.queue_mail) in the transaction of the
change that causes it, and delivered after that commits, by

- a loop in every API process (started by the ASGI lifespan under gunicorn and `make run`),
  woken when a request of the process queued a message and every POLL_SECONDS otherwise;
- on serverless instances, which keep no loop, a delivery right after the request that
  queued the message, and GET /cron/outbox (Vercel Cron) as the guarantee.

Deliveries claim due messages with FOR UPDATE SKIP LOCKED under a lease (iam.claim_mail), so
several processes and instances never send one twice in normal operation; a process that
dies mid-send leaves the message to be claimed again when the lease ends (at most once more).
A failed send is tried again after 2^(tries - 1) * MAIL_RETRY_BASE_SECONDS (10 s, 20 s, ...),
and given up after MAIL_MAX_ATTEMPTS tries with a log line and
mail_failures_total{outcome="given_up"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from api.context import in_context
from api.database import Database, Transaction
from api.mail.messages import Message
from api.mail.transport import Transport
from api.observability.metrics import MAIL_FAILURES, MAIL_SENT
from api.settings import Settings

POLL_SECONDS = 5.0
BATCH = 20
LEASE_SECONDS = 120
MAX_RETRY_SECONDS = 3600
log = logging.getLogger("api.mail")


@dataclass(frozen=True)
class Delivered:
    sent: int
    retried: int
    given_up: int

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.given_up


class Outbox:
    def __init__(self, database: Database, transport: Transport, settings: Settings) -> None:
        self._database = database
        self._transport = transport
        self._sender = settings.mail_from
        self._max_attempts = settings.mail_max_attempts
        self._retry_base_seconds = settings.mail_retry_base_seconds
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[Any]] = set()

    async def queue(
        self, tx: Transaction, kind: str, recipient: str, message: Message, *, min_interval_seconds: int = 0
    ) -> bool:
        """Queues a message in the caller's transaction; False when the recipient was sent
        one of this kind less than min_interval_seconds ago (nothing queued)."""
        subject, body = message
        row = await tx.one(
            "queue_mail",
            {
                "kind": kind,
                "recipient": recipient,
                "subject": subject,
                "body": body,
                "min_interval_seconds": min_interval_seconds,
            },
        )
        return row is not None and row["id"] is not None

    def queued(self) -> None:
        """A request queued a message: deliver it soon after its transaction commits."""
        if self._wake is not None:
            self._wake.set()
            return
        # No loop in this process (a serverless instance): a delivery of its own, a moment
        # after the response, when the request's transaction has committed.
        task = asyncio.get_running_loop().create_task(self._deliver_later())
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver_later(self) -> None:
        await asyncio.sleep(0.05)
        with contextlib.suppress(Exception):
            await self.deliver_due()

    async def settle(self) -> None:
        """Waits for the deliveries requests started (a serverless instance's)."""
        await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def deliver_due(self) -> Delivered:
        """Claims the due messages (a batch) and sends them; the counts of what happened."""
        async with in_context(self._database, request_id="outbox") as (tx, _):
            rows = await tx.all("claim_mail", {"limit": BATCH, "lease_seconds": LEASE_SECONDS})
        sent = retried = given_up = 0
        for row in rows:
            try:
                await asyncio.to_thread(self._transport.send, self._message(row))
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                retry_seconds = min(MAX_RETRY_SECONDS, self._retry_base_seconds * 2 ** (row["attempts"] - 1))
                async with in_context(self._database, request_id="outbox") as (tx, _):
                    failed = await tx.one(
                        "mail_failed",
                        {
                            "id": row["id"],
                            "error": f"{type(exc).__name__}: {exc}",
                            "max_attempts": self._max_attempts,
                            "retry_seconds": retry_seconds,
                        },
                    )
                if failed is not None and failed["given_up"]:
                    given_up += 1
                    MAIL_FAILURES.labels("given_up").inc()
                    log.error("mail %s given up after %d tries: %s", row["id"], row["attempts"], exc)
                else:
                    retried += 1
                    MAIL_FAILURES.labels("retry").inc()
                    log.warning(
                        "mail %s not sent (try %d), again in %ds: %s", row["id"], row["attempts"], retry_seconds, exc
                    )
                continue
            async with in_context(self._database, request_id="outbox") as (tx, _):
                await tx.one("mail_sent", {"id": row["id"]})
            sent += 1
            MAIL_SENT.inc()
        return Delivered(sent, retried, given_up)

    def _message(self, row: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = row["recipient"]
        message["Subject"] = row["subject"]
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(idstring=str(row["id"]))
        message.set_content(row["body"])
        return message

    def start(self) -> None:
        """Starts this process's delivery loop (the ASGI lifespan's start-up)."""
        self._wake = asyncio.Event()
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        self._wake = None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                delivered = await self.deliver_due()
            except Exception:  # a database outage: try again at the next poll
                log.exception("mail delivery round failed")
                delivered = Delivered(0, 0, 0)
            if delivered.claimed == BATCH:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            if self._wake.is_set():
                self._wake.clear()
                await asyncio.sleep(0.05)  # the request that woke us commits meanwhile
