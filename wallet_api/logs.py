"""Logging: one format for the whole process (``WALLET_LOG_FORMAT=text|json``) and a request
id on every line.

The id lives in a context variable that ``wallet_api.edge`` sets for each request, so a line
logged by the domain while it serves the request carries the id too, without passing it down.
Configured through Litestar's ``LoggingConfig`` (a ``dictConfig``): the ``wallet`` loggers, the
``litestar`` logger and the servers' own (``uvicorn``, ``_granian``) write to stderr.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.logging.config import LoggingConfig

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# What an access line carries besides its message (``extra=`` of the log call).
ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "client")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request it was logged in (``-`` outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, the access fields
    when present, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get() or "-",
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: str) -> LoggingConfig:
    """Litestar's logging configuration for ``log_format`` (``text`` or ``json``)."""
    if log_format not in FORMATS:
        raise ValueError(f"WALLET_LOG_FORMAT must be text or json: {log_format!r}")
    handler = {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "filters": ["request_id"],
    }
    ours = {"level": "INFO", "handlers": ["wallet"], "propagate": False}
    return LoggingConfig(
        configure_root_logger=False,
        filters={"request_id": {"()": RequestIdFilter}},
        formatters={"text": {"format": TEXT_FORMAT}, "json": {"()": JsonFormatter}},
        handlers={"wallet": handler},
        loggers={
            "wallet": dict(ours),
            "litestar": dict(ours),
            "uvicorn": dict(ours),
            "_granian": dict(ours),
            # The servers' own access lines stay off: the app writes one (wallet.access).
            # (Configuring "uvicorn" would otherwise reset its child to propagate again.)
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "granian.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    )
