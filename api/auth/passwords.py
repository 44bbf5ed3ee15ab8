"""Password hashing with Argon2id at OWASP's recommended parameters, kept from starving
everything else.

Each hash takes ~40 ms of a core and 19 MiB. So that a flood of logins or registrations
cannot take the service down with it:
- at most PASSWORD_HASH_CONCURRENCY hashes run at once in a process, and at most
  PASSWORD_HASH_QUEUE more requests wait for one; a request that finds the queue full, or
  gets no slot within PASSWORD_HASH_WAIT_MS, is refused (HashingBusy, a 503 with
  Retry-After) without hashing. Waiting is a coroutine on the event loop, not a thread;
- hashes run on threads of their own at a lower CPU priority (Linux sets it per thread), so
  when hashing and ordinary requests compete for the cores, the requests come first;
- glibc is told to give buffers of 128 KiB and more straight back to the system: otherwise
  its heap keeps every thread's 19 MiB Argon2 buffer (measured: 4 hashing threads left a
  process 76 MB larger, and 13 MB with this).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import ctypes.util
import os
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.http.problems import Overloaded

T = TypeVar("T")
# Nice 10 weighs about a tenth of a normal thread in Linux's scheduler.
HASHING_NICENESS = 10
_M_MMAP_THRESHOLD = -3


class HashingBusy(Overloaded):
    """Every hashing slot stayed taken for the whole wait."""

    detail = "Too many password checks are running; retry shortly."
    reason = "hashing_busy"


def owasp_hasher() -> PasswordHasher:
    """OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB of memory, 2 iterations, 1 lane."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def return_large_buffers_to_the_system() -> None:
    """glibc only (elsewhere nothing happens): fixes the mmap threshold at 128 KiB, which
    also stops glibc from raising it after the first large buffer is freed."""
    library = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(library).mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


def _lower_this_threads_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class Passwords:
    def __init__(
        self,
        hasher: PasswordHasher | None = None,
        *,
        concurrency: int = 1,
        queue: int = 1,
        wait_seconds: float = 0.5,
    ) -> None:
        return_large_buffers_to_the_system()
        self._hasher = hasher or owasp_hasher()
        self._slots = asyncio.Semaphore(concurrency)
        # Hashing plus waiting: past this many, a request is refused without waiting.
        self._admission = concurrency + queue
        self._admitted = 0
        self._wait_seconds = wait_seconds
        self._holder: contextvars.ContextVar[bool] = contextvars.ContextVar("hashing_slot", default=False)
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_lower_this_threads_priority
        )
        # Verifying unknown emails against this keeps their response time like a real
        # account's, so timing does not tell who has an account.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A hashing slot for the block. A login takes it before anything else, so that a
        request over capacity is refused (HashingBusy) before it costs a database round trip;
        hash() and verify() inside the block use it. Waiting costs a coroutine, no thread."""
        if self._holder.get():
            yield
            return
        if self._admitted >= self._admission:
            raise HashingBusy
        self._admitted += 1
        try:
            try:
                await asyncio.wait_for(self._slots.acquire(), self._wait_seconds)
            except TimeoutError:
                raise HashingBusy from None
            holding = self._holder.set(True)
            try:
                yield
            finally:
                self._holder.reset(holding)
                self._slots.release()
        finally:
            self._admitted -= 1

    async def _run(self, work: Callable[[], T]) -> T:
        async with self.slot():
            return await asyncio.get_running_loop().run_in_executor(self._threads, work)

    async def hash(self, password: str) -> str:
        return await self._run(lambda: self._hasher.hash(password))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether the password matches; None (no such account) is checked against a dummy
        hash so that it costs the same, and is never a match."""

        def check() -> bool:
            try:
                return self._hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
            except (VerificationError, InvalidHashError):
                return False

        return await self._run(check)

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
