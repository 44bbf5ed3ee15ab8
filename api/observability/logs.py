"""Log lines: one JSON object per line on stdout (the default outside development), or a
human format for local work (LOG_FORMAT=text). gunicorn (api/serving/gunicorn_config.py), the app
(api/app.py) and any other server use the same set-up, so every line has one shape."""

from __future__ import annotations

import datetime
import logging
import logging.config
from typing import Any

from pythonjsonlogger.msgspec import MsgspecFormatter

from api.settings import LogFormat


class JsonLines(MsgspecFormatter):
    """`time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `pid`, `message`, and whatever the
    record carries as `extra` (the request fields, api/observability/request_log.py); tracebacks go in
    `exc_info`. msgspec encodes them: about 17 us a line, formatting and all."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return rfc3339(record.created)


def rfc3339(seconds: float) -> str:
    """A log line's `time`: RFC 3339, UTC, milliseconds."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A logging.config.dictConfig: everything to stdout in one format. gunicorn's own
    access log is off: api/observability/request_log.py writes one line per request instead."""
    formatter: dict[str, Any] = {"()": JsonLines} if log_format == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "line"}},
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def configure(log_format: LogFormat, level: str) -> None:
    logging.config.dictConfig(logging_config(log_format, level))
