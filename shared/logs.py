"""One logging setup for the web app, the relay and the worker: JSON lines in production, text in dev.

Every line carries the request id and the event id when one is known (set with `bound()` or passed as
`extra`), and goes through `redact()`, so an email address, a password or a token that slips into a
message never reaches the log: the callers avoid logging them, this is the net under them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from shared.settings import Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
CONTEXT_FIELDS = {"request_id": request_id_var, "event_id": event_id_var}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Order matters: URL credentials before the email pattern would see "user:secret@host" as an address.
_REDACTIONS = [
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.IGNORECASE), r"\1<redacted>@"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), "<token>"),
    (re.compile(r"(\bbearer\s+)[\w.~+/-]+=*", re.IGNORECASE), r"\1<token>"),
    (
        re.compile(
            r"""(\b\w*(?:password|passwd|secret|token|api_?key|authorization)\w*"""
            r"""["']?\s*[:=]\s*["']?)[^\s"'&,;}]+""",
            re.IGNORECASE,
        ),
        r"\1<redacted>",
    ),
    (re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"), "<email>"),
]


# Text each pattern above cannot match without, lower-cased. Most lines (the access log's, one per
# request) hold none of it, and the five regexes cost ~0.1 ms a line, so an ASCII line skips the
# patterns whose text it lacks. Not for other lines: IGNORECASE also matches non-ASCII letters
# (the Kelvin sign for "k", say) that lower() would not turn into these.
_NEEDLES = [
    ("://",),
    ("eyj",),
    ("bearer",),
    ("password", "passwd", "secret", "token", "api_key", "apikey", "authorization"),
    ("@",),
]


def redact(text: str) -> str:
    """Mask email addresses, tokens, passwords and URL credentials in a log text."""
    if not text.isascii():
        for pattern, replacement in _REDACTIONS:
            text = pattern.sub(replacement, text)
        return text
    lowered = text.lower()
    for (pattern, replacement), needles in zip(_REDACTIONS, _NEEDLES, strict=True):
        if any(needle in lowered for needle in needles):
            text = pattern.sub(replacement, text)
            lowered = text.lower()
    return text


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    """Stamp every line logged inside the block with these ids (request_id, event_id)."""
    tokens = [(CONTEXT_FIELDS[name], CONTEXT_FIELDS[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copy the bound request and event ids onto each record (an explicit `extra` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops one."""
        for name, var in CONTEXT_FIELDS.items():
            if getattr(record, name, None) is None:
                setattr(record, name, var.get())
        return True


class TextFormatter(logging.Formatter):
    """Readable lines for `make run`: the classic format, ids appended, secrets masked."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """Format, append the known ids, redact."""
        line = super().format(record)
        ids = " ".join(f"{name}={value}" for name in CONTEXT_FIELDS if (value := getattr(record, name, None)))
        return redact(f"{line} [{ids}]" if ids else line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors: time, level, logger, message, ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record with its ids; message and traceback redacted."""
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name in CONTEXT_FIELDS:
            if value := getattr(record, name, None):
                body[name] = str(value)
        if record.exc_info:
            body["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False, default=str)


def log_format(settings: Settings) -> str:
    """LOG_FORMAT, or its default: json in production, text elsewhere."""
    return settings.log_format or ("json" if settings.is_production else "text")


def log_config(settings: Settings, *, loggers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dictConfig for a process: one stderr handler with the context filter and our formatter."""
    formatter = JsonFormatter if log_format(settings) == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"level": settings.log_level, "handlers": ["default"]},
        "loggers": loggers or {},
    }


def configure_logging(settings: Settings) -> None:
    """Install the process's logging (replacing whatever the root logger had)."""
    logging.config.dictConfig(log_config(settings))
