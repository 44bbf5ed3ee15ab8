"""Quotas per client address, counted in PostgreSQL (iam.take_quota): how many times one
client may do something in a window, such as register (REGISTRATIONS_PER_ADDRESS per
REGISTRATION_WINDOW_SECONDS: anonymous registration ran at 9 accounts and organizations a
second from one address) or ask for password-reset links.
"""

from __future__ import annotations

from falcon.asgi import Request

from api.auth.client_address import ClientAddresses
from api.auth.login_throttle import subject_key
from api.database import Transaction
from api.http.problems import problem


class ClientQuota:
    def __init__(
        self, addresses: ClientAddresses, kind: str, limit: int, window_seconds: int, refusal: tuple[str, str]
    ) -> None:
        self._addresses = addresses
        self._kind = kind
        self._limits = {"max": limit, "window_seconds": window_seconds}
        self._refusal = refusal

    async def take(self, tx: Transaction, req: Request, email: str) -> int | None:
        """Counts one use by the request's client (without a usable address: per email);
        None when allowed, else the seconds until the window ends (nothing was counted)."""
        key = subject_key(self._kind, self._addresses.counted_as(req, email))
        row = await tx.one("take_quota", {"key": key, **self._limits})
        assert row is not None
        return None if row["allowed"] else int(row["retry_after_seconds"])

    async def take_or_refuse(self, tx: Transaction, req: Request, email: str) -> None:
        """As take(), with a 429 and Retry-After past the quota."""
        retry_after = await self.take(tx, req, email)
        if retry_after is not None:
            title, detail = self._refusal
            raise problem(429, title, detail, headers={"Retry-After": str(retry_after)})
