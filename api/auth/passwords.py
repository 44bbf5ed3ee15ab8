"""Password hashing with Argon2id at OWASP's recommended parameters, kept from starving
everything else.

Each hash takes ~40 ms of a core and 19 MiB. So that a flood of logins or registrations
cannot take the service down with it:
- at most PASSWORD_HASH_CONCURRENCY hashes run at once in a process. Others wait, as a
  coroutine on the event loop, not a thread, until a deadline (PASSWORD_HASH_WAIT_MS): a
  request is refused (HashingBusy, a 503 with Retry-After) when the hashes ahead of it, at
  the measured CPU time per hash, would not finish by then, past PASSWORD_HASH_QUEUE
  waiting, or when the deadline passes. A queue of one (before) refused 46 of 50 users
  logging in at once, though the machine could hash them all in about 2 s;
- each client (an email, an address) holds at most PASSWORD_HASH_PER_CLIENT logins in
  progress at once; past that it gets a 429 (TooManyAtOnce) before any database work, so
  one client flooding logins on 20 connections cannot take the places of everyone else;
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
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.http.problems import Overloaded

T = TypeVar("T")
# Nice 10 weighs about a tenth of a normal thread in Linux's scheduler.
HASHING_NICENESS = 10
_M_MMAP_THRESHOLD = -3


class HashingBusy(Overloaded):
    """The hashes ahead would not finish before the deadline."""

    detail = "Too many password checks are running; retry shortly."
    reason = "hashing_busy"


class TooManyAtOnce(Overloaded):
    """One client (an email or an address) already holds its share of the hashing places."""

    status = 429
    detail = "Too many sign-in attempts from you at once; wait for one to finish."
    reason = "hashing_per_client"


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
        queue: int = 64,
        wait_seconds: float = 5.0,
        per_client: int = 2,
    ) -> None:
        return_large_buffers_to_the_system()
        self._hasher = hasher or owasp_hasher()
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        # Hashing plus waiting: past this many, a request is refused without waiting.
        self._admission = concurrency + queue
        self._admitted = 0
        self._wait_seconds = wait_seconds
        self._per_client = per_client
        self._clients: dict[bytes, int] = {}
        # CPU seconds one hash takes here, learned as hashes run (a moving average). CPU time,
        # not wall time: under a burst of other work a hash took several times longer by
        # the clock, the average stayed there once refusals stopped new samples, and 31 of
        # 50 users logging in right after a flood were refused at once (make bench). Past
        # this optimistic estimate, the deadline itself still refuses.
        self._seconds_per_hash = 0.05
        self._holder: contextvars.ContextVar[bool] = contextvars.ContextVar("hashing_slot", default=False)
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_lower_this_threads_priority
        )
        # Verifying unknown emails against this keeps their response time like a real
        # account's, so timing does not tell who has an account.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))

    @contextmanager
    def share(self, *clients: bytes) -> Iterator[None]:
        """One of the places each of these clients (keys of an email and an address) may
        hold at once, for the block: TooManyAtOnce past PASSWORD_HASH_PER_CLIENT. A login
        holds it from before its database work until its check is done, so a client
        flooding logins is refused before it costs a round trip or a hashing slot."""
        if any(self._clients.get(client, 0) >= self._per_client for client in clients):
            raise TooManyAtOnce
        for client in clients:
            self._clients[client] = self._clients.get(client, 0) + 1
        try:
            yield
        finally:
            for client in clients:
                if self._clients[client] <= 1:
                    del self._clients[client]
                else:
                    self._clients[client] -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A hashing slot for the block: hash() and verify() inside it use it. Waiting costs
        a coroutine, no thread."""
        if self._holder.get():
            yield
            return
        rounds_ahead = self._admitted // self._concurrency + 1
        if self._admitted >= self._admission or rounds_ahead * self._seconds_per_hash > self._wait_seconds:
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
        def timed() -> tuple[T, float]:
            started = time.thread_time()
            return work(), time.thread_time() - started

        async with self.slot():
            done, cpu_seconds = await asyncio.get_running_loop().run_in_executor(self._threads, timed)
            self._seconds_per_hash += 0.2 * (cpu_seconds - self._seconds_per_hash)
            return done

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
