"""How an ``AuthValue`` authenticates an account connector, and what the sandbox keeps of it.

Cyclr's rules as far as they are known (cyclr-api.md §2.2-2.5): an API key is plain text,
Basic is base64 of ``username:password``, an OAuth connector may be given pre-obtained
tokens as a JSON string (``"{}"`` lets client-credentials connectors authenticate
themselves), and a connector without auth is always authenticated. The sandbox never keeps
the secret: only its kind, a SHA-256 fingerprint and, for Basic, the user name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AuthReceived", "AuthValueError", "evaluate_auth_value", "fingerprint"]

AuthValueKind = Literal["none", "api_key", "basic", "oauth_tokens", "empty_json", "text"]


class AuthValueError(ValueError):
    """The AuthValue cannot authenticate this connector; the message is Cyclr's answer."""


@dataclass(frozen=True, slots=True)
class AuthReceived:
    """What an install or update carried as AuthValue, without the secret itself.

    ``sha256`` is the hex digest of the AuthValue string exactly as sent, so a test can
    check the right secret arrived (``hashlib.sha256(value.encode()).hexdigest()``).
    ``via`` is where it came from: ``install``, ``update``, ``oauth`` or ``sandbox``.
    """

    kind: AuthValueKind = "none"
    sha256: str | None = None
    username: str | None = None
    via: str = "install"


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _basic_username(value: str) -> str:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        decoded = ""
    username, sep, _password = decoded.partition(":")
    if not sep or not username:
        raise AuthValueError("AuthValue must be the base64 encoding of 'username:password'.")
    return username


def evaluate_auth_value(method: Mapping[str, Any], value: Any, *, via: str) -> tuple[bool, AuthReceived]:
    """Whether ``value`` authenticates a connector with auth ``method``, and what to keep of it.

    ``method`` carries ``AuthType`` and ``OAuth2Type`` (an ``Authentication[]`` entry or the
    connector itself). Raises :class:`AuthValueError` for a value Cyclr would refuse.
    """
    if value is not None and not isinstance(value, str):
        raise AuthValueError("AuthValue must be a string.")
    auth_type = str(method.get("AuthType") or "None").strip().lower()
    grant = str(method.get("OAuth2Type") or "").strip().lower()
    text = value or ""
    digest = fingerprint(text) if text else None
    as_json = _json_object(text) if text else None
    json_kind: AuthValueKind | None = None
    if as_json is not None:
        json_kind = "oauth_tokens" if as_json.get("AccessToken") else "empty_json"

    if auth_type == "none":
        return True, AuthReceived(json_kind or ("text" if text else "none"), digest, via=via)
    if not text:
        authenticated = auth_type == "oauth2" and grant == "clientcredentials"
        return authenticated, AuthReceived("none", None, via=via)
    if auth_type == "apikey":
        return True, AuthReceived("api_key", digest, via=via)
    if auth_type == "basic":
        return True, AuthReceived("basic", digest, username=_basic_username(text), via=via)
    if auth_type in ("oauth1", "oauth2", "netsuiteoauth1") and grant != "passwordcredentials":
        if json_kind is None:
            raise AuthValueError("AuthValue for an OAuth connector must be a JSON object of tokens, or '{}'.")
        client_credentials = auth_type == "oauth2" and grant == "clientcredentials"
        return json_kind == "oauth_tokens" or client_credentials, AuthReceived(json_kind, digest, via=via)
    # AuthFields, Kerberos, OAuth2 password credentials...: any value is taken as given.
    return True, AuthReceived(json_kind or "text", digest, via=via)
