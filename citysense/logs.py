"""Log records as one JSON object per line (`CITYSENSE_LOG_FORMAT=json`), for containers.

A log collector (Docker's json-file, Loki, journald) keeps each line as one event, so a traceback
stays inside its record instead of becoming thirty events. Fields: `time` (ISO 8601, UTC), `level`,
`service` (the `citysense` sub-command), `logger`, `message`, and, where the code passed them as
`extra=` or `log_context()` set them, `device_id` and `ticket_id`; `exception` holds a traceback.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = [
    "CONTEXT_FIELDS",
    "LOG_FORMATS",
    "JsonFormatter",
    "log_context",
    "log_format_from_env",
    "service_name",
    "set_log_fields",
]

LOG_FORMATS: Final = ("console", "json")
# Record attributes copied into the JSON object when set (by `extra=` or by `log_context`).
CONTEXT_FIELDS: Final = ("device_id", "ticket_id", "partition")

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("citysense_log_context", default=None)
_process_fields: dict[str, Any] = {}


def set_log_fields(**fields: Any) -> None:
    """Fields of the whole process, e.g. the `device_id` of an edge agent (one device per process)."""
    _process_fields.update(fields)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach fields (e.g. `device_id`) to every record logged inside the block, in this thread."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def log_format_from_env() -> str:
    """`CITYSENSE_LOG_FORMAT`, checked: a typo must not silently give console logs in production."""
    value = os.environ.get("CITYSENSE_LOG_FORMAT", "console").strip().lower() or "console"
    if value not in LOG_FORMATS:
        raise ValueError(f"CITYSENSE_LOG_FORMAT={value!r}: use one of {', '.join(LOG_FORMATS)}")
    return value


def service_name(argv: list[str] | None = None) -> str:
    """The service a process runs: the `citysense` sub-command (`ingest`, `analytics`, `api`, ...)."""
    args = sys.argv if argv is None else argv
    for arg in args[1:]:
        if not arg.startswith("-"):
            return arg
    return "citysense"


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None and context is not None:
                value = context.get(name)
            if value is None:
                value = _process_fields.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()
