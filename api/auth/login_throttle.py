"""Login throttling, counted in PostgreSQL (iam.attempt_counters) so that every worker,
instance and serverless invocation shares it; the rules are in iam.reserve_login_attempt.

A password check is reserved, in its own short committed transaction, before the password is
checked and before a hashing slot is taken: parallel guesses get at most the limit of
checks, and a refused client costs no hashing. A right password gives its attempt back.
- Hard limits apply to the pair (email, client address), LOGIN_MAX_FAILURES a window, and to
  the address across emails, LOGIN_MAX_FAILURES_PER_IP: a stranger cannot lock an account's
  owner out from their own address.
- The email alone is only slowed down: past LOGIN_EMAIL_FREE_FAILURES in an hour, checks from
  addresses the account has not signed in from are spaced out (1 s, 2 s, 4 s, ... up to
  LOGIN_EMAIL_MAX_SPACING_SECONDS), so that at most about
  LOGIN_EMAIL_FREE_FAILURES + 3600 / LOGIN_EMAIL_MAX_SPACING_SECONDS + 5 checks run on one
  email in an hour (10 + 120 + 5 = 135 by default). The request waits its turn here, as a
  coroutine; a turn more than MAX_WAIT_SECONDS away is a 429 saying when to come back, which
  is never more than one spacing. An address the account signed in from in the last 30 days
  is not slowed down.
Unknown emails are counted like known ones. Counters are keyed by hashes, so probed emails
are not stored as such.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import falcon
from falcon.asgi import Request

from api.auth.client_address import ClientAddresses
from api.database import Transaction
from api.http.problems import problem
from api.settings import Settings

# The longest a login waits for its email's turn before being told to come back.
MAX_WAIT_SECONDS = 10


def subject_key(kind: str, value: str) -> bytes:
    return hashlib.sha256(f"{kind}:{value}".encode()).digest()


def address_key(counted_as: str) -> bytes:
    """The per-address counter: failed logins and refused API keys count in the same one."""
    return subject_key("address", counted_as)


@dataclass(frozen=True)
class Attempt:
    pair_key: bytes
    address_key: bytes
    email_key: bytes

    @property
    def keys(self) -> dict[str, bytes]:
        return {"pair_key": self.pair_key, "address_key": self.address_key, "email_key": self.email_key}


@dataclass(frozen=True)
class Reservation:
    allowed: bool
    retry_after_seconds: int
    # How long the check must wait for the email's turn (0 unless the email is slowed down).
    delay_seconds: float
    # The first refusal or slowdown of the hour for the email: when login.throttled is recorded.
    first_refusal: bool


def too_many_attempts(retry_after_seconds: int) -> falcon.HTTPError:
    return problem(
        429,
        "Too many failed logins",
        "Too many failed attempts for this account from this address, or from this address; try again later.",
        headers={"Retry-After": str(retry_after_seconds)},
    )


class LoginThrottle:
    def __init__(self, settings: Settings) -> None:
        self._addresses = ClientAddresses.from_settings(settings)
        self._limits = {
            "max_pair": settings.login_max_failures,
            "max_address": settings.login_max_failures_per_ip,
            "window_seconds": settings.login_window_seconds,
            "email_free": settings.login_email_free_failures,
            "email_max_spacing": settings.login_email_max_spacing_seconds,
            # Never longer than the spacing itself: a turn is at most one spacing away.
            "max_wait": min(MAX_WAIT_SECONDS, settings.login_email_max_spacing_seconds),
        }

    def attempt(self, req: Request, email: str) -> Attempt:
        """The counters an attempt on this email from this request's client address counts against."""
        subject = self._addresses.counted_as(req, email)
        return Attempt(
            subject_key("pair", f"{email}\n{subject}"),
            address_key(subject),
            subject_key("email", email),
        )

    async def reserve(self, tx: Transaction, attempt: Attempt) -> Reservation:
        """Counts the attempt, unless the pair or the address is over its limit or the
        email's turn is too far away (counting nothing then)."""
        row = await tx.one("reserve_login_attempt", {**attempt.keys, **self._limits})
        assert row is not None
        return Reservation(row["allowed"], row["retry_after_seconds"], row["delay_seconds"], row["first_refusal"])

    @staticmethod
    async def release(tx: Transaction, attempt: Attempt, *, signed_in: bool) -> None:
        """Gives the attempt back: the password was right (signed_in), or it was never checked."""
        await tx.one("release_login_attempt", {**attempt.keys, "signed_in": signed_in})
