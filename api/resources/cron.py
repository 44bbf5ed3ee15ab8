"""Scheduled work for serverless deployments, which keep no loop between requests: Vercel
Cron calls GET /cron/outbox with `Authorization: Bearer $CRON_SECRET` (docs/deploy-vercel.md).
Without CRON_SECRET the route does not exist (404)."""

from __future__ import annotations

import hmac
import time

from falcon.asgi import Request, Response

from api.context import Access
from api.http.bearer import bearer_token
from api.http.openapi import operation
from api.http.problems import problem, unauthorized
from api.http.responses import MailDelivered
from api.mail.outbox import BATCH, Outbox

# A run stops taking new batches after this long: serverless functions are cut off.
RUN_SECONDS = 20


class OutboxCronResource:
    access = Access.PUBLIC

    def __init__(self, outbox: Outbox, cron_secret: str | None) -> None:
        self._outbox = outbox
        self._secret = cron_secret

    @operation("Deliver the mail outbox (Vercel Cron, with CRON_SECRET)", ok={200: MailDelivered}, errors=(401, 404))
    async def on_get(self, req: Request, resp: Response) -> None:
        if self._secret is None:
            raise problem(404, "Not found", "No scheduled work here: CRON_SECRET is not set.")
        presented = bearer_token(req) or ""
        if not hmac.compare_digest(presented.encode(), self._secret.encode()):
            raise unauthorized("Send CRON_SECRET as 'Authorization: Bearer <secret>'.")
        sent = retried = given_up = 0
        started = time.monotonic()
        while time.monotonic() - started < RUN_SECONDS:
            delivered = await self._outbox.deliver_due()
            sent, retried, given_up = sent + delivered.sent, retried + delivered.retried, given_up + delivered.given_up
            if delivered.claimed < BATCH:
                break
        resp.media = MailDelivered(sent=sent, retried=retried, given_up=given_up)
