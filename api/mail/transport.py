"""Where a message goes: an SMTP server (SMTP_URL), or files under MAIL_DIR in development
and tests. Both are blocking: the outbox calls them on a thread."""

from __future__ import annotations

import datetime
import logging
import re
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from api.settings import Settings

SMTP_TIMEOUT_SECONDS = 10
LINK = re.compile(r"https?://\S+")
log = logging.getLogger("api.mail")


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hands the message over, or raises (smtplib.SMTPException, OSError)."""


class SmtpTransport:
    """smtp://user:password@host:port, with STARTTLS when the server offers it; smtps:// for
    implicit TLS. A connection per delivery round keeps no idle socket between rounds."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (465 if self._implicit_tls else 587)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password or "")

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._implicit_tls:
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            smtp.ehlo()
            if not self._implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._user is not None:
                smtp.login(self._user, self._password)
            smtp.send_message(message)


class FileTransport:
    """Each message as an .eml file under a folder; in development its links are logged too,
    so that the README's walkthrough works from `make run` alone."""

    def __init__(self, folder: Path, log_links: bool) -> None:
        self._folder = folder
        self._log_links = log_links

    def send(self, message: EmailMessage) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%f")
        (self._folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml").write_bytes(bytes(message))
        if self._log_links:
            body = message.get_content()
            for link in LINK.findall(body):
                log.info("mail to %s: %s", message["To"], link)


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url is not None:
        return SmtpTransport(settings.smtp_url)
    return FileTransport(settings.mail_dir, log_links=settings.app_env == "development")
