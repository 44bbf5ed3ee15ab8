"""Login throttling, counted in PostgreSQL (iam.login_throttle) so that every worker,
instance and serverless invocation shares it.

An attempt is reserved, in its own short committed transaction, before the password is
checked: parallel guesses for one account get at most LOGIN_MAX_FAILURES password checks,
and the rest are refused without hashing. A right password gives its attempt back. Unknown
emails are counted like known ones. Counters are keyed by hashes, so probed emails are not
stored as such.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import falcon
from falcon.asgi import Request

from api.auth.client_address import ClientAddresses, throttle_subject
from api.database import Transaction
from api.http.problems import problem
from api.settings import Settings


@dataclass(frozen=True)
class Attempt:
    email_key: bytes
    address_key: bytes

    @property
    def keys(self) -> dict[str, bytes]:
        return {"email_key": self.email_key, "address_key": self.address_key}


@dataclass(frozen=True)
class Refusal:
    retry_after_seconds: int
    # The first refusal of this window for the email: when login.throttled is recorded.
    first: bool


def too_many_attempts(retry_after_seconds: int) -> falcon.HTTPError:
    return problem(
        429,
        "Too many failed logins",
        "Too many failed attempts for this account or from this address; try again later.",
        headers={"Retry-After": str(retry_after_seconds)},
    )


class LoginThrottle:
    def __init__(self, settings: Settings) -> None:
        self._addresses = ClientAddresses.from_settings(settings)
        self._limits = {
            "max_email": settings.login_max_failures,
            "max_address": settings.login_max_failures_per_ip,
            "window_seconds": settings.login_window_seconds,
        }

    def attempt(self, req: Request, email: str) -> Attempt:
        """The counters an attempt on this email from this request's client address counts against."""
        address = self._addresses.of(req)
        # A client with no usable address is counted with its email alone: one shared
        # "unknown" counter would let any such client lock out every other.
        subject = f"address:{throttle_subject(address)}" if address is not None else f"unknown-address:{email}"
        return Attempt(
            hashlib.sha256(f"email:{email}".encode()).digest(),
            hashlib.sha256(subject.encode()).digest(),
        )

    async def reserve(self, tx: Transaction, attempt: Attempt) -> Refusal | None:
        """Counts the attempt; a Refusal, counting nothing, when the email or address is over its limit."""
        row = await tx.one("reserve_login_attempt", {**attempt.keys, **self._limits})
        assert row is not None
        return None if row["allowed"] else Refusal(row["retry_after_seconds"], row["first_refusal"])

    @staticmethod
    async def release(tx: Transaction, attempt: Attempt) -> None:
        await tx.one("release_login_attempt", attempt.keys)
