"""Password hashing with Argon2id at OWASP's recommended parameters, under a small
per-process concurrency limit.

Each hash takes ~40 ms of a core and 19 MiB. A flood of logins or registrations must not
starve every other request of CPU, so at most PASSWORD_HASH_CONCURRENCY hashes run at once
in a process; a request that cannot get a slot within PASSWORD_HASH_WAIT_MS is refused
(HashingBusy, a 503 with Retry-After) without hashing.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class HashingBusy(Exception):
    """Every hashing slot stayed taken for the whole wait."""


def owasp_hasher() -> PasswordHasher:
    """OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB of memory, 2 iterations, 1 lane."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class Passwords:
    def __init__(
        self, hasher: PasswordHasher | None = None, *, concurrency: int = 1, wait_seconds: float = 0.5
    ) -> None:
        self._hasher = hasher or owasp_hasher()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._wait_seconds = wait_seconds
        # Verifying unknown emails against this keeps their response time like a real
        # account's, so timing does not tell who has an account.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    def _take_slot(self) -> None:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise HashingBusy

    def hash(self, password: str) -> str:
        self._take_slot()
        try:
            return self._hasher.hash(password)
        finally:
            self._slots.release()

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether the password matches; None (no such account) is checked against a dummy
        hash so that it costs the same, and is never a match."""
        self._take_slot()
        try:
            return self._hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False
        finally:
            self._slots.release()

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
