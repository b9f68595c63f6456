"""Logging set-up with one redaction filter on every handler.

Two layers keep secrets out of logs:

* patterns for things that look like secrets wherever they come from (Slack tokens,
  ``Bearer …`` headers, ``client_secret=…``/``token=…`` pairs, ``"AuthValue": …``);
* exact values the bot learns at run time (the Cyclr client secret, access tokens, sign-in
  tokens, API keys and passwords typed into a modal), registered with :func:`register_secret`.

The filter rewrites the message, its arguments and any traceback text before a formatter
sees them, so a third-party library's log line is cleaned too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "redact",
    "reference_id",
    "register_secret",
]

MASK = "[redacted]"
_MIN_SECRET_LEN = 6  # shorter values would mask ordinary words

_PATTERNS = [
    re.compile(r"xox[abposre]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:client_secret|access_token|token|password|auth_?value|api_?key)"
        r"[\"']?\s*[=:]\s*[\"']?)([^\s\"'&,}]+)"
    ),
]

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_snapshot: tuple[str, ...] = ()

reference_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("reference_id", default=None)
"""The reference id of the request being handled, shown to users next to an error."""


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line from now on (longest first, so parts never leak)."""
    global _secrets_snapshot
    if not value or len(value) < _MIN_SECRET_LEN:
        return
    with _secrets_lock:
        if value in _secrets:
            return
        _secrets.add(value)
        _secrets_snapshot = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Return ``text`` with every known secret and secret-looking value masked."""
    for secret in _secrets_snapshot:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    """Keep a pattern's first group (the ``key=`` part), mask the rest."""
    return (match.group(1) if match.re.groups else "") + MASK


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and traceback text with secrets masked."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if not hasattr(record, "ref"):
            record.ref = reference_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ref and traceback."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "ref": getattr(record, "ref", None) or reference_id.get(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", *, stream: Any = None) -> logging.Handler:
    """Install one handler on the root logger with the redaction filter; return it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(ref)s] %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs retried URLs, which may carry a query string: keep it quiet below WARNING.
    logging.getLogger("urllib3").setLevel(max(logging.WARNING, root.level))
    return handler
