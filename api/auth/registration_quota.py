"""Registrations that create an organization, counted per client address in PostgreSQL
(iam.take_registration_quota): REGISTRATIONS_PER_ADDRESS per REGISTRATION_WINDOW_SECONDS.
Anonymous registration ran at 9 accounts and organizations a second from one address.
Registering with an invitation is not counted: the token is the inviting admin's grant.
"""

from __future__ import annotations

from falcon.asgi import Request

from api.auth.client_address import ClientAddresses
from api.auth.login_throttle import subject_key
from api.database import Transaction
from api.http.problems import problem
from api.settings import Settings


class RegistrationQuota:
    def __init__(self, settings: Settings) -> None:
        self._addresses = ClientAddresses.from_settings(settings)
        self._limits = {
            "max": settings.registrations_per_address,
            "window_seconds": settings.registration_window_seconds,
        }

    async def take(self, tx: Transaction, req: Request, email: str) -> None:
        """Counts one registration from the request's client address; a 429 past the quota."""
        subject = subject_key("registration", self._addresses.counted_as(req, email))
        row = await tx.one("take_registration_quota", {"address_key": subject, **self._limits})
        assert row is not None
        if not row["allowed"]:
            raise problem(
                429,
                "Too many registrations",
                "Too many new accounts were registered from this address; try again later.",
                headers={"Retry-After": str(row["retry_after_seconds"])},
            )
