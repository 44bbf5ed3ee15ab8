"""`make bench` only: the hostile clients of issue 17, held open while the bench measures.

- idle_and_trickling: many idle connections (the server caps them per worker and closes
  the least recently active) and a few clients sending one header line at a time (the
  header timeout closes them; they reconnect).
- large_bodies: connections that each send a body just short of 1 MiB and hold (the body
  budget refuses those past it).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator


def host_and_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


@contextlib.contextmanager
def idle_and_trickling(url: str, idle: int = 5000, trickling: int = 16) -> Iterator[dict[str, int]]:
    address = host_and_port(url)
    opened: list[socket.socket] = []
    stop = threading.Event()
    counts = {"idle_opened": 0, "trickle_reconnects": 0}
    for _ in range(idle):
        try:
            opened.append(socket.create_connection(address, timeout=5))
        except OSError:
            break
    counts["idle_opened"] = len(opened)

    def trickle() -> None:
        while not stop.is_set():
            try:
                with socket.create_connection(address, timeout=5) as slow:
                    slow.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
                    while not stop.is_set():
                        slow.sendall(b"X-Slow: 1\r\n")
                        time.sleep(0.5)
            except OSError:
                counts["trickle_reconnects"] += 1
                time.sleep(0.1)

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(trickling)]
    for thread in threads:
        thread.start()
    try:
        yield counts
    finally:
        stop.set()
        for connection in opened:
            connection.close()
        for thread in threads:
            thread.join(timeout=5)


@contextlib.contextmanager
def large_bodies(url: str, clients: int = 400) -> Iterator[None]:
    address = host_and_port(url)
    head = b"POST /projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"
    held: list[socket.socket] = []

    def send(connection: socket.socket) -> None:
        with contextlib.suppress(OSError):
            connection.sendall(head + b" " * 1_048_000)

    senders = []
    for _ in range(clients):
        try:
            connection = socket.create_connection(address, timeout=10)
        except OSError:
            continue
        held.append(connection)
        sender = threading.Thread(target=send, args=(connection,), daemon=True)
        sender.start()
        senders.append(sender)
    for sender in senders:
        sender.join(timeout=30)
    try:
        yield
    finally:
        for connection in held:
            connection.close()
