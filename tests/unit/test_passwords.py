"""Password hashing runs on its own lower-priority threads, at most N at once."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Literal

from argon2 import PasswordHasher

from api.auth.passwords import HASHING_NICENESS, HashingBusy, Passwords


def test_hashes_run_on_threads_of_lower_priority() -> None:
    seen: list[tuple[str, int]] = []

    class Observing(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            thread = threading.current_thread()
            seen.append((thread.name, os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
            return super().hash(password, salt=salt)

    passwords = Passwords(Observing(time_cost=1, memory_cost=8, parallelism=1))

    async def hash_and_check() -> None:
        stored = await passwords.hash("a password of twelve")
        assert await passwords.verify(stored, "a password of twelve")
        assert not await passwords.verify(stored, "another password")
        assert not await passwords.verify(None, "a password of twelve")

    asyncio.run(hash_and_check())
    name, niceness = seen[-1]
    assert name.startswith("argon2")
    assert niceness >= HASHING_NICENESS


def test_hashes_slowed_by_other_work_do_not_make_admission_refuse_a_crowd() -> None:
    """Hashes that took long by the clock (the cores were busy elsewhere, here: asleep) must
    not leave an estimate that refuses the next crowd at once. Measured by wall time, three
    0.4 s hashes made 25 waiting logins look like 10 s of work: all but a few got a 503."""

    class Stalled(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            time.sleep(0.4)
            return super().verify(hash, password)

    passwords = Passwords(Stalled(time_cost=1, memory_cost=8, parallelism=1), wait_seconds=5.0, queue=64)

    async def refused_of(crowd: int) -> int:
        stored = await passwords.hash("a password of twelve")
        for _ in range(3):
            await passwords.verify(stored, "a password of twelve")

        async def log_in() -> bool:
            try:
                async with passwords.slot():
                    await asyncio.sleep(0.01)
            except HashingBusy:
                return True
            return False

        return sum(await asyncio.gather(*(log_in() for _ in range(crowd))))

    assert asyncio.run(refused_of(25)) == 0
