"""`make bench` only: issue 18's sign-in measurements, against the bench's server (which reads
the client address from X-Real-IP, as on Vercel, so that each simulated user has its own).

- crowd: 50 different users logging in at the same moment.
- flood: one address floods POST /auth/login on 20 connections with its own right password,
  while 20 real users from other addresses log in 0.3 s apart, and GET /auth/me is measured.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.bench.attacks import host_and_port

Result = dict[str, Any]


def log_in(url: str, email: str, password: str, address: str) -> tuple[int, float]:
    """One login on a fresh connection: its status and seconds taken."""
    host, port = host_and_port(url)
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(
            "POST",
            "/auth/login",
            body=json.dumps({"email": email, "password": password}),
            headers={"Content-Type": "application/json", "X-Real-IP": address},
        )
        status = connection.getresponse().status
    except OSError:
        status = 0
    finally:
        connection.close()
    return status, time.monotonic() - started


def crowd(url: str, emails: list[str], password: str) -> Result:
    """Every email logs in at once, each from an address of its own."""
    outcomes: list[tuple[int, float]] = [(0, 0.0)] * len(emails)
    ready = threading.Barrier(len(emails))

    def one(n: int) -> None:
        ready.wait()
        outcomes[n] = log_in(url, emails[n], password, f"198.51.{n // 250}.{n % 250 + 1}")

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(emails))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [status for status, _ in outcomes]
    return {
        "users": len(emails),
        "ok": statuses.count(200),
        "refused_503": statuses.count(503),
        "slowest_seconds": max(seconds for _, seconds in outcomes),
    }


def flood(url: str, flooder: str, real: list[str], password: str, measure_me: Callable[[], Result]) -> Result:
    """20 connections flooding logins from one address, 20 real users from others 0.3 s
    apart, and measure_me() (GET /auth/me under wrk) while it lasts."""
    stop = threading.Event()
    flooded: list[int] = []

    def flood_one() -> None:
        while not stop.is_set():
            flooded.append(log_in(url, flooder, password, "203.0.113.99")[0])

    flooders = [threading.Thread(target=flood_one) for _ in range(20)]
    for thread in flooders:
        thread.start()
    time.sleep(1)
    me: Result = {}
    measuring = threading.Thread(target=lambda: me.update(measure_me()))
    measuring.start()
    outcomes: list[tuple[int, float]] = [(0, 0.0)] * len(real)

    def one(n: int) -> None:
        outcomes[n] = log_in(url, real[n], password, f"192.0.2.{n + 1}")

    users = []
    for n in range(len(real)):
        users.append(threading.Thread(target=one, args=(n,)))
        users[-1].start()
        time.sleep(0.3)
    for thread in users:
        thread.join()
    measuring.join()
    stop.set()
    for thread in flooders:
        thread.join()
    return {
        "real_users": len(real),
        "real_ok": sum(1 for status, _ in outcomes if status == 200),
        "real_slowest_seconds": max(seconds for _, seconds in outcomes),
        "flood_requests": len(flooded),
        "flood_statuses": {str(status): flooded.count(status) for status in sorted(set(flooded))},
        "me": me,
    }
