"""Redaction of Cyclr's error ``Detail``: the raw third-party request and response, headers
included, with whatever credentials they carried.

Applied before a detail is stored, shown in Slack or logged. It errs towards masking: a
value that merely looks like a credential is masked too. Patterns, in order:

* header lines whose name is about credentials (``Authorization``, ``Proxy-Authorization``,
  ``Cookie``/``Set-Cookie``, ``X-Api-Key``, ``ApiKey``, ``X-Auth-Token``, ``*-Token``,
  ``*-Secret``, ``*-Signature``, ``*-Password``…), as ``Name: value`` lines or as JSON/dict
  entries;
* URL user-info (``https://user:pass@host``);
* query-string and form parameters named like secrets (``access_token=``, ``api_key=``,
  ``sig=``, ``client_secret=``, ``password=``, ``code=``…);
* JSON or XML fields named like secrets (``"password": "…"``, ``<apiKey>…</apiKey>``);
* free-standing tokens: ``Bearer …``, ``Basic …``, JWTs, Slack, GitHub, Stripe, AWS, Google
  API keys, PEM private keys;
* the bot's own runtime secrets (:func:`bot.logs.redact`).
"""

from __future__ import annotations

import re

from bot.logs import redact as redact_known

__all__ = ["MASK", "redact_detail"]

MASK = "[redacted]"
#: A detail longer than this is cut (a modal shows 3000 characters of a section at most).
MAX_DETAIL = 20_000

# Words that make a header, parameter or field name a secret's name.
_SECRET_WORDS = (
    r"authori[sz]ation|auth|api[-_ ]?key|apikey|access[-_]?key|secret|token|"
    r"password|passwd|pwd|credential|cookie|session|signature|"
    r"private[-_]?key|bearer|jwt|key"
)
# A name containing one of the words (e.g. X-Shopify-Access-Token, my_api_key, sessionId), or
# one of a few short names that are secrets only on their own (Azure's ``sig``).
_NAME = rf"(?:[A-Za-z0-9_.-]*(?:{_SECRET_WORDS})[A-Za-z0-9_.-]*|sig|pass|pin|otp)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        MASK,
    ),
    # Header lines: "Name: value" up to the end of the line.
    (re.compile(rf"(?im)^(\s*(?:{_NAME})\s*:[ \t]*)(\S.*?)\s*$"), rf"\1{MASK}"),
    # Quoted name/value pairs in JSON, dicts, headers rendered as JSON: "name": "value" or value.
    (
        re.compile(rf"(?i)([\"']{_NAME}[\"']\s*[:=]\s*)(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s,}}\]]+)"),
        rf'\1"{MASK}"',
    ),
    # ["Authorization", "Bearer x"] header pairs.
    (
        re.compile(rf"(?i)(\[\s*[\"']{_NAME}[\"']\s*,\s*)(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"),
        rf'\1"{MASK}"',
    ),
    # XML elements.
    (re.compile(rf"(?is)(<({_NAME})(?:\s[^>]*)?>)(.*?)(</\2\s*>)"), rf"\1{MASK}\4"),
    # URL user-info.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@\"'<>]+(?::[^/\s@\"'<>]*)?@"), rf"\1{MASK}@"),
    # Query and form parameters.
    (re.compile(rf"(?i)([?&;\s]|^)({_NAME})=([^&\s\"'<>#]*)"), rf"\1\2={MASK}"),
    # Free-standing schemes and well-known token shapes.
    (
        re.compile(
            # a token has a digit in it: "Token rejected" stays as it is
            r"(?i)\b(bearer|basic|digest|token|apikey|sharedaccesssignature)[ \t]+"
            r"(?=[A-Za-z0-9._~+/=:-]*\d)[A-Za-z0-9._~+/=:-]{6,}"
        ),
        rf"\1 {MASK}",
    ),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+"), MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    (re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), MASK),
    (re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"), MASK),
)


def redact_detail(text: str | None) -> str:
    """``text`` with anything that looks like a credential masked (never raises)."""
    if not text:
        return ""
    text = text[:MAX_DETAIL]
    text = redact_known(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def looks_clean(text: str, secrets: list[str]) -> bool:
    """True when none of ``secrets`` is in ``text`` (tests, and a last check before posting)."""
    return not any(secret and secret in text for secret in secrets)
