"""Refused API keys count against their client address like failed logins (the same
per-address counter, LOGIN_MAX_FAILURES_PER_IP a LOGIN_WINDOW_SECONDS), so that keys cannot
be guessed online: past the limit, iam.enter_api_key_context checks no key from that address
until the window ends. A key the database does not know is a guess and is counted; a revoked
or expired one is a real key and is not.
"""

from __future__ import annotations

import falcon
from falcon.asgi import Request

from api.auth.api_keys import ApiKey
from api.auth.client_address import ClientAddresses
from api.auth.login_throttle import address_key
from api.database import Transaction
from api.http.problems import problem
from api.settings import Settings


def too_many_refused_keys(retry_after_seconds: int) -> falcon.HTTPError:
    return problem(
        429,
        "Too many failed attempts",
        "Too many refused credentials from this address; try again later.",
        headers={"Retry-After": str(retry_after_seconds)},
    )


class ApiKeyThrottle:
    def __init__(self, settings: Settings) -> None:
        self._addresses = ClientAddresses.from_settings(settings)
        self.max_failures = settings.login_max_failures_per_ip
        self._window_seconds = settings.login_window_seconds

    def address_key(self, req: Request, key: ApiKey) -> bytes:
        """The login throttle's counter for the request's client address (without a usable
        address: one for this key's lookup id, so that no stranger shares it)."""
        return address_key(self._addresses.counted_as(req, f"api-key:{key.lookup_id}"))

    async def count_failure(self, tx: Transaction, address_key: bytes) -> int | None:
        """Counts a refused key; None, or the seconds until the address may try again when
        it was already over the limit."""
        row = await tx.one(
            "take_quota", {"key": address_key, "max": self.max_failures, "window_seconds": self._window_seconds}
        )
        assert row is not None
        return None if row["allowed"] else int(row["retry_after_seconds"])
