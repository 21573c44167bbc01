"""Log lines: JSON objects (or plain text for a developer's terminal), a request id on
every line written while a request is served, and secrets and personal data scrubbed.

Nothing logs request or response bodies. Redaction is the second line of defence, for
free text that reaches a log from elsewhere (an exception message, a library's own line
such as uvicorn's websocket line with its query string): it runs in the formatters, so it
covers the message, every extra field and the traceback alike.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

LogFormat = Literal["auto", "json", "text"]

REDACTED = "[redacted]"
#: names whose values are secrets (``access_token`` and the like contain ``token``)
_SECRET_NAMES = ("password", "passwd", "secret", "token", "api_key", "apikey")
_SECRET_NAME_RE = "|".join(("access_token", "refresh_token", "metrics_token", *_SECRET_NAMES))
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
#: token=…, "password": "…", api_key: … (query strings, forms, JSON, reprs)
_SECRET_VALUE = re.compile(
    rf"(?i)(\b(?:{_SECRET_NAME_RE})\b[\"']?\s*[=:]\s*[\"']?)[^\s&\"',;)}}\]]+"
)
_NUMBERS = (
    # resident identity card numbers (18 characters with a birth date inside)
    (
        re.compile(
            r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
            r"\d{3}[0-9Xx](?![0-9A-Za-z])"
        ),
        "[id-number]",
    ),
    # mobile phones (+86 138 1234 5678, 13812345678, 138-1234-5678), landlines (0771-1234567)
    (re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"), "[phone]"),
    (re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"), "[phone]"),
)
_THREE_DIGITS = re.compile(r"\d{3}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact(text: str) -> str:
    """``text`` with credentials, phone and identity numbers and e-mail addresses replaced.

    Each pattern runs only where a cheap test says it could match: most log text has
    nothing to redact, and the access log writes a line per request."""
    low = text.lower()
    if "bearer" in low or "basic" in low:
        text = _BEARER.sub(rf"\1 {REDACTED}", text)
    if ("=" in text or ":" in text) and any(name in low for name in _SECRET_NAMES):
        text = _SECRET_VALUE.sub(rf"\1{REDACTED}", text)
    if _THREE_DIGITS.search(text):
        for pattern, replacement in _NUMBERS:
            text = pattern.sub(replacement, text)
    if "@" in text:
        text = _EMAIL.sub("[email]", text)
    return text


# ---------------------------------------------------------------- request context


@dataclass(slots=True)
class RequestInfo:
    """What every log line written while serving one request carries."""

    request_id: str
    user_id: int | None = None


current_request: ContextVar[RequestInfo | None] = ContextVar("current_request", default=None)


def note_user(user_id: int) -> None:
    """The caller is known (signed in): later lines of this request name the user."""
    info = current_request.get()
    if info is not None:
        info.user_id = user_id


class RequestContext(logging.Filter):
    """Adds ``request_id`` and ``user_id`` of the request being served, if any."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request.get()
        if info is not None:
            if not hasattr(record, "request_id"):
                record.request_id = info.request_id
            if info.user_id is not None and not hasattr(record, "user_id"):
                record.user_id = info.user_id
        return True


# ---------------------------------------------------------------- formatters


def _iso_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line: time, level, logger, message, then the record's fields."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            # uvicorn adds a coloured copy of some messages
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_time(record)

    #: fields the app fills with values that cannot hold a secret (checked or templated)
    SAFE = frozenset(("time", "level", "logger", "request_id", "method", "route"))

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {
            k: redact(v) if isinstance(v, str) and k not in self.SAFE else v
            for k, v in log_data.items()
        }


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value…`` for a developer's terminal, redacted too."""

    FIELDS = ("request_id", "user_id")

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_time(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = " ".join(f"{k}={getattr(record, k)}" for k in self.FIELDS if hasattr(record, k))
        if fields:
            head, sep, tail = text.partition("\n")
            text = f"{head}  [{fields}]{sep}{tail}"
        return redact(text)


# ---------------------------------------------------------------- configuration


def resolve_format(fmt: LogFormat) -> Literal["json", "text"]:
    """``auto``: plain text on a terminal (a developer), JSON otherwise (a service)."""
    if fmt == "auto":
        return "text" if sys.stderr.isatty() else "json"
    return fmt


def logging_config(fmt: LogFormat, level: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the app and uvicorn (also its ``log_config``,
    so every worker process sets it up the same way): one handler on stderr, uvicorn's
    own access log off (the app writes its own, with route templates and no query strings).
    """
    formatter = JsonFormatter if resolve_format(fmt) == "json" else TextFormatter
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestContext}},
        "formatters": {"main": {"()": formatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["request"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "alembic.runtime.plugins": {"level": "WARNING"},  # a line per plugin, each start
        },
    }
