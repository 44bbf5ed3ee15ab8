"""`make bench` only: latency at a fixed request rate (open loop). wrk is closed-loop: a
slow answer delays the next request, so its p99 understates what clients see at
saturation. Here requests are due at fixed times whatever the answers do, and each one's
latency counts from when it was due (no coordinated omission), over a few keep-alive
connections. Requests are the crowd's (tests/bench/lua/crowd.lua's file)."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from pathlib import Path
from typing import Any


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _run(
    host: str, port: int, crowd: list[tuple[str, str]], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    due: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while (scheduled := await due.get()) is not None:
            token, path = random.choice(crowd)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
            status = await _read_response(reader)
            latencies.append(time.monotonic() - scheduled)
            if status != 200:
                errors += 1
        writer.close()

    clients = [asyncio.create_task(client()) for _ in range(connections)]
    started = time.monotonic()
    total = int(rate * seconds)
    for n in range(total):
        when = started + n / rate
        delay = when - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(when)
    for _ in clients:
        due.put_nowait(None)
    await asyncio.gather(*clients)
    ordered = sorted(latencies)
    return {
        "rate": rate,
        "requests": len(ordered),
        "errors": errors,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "max_ms": 1000 * ordered[-1],
    }


def open_loop(url: str, crowd_file: Path, rate: float, seconds: float = 8, connections: int = 32) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    crowd = [tuple(line.split(" ", 1)) for line in crowd_file.read_text().splitlines()]
    return asyncio.run(_run(host, int(port), crowd, rate, seconds, connections))  # type: ignore[arg-type]
