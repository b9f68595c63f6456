"""Logging set-up with one redaction filter on every handler.

Two layers keep secrets out of logs:

* patterns for things that look like secrets wherever they come from (Slack tokens,
  ``Bearer …`` headers, ``client_secret=…``/``token=…`` pairs, ``"AuthValue": …``, the
  refs and return ids in the authorisation pages' URLs, of which there is one per link);
* exact values the bot learns at run time (the Cyclr client secret, access tokens, sign-in
  tokens, API keys and passwords typed into a modal), registered with :func:`register_secret`
  for as long as the bot could log them, and masked in their URL-encoded and JSON-escaped
  forms too (a form body or a JSON document quoting a secret).

The filter rewrites the message, its arguments and any traceback text before a formatter
sees them, so a third-party library's log line is cleaned too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MAX_SECRETS",
    "JsonFormatter",
    "RedactingFilter",
    "SecretRegistry",
    "configure_logging",
    "encoded_forms",
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
    # /authorise/<ref> and /authorised/<return id>, the path as is, JSON-escaped or URL-encoded.
    re.compile(r"(?i)(authorised?(?:/|\\/|%2F|%5C%2F))[A-Za-z0-9_-]{16,}"),
    # /cyclr/webhook/<secret>, Cyclr's error webhook for a subscribed account.
    re.compile(r"(?i)(webhook(?:/|\\/|%2F|%5C%2F))[A-Za-z0-9_-]{16,}"),
]

#: At most this many values are registered at once; past it, the value that expires soonest
#: goes (one registered without a lifetime, a setting, never does).
MAX_SECRETS = 512


def encoded_forms(value: str) -> frozenset[str]:
    """``value`` as a log line may carry it.

    As is; as Python's ``repr`` writes it inside quotes; JSON-escaped (``ensure_ascii`` on
    and off, and with ``/`` written ``\\/`` as Slack's JSON does); and each of those but the
    ``repr`` URL-encoded by ``quote`` and ``quote_plus`` (a query string, a form body such
    as Slack's ``payload=<JSON>``), plus ``quote`` keeping ``/`` (a URL path).
    """
    json_forms = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    json_forms |= {form.replace("/", "\\/") for form in json_forms}
    texts = {value, *json_forms}
    forms = texts | {repr(value)[1:-1], quote(value, safe="/")}
    for text in texts:
        forms |= {quote(text, safe=""), quote_plus(text)}
    return frozenset(form for form in forms if len(form) >= _MIN_SECRET_LEN)


_UNCHANGED_RUN = re.compile(r"[A-Za-z0-9_.~-]+")
_MIN_PROBE = 4


def _probe(value: str) -> str:
    """The longest run of ``value`` that every form in :func:`encoded_forms` contains as is
    ("" when it is too short to tell lines apart: then every form is looked for)."""
    probe = max(_UNCHANGED_RUN.findall(value), key=len, default="")
    return probe if len(probe) >= _MIN_PROBE else ""


class SecretRegistry:
    """Values to mask, each until it expires.

    A log line is tested for each live value's *probe*, its longest run of characters no
    encoding changes (letters, digits, ``-._~``), which every form contains; only when the
    probe is there are the value's forms looked for (longest first). So a line costs about a
    substring test per live value: each is kept only while the bot could still log it, and
    there are at most ``limit``.

    Args:
        clock: Monotonic seconds (injectable for tests).
        limit: How many values are kept at most.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, limit: int = MAX_SECRETS) -> None:
        self._clock = clock
        self._limit = limit
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}  # value -> when it stops being masked (inf: never)
        self._forms: dict[str, tuple[str, tuple[str, ...]]] = {}  # value -> (probe, forms)
        self._scan: tuple[tuple[str, tuple[str, ...]], ...] = ()  # longest forms first
        self._next_expiry = math.inf

    def __len__(self) -> int:
        return len(self._expiry)

    def register(self, value: str | None, ttl: float | None = None) -> None:
        """Mask ``value`` for ``ttl`` seconds from now (None: for as long as the process runs).

        Registering a value again extends its lifetime, never shortens it.
        """
        if not value or len(value) < _MIN_SECRET_LEN:
            return
        now = self._clock()
        expires = math.inf if ttl is None else now + max(0.0, ttl)
        with self._lock:
            if self._expiry.get(value, -math.inf) >= expires:
                return
            self._expiry[value] = expires
            if value not in self._forms:
                self._forms[value] = (
                    _probe(value),
                    tuple(sorted(encoded_forms(value), key=len, reverse=True)),
                )
            self._drop_expired(now)
            while len(self._expiry) > self._limit:
                self._forget(min(self._expiry, key=self._expiry.__getitem__))
            self._rebuild()

    def redact(self, text: str) -> str:
        """``text`` with every form of every live value masked."""
        if self._clock() >= self._next_expiry:
            with self._lock:
                self._drop_expired(self._clock())
                self._rebuild()
        for probe, forms in self._scan:
            if probe in text:
                for form in forms:
                    if form in text:
                        text = text.replace(form, MASK)
        return text

    def _drop_expired(self, now: float) -> None:
        for value in [v for v, expires in self._expiry.items() if expires <= now]:
            self._forget(value)

    def _forget(self, value: str) -> None:
        del self._expiry[value]
        del self._forms[value]

    def _rebuild(self) -> None:
        self._scan = tuple(sorted(self._forms.values(), key=lambda group: len(group[1][0]), reverse=True))
        self._next_expiry = min(self._expiry.values(), default=math.inf)


_registry = SecretRegistry()

reference_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("reference_id", default=None)
"""The reference id of the request being handled, shown to users next to an error."""


def register_secret(value: str | None, ttl: float | None = None) -> None:
    """Mask ``value``, in every form :func:`encoded_forms` lists, in every log line for
    ``ttl`` seconds from now (None: as long as the process runs, for settings)."""
    _registry.register(value, ttl)


def redact(text: str) -> str:
    """Return ``text`` with every known secret and secret-looking value masked."""
    text = _registry.redact(text)
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
