"""Password hashing runs on its own lower-priority threads, at most N at once."""

from __future__ import annotations

import asyncio
import os
import threading

from argon2 import PasswordHasher

from api.auth.passwords import HASHING_NICENESS, Passwords


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
