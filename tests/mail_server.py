"""A real SMTP server in the test process (aiosmtpd), on 127.0.0.1: what the service sends,
as received. It can be stopped and started again on its port, for outages."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import time
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

LINK_TOKEN = re.compile(r"https?://\S+/(?P<page>[a-z-]+)\?token=(?P<token>[A-Za-z0-9_%-]+)")


class Inbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MailServer:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, recipient: str) -> list[EmailMessage]:
        return [message for message in self.inbox.messages if message["To"] == recipient]

    def wait_for(self, recipient: str, count: int = 1, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.to(recipient)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.to(recipient)


def token_in(message: EmailMessage, page: str) -> str:
    """The token of the message's link to `page` (reset-password, accept-invitation, ...)."""
    body = message.get_content()
    for found in LINK_TOKEN.finditer(body):
        if found["page"] == page:
            return found["token"].replace("%2D", "-")
    raise AssertionError(f"no {page} link in: {body}")
