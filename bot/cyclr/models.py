"""Typed, immutable views of Cyclr's JSON objects.

Every ``from_api`` accepts the loose shapes Cyclr is known to send (fields missing, ``null``
or of an unexpected enum value) and never raises on an unknown value: an unknown auth type
becomes :attr:`AuthKind.UNKNOWN`, which the bot treats as "install without credentials and
tell the user to finish authentication in Cyclr".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Account",
    "AccountConnector",
    "AuthKind",
    "AuthMethod",
    "Connector",
    "ConnectorProperty",
    "SignInToken",
    "auth_kind_of",
]


class AuthKind(enum.StrEnum):
    """What the user must supply to authenticate a connector."""

    API_KEY = "api_key"  #: one secret value, sent as AuthValue
    BASIC = "basic"  #: username and password, sent as base64("user:pass")
    OAUTH = "oauth"  #: a browser sign-in through Cyclr's authorisation link
    NONE = "none"  #: nothing (no auth, or Cyclr authenticates by itself)
    UNKNOWN = "unknown"  #: a type the bot does not know: install, then authenticate in Cyclr

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    AuthKind.API_KEY: "API key",
    AuthKind.BASIC: "Username and password",
    AuthKind.OAUTH: "OAuth (sign-in link)",
    AuthKind.NONE: "No authentication",
    AuthKind.UNKNOWN: "Set up in Cyclr",
}

_OAUTH_TYPES = {"oauth1", "oauth2", "netsuiteoauth1", "oauth"}


def auth_kind_of(auth_type: str | None, oauth2_type: str | None = None) -> AuthKind:
    """Classify Cyclr's ``AuthType``/``OAuth2Type`` pair; never raises."""
    kind = (auth_type or "").strip().lower()
    grant = (oauth2_type or "").strip().lower()
    if kind in ("", "none"):
        return AuthKind.NONE
    if kind == "apikey":
        return AuthKind.API_KEY
    if kind == "basic":
        return AuthKind.BASIC
    if kind in _OAUTH_TYPES:
        if kind == "oauth2" and grant == "clientcredentials":
            return AuthKind.NONE
        if kind == "oauth2" and grant == "passwordcredentials":
            return AuthKind.UNKNOWN
        return AuthKind.OAUTH
    return AuthKind.UNKNOWN


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class AuthMethod:
    """One entry of a connector's ``Authentication[]`` (Cyclr's newer multi-auth)."""

    id: str | None
    name: str
    auth_type: str | None
    oauth2_type: str | None = None
    description: str | None = None

    @property
    def kind(self) -> AuthKind:
        return auth_kind_of(self.auth_type, self.oauth2_type)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AuthMethod:
        auth_type = _str(data.get("AuthType"))
        return cls(
            id=_str(data.get("Id")),
            name=_str(data.get("AuthName")) or auth_type or "Authentication",
            auth_type=auth_type,
            oauth2_type=_str(data.get("OAuth2Type")),
            description=_str(data.get("AuthDescription")),
        )


@dataclass(frozen=True, slots=True)
class ConnectorProperty:
    """A connector parameter the installer sets on the account connector."""

    target_name: str
    name: str
    description: str | None = None
    is_sensitive: bool = False
    is_optional: bool = True
    values: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ConnectorProperty:
        target = _str(data.get("TargetName")) or _str(data.get("Name")) or ""
        raw_values = data.get("Values") or []
        values = tuple(
            str(v.get("Value") if isinstance(v, Mapping) else v) for v in raw_values if v is not None
        )
        return cls(
            target_name=target,
            name=_str(data.get("Name")) or target,
            description=_str(data.get("Description")),
            is_sensitive=_bool(data.get("IsSensitive")),
            is_optional=_bool(data.get("IsOptional", True)),
            values=values,
        )


@dataclass(frozen=True, slots=True)
class Connector:
    """A connector in the catalogue (``GET /v1.0/connectors``)."""

    id: int
    name: str
    description: str | None = None
    version: str | None = None
    status: str | None = None
    auth_type: str | None = None
    oauth2_type: str | None = None
    icon: str | None = field(default=None, repr=False)
    authentications: tuple[AuthMethod, ...] = ()
    properties: tuple[ConnectorProperty, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def auth_kind(self) -> AuthKind:
        """The kind of the default auth method: the first ``Authentication[]`` entry, else top level."""
        method = self.default_auth_method
        if method is not None:
            return method.kind
        return auth_kind_of(self.auth_type, self.oauth2_type)

    @property
    def default_auth_method(self) -> AuthMethod | None:
        return self.authentications[0] if self.authentications else None

    @property
    def is_installable(self) -> bool:
        """Drafts (and connectors only "planned") cannot be installed."""
        return (self.status or "Approved").strip().lower() not in ("draft", "planned")

    @property
    def required_properties(self) -> tuple[ConnectorProperty, ...]:
        return tuple(p for p in self.properties if not p.is_optional)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Connector:
        params = data.get("Parameters") or []
        properties = tuple(
            ConnectorProperty.from_api(p)
            for p in params
            if isinstance(p, Mapping) and _bool(p.get("IsAccountConnectorProperty"))
        )
        auths = tuple(
            AuthMethod.from_api(a) for a in (data.get("Authentication") or []) if isinstance(a, Mapping)
        )
        categories = tuple(str(c) for c in (data.get("Categories") or []) if c)
        return cls(
            id=_int(data.get("Id")),
            name=_str(data.get("Name")) or f"Connector {data.get('Id')}",
            description=_str(data.get("Description")),
            version=_str(data.get("Version")),
            status=_str(data.get("Status")),
            auth_type=_str(data.get("AuthType")),
            oauth2_type=_str(data.get("OAuth2Type")),
            icon=_str(data.get("Icon")),
            authentications=auths,
            properties=properties,
            categories=categories,
        )


@dataclass(frozen=True, slots=True)
class AccountConnector:
    """A connector installed in an account (``/v1.0/account/connectors``)."""

    id: int
    name: str
    authenticated: bool
    description: str | None = None
    connector: Connector | None = None

    @property
    def auth_kind(self) -> AuthKind:
        return self.connector.auth_kind if self.connector else AuthKind.UNKNOWN

    @property
    def needs_oauth(self) -> bool:
        return self.auth_kind is AuthKind.OAUTH and not self.authenticated

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> AccountConnector:
        raw = data.get("Connector")
        return cls(
            id=_int(data.get("Id")),
            name=_str(data.get("Name")) or "",
            authenticated=_bool(data.get("Authenticated")),
            description=_str(data.get("Description")),
            connector=Connector.from_api(raw) if isinstance(raw, Mapping) else None,
        )


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account of the partner (``/v1.0/accounts``)."""

    id: str
    name: str
    description: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Account:
        account_id = _str(data.get("Id")) or ""
        return cls(
            id=account_id,
            name=_str(data.get("Name")) or account_id,
            description=_str(data.get("Description")),
        )


def _parse_utc(value: Any) -> datetime:
    text = _str(value)
    if not text:
        return datetime.now(UTC)
    text = text.replace("Z", "+00:00")
    # .NET writes 7 fractional digits; fromisoformat takes at most 6.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        rest = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{rest}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SignInToken:
    """A one-time Cyclr sign-in token: single use, valid about five minutes."""

    token: str = field(repr=False)
    expires_at: datetime

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SignInToken:
        return cls(token=str(data.get("Token") or ""), expires_at=_parse_utc(data.get("ExpiresAtUtc")))
