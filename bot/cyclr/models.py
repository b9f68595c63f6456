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
    "AUTH_FAILURE_MESSAGE",
    "CYCLE_INTERVALS",
    "UNAUTHENTICATED_CONNECTOR",
    "Account",
    "AccountConnector",
    "AuthKind",
    "AuthMethod",
    "Connector",
    "ConnectorProperty",
    "Cycle",
    "CycleConnector",
    "CycleStatus",
    "CycleStep",
    "Incident",
    "IncidentLevel",
    "Prerequisite",
    "SignInToken",
    "Template",
    "TemplateConnector",
    "WebhookSettings",
    "auth_kind_of",
    "interval_label",
    "parse_cyclr_date",
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
class WebhookSettings:
    """An account's *Transaction Error Webhook* (cyclr-api.md §9.3): where Cyclr POSTs cycle errors.

    ``url`` is left out of ``repr``: the bot puts an unguessable secret in its path.
    """

    enabled: bool = False
    url: str | None = field(default=None, repr=False)
    include_warnings: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> WebhookSettings:
        return cls(
            enabled=_bool(data.get("TransactionErrorWebhookEnabled")),
            url=_str(data.get("TransactionErrorWebhookUrl")),
            include_warnings=_bool(data.get("TransactionErrorWebhookIncludeWarnings")),
        )

    def to_api(self) -> dict[str, Any]:
        """The three account fields, as ``PUT /accounts/{id}`` takes them."""
        return {
            "TransactionErrorWebhookEnabled": self.enabled,
            "TransactionErrorWebhookUrl": self.url,
            "TransactionErrorWebhookIncludeWarnings": self.include_warnings,
        }


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account of the partner (``/v1.0/accounts``)."""

    id: str
    name: str
    description: str | None = None
    webhook: WebhookSettings = field(default_factory=WebhookSettings)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Account:
        account_id = _str(data.get("Id")) or ""
        return cls(
            id=account_id,
            name=_str(data.get("Name")) or account_id,
            description=_str(data.get("Description")),
            webhook=WebhookSettings.from_api(data),
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


def parse_cyclr_date(value: Any) -> datetime | None:
    """A Cyclr date as an aware UTC datetime; ``None`` when missing, malformed or "never".

    Cyclr writes .NET dates: seven fractional digits, ``Z`` or no zone at all (UTC), and
    ``0001-01-01T00:00:00`` (``DateTime.MinValue``) for a date that has not happened yet,
    e.g. the ``LastSuccessfulRunDate`` of a cycle that never ran.
    """
    text = _str(value)
    if not text:
        return None
    try:
        parsed = _parse_utc(text)
    except ValueError:
        return None
    if parsed.year <= 1:
        return None
    return parsed.astimezone(UTC)


# -- templates and cycles (cyclr-api.md §9) ---------------------------------------------

#: The run intervals Cyclr accepts, in minutes (``PUT /cycles/{id}/activate``).
CYCLE_INTERVALS: tuple[int, ...] = (1, 5, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440, 10080)

_INTERVAL_UNITS = ((10080, "week"), (1440, "day"), (60, "hour"), (1, "minute"))


def interval_label(minutes: int) -> str:
    """``15`` → "Every 15 minutes", ``60`` → "Every hour", ``1440`` → "Every day"."""
    for size, unit in _INTERVAL_UNITS:
        if minutes >= size and minutes % size == 0:
            count = minutes // size
            return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"
    raise ValueError(f"not a whole number of minutes: {minutes!r}")


@dataclass(frozen=True, slots=True)
class TemplateConnector:
    """A connector a template uses, and in how many of its steps."""

    connector_id: int
    name: str
    version: str | None = None
    step_count: int = 0

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TemplateConnector:
        return cls(
            connector_id=_int(data.get("Id")),
            name=_str(data.get("Name")) or f"Connector {data.get('Id')}",
            version=_str(data.get("Version")),
            step_count=_int(data.get("StepCount")),
        )


@dataclass(frozen=True, slots=True)
class Template:
    """An integration template in the partner's library (``GET /v1.0/templates``)."""

    id: str
    name: str
    description: str | None = None
    connectors: tuple[TemplateConnector, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def connector_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.connectors)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Template:
        template_id = _str(data.get("Id")) or ""
        return cls(
            id=template_id,
            name=_str(data.get("Name")) or template_id,
            description=_str(data.get("Description")),
            connectors=tuple(
                TemplateConnector.from_api(c)
                for c in (data.get("Connectors") or [])
                if isinstance(c, Mapping)
            ),
            tags=tuple(str(t) for t in (data.get("Tags") or []) if t),
        )


class CycleStatus(enum.StrEnum):
    """A cycle's ``Status``; any other text is :attr:`UNKNOWN`."""

    ACTIVE = "Active"
    PAUSED = "Paused"
    STOPPING = "Stopping"
    ERROR = "Error"
    UNKNOWN = "Unknown"

    @classmethod
    def of(cls, text: str | None) -> CycleStatus:
        wanted = (text or "").strip().casefold()
        for status in cls:
            if status.value.casefold() == wanted:
                return status
        return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class CycleConnector:
    """A connector a cycle uses: which installed (account) connector, and whether it is authenticated."""

    connector_id: int
    account_connector_id: int | None
    name: str
    authenticated: bool
    version: str | None = None
    step_count: int = 0

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CycleConnector:
        account_connector_id = _int(data.get("AccountConnectorId"))
        return cls(
            connector_id=_int(data.get("Id")),
            account_connector_id=account_connector_id or None,
            name=_str(data.get("Name")) or f"Connector {data.get('Id')}",
            authenticated=_bool(data.get("Authenticated")),
            version=_str(data.get("Version")),
            step_count=_int(data.get("StepCount")),
        )


@dataclass(frozen=True, slots=True)
class Cycle:
    """A cycle in an account: an installed template (``/v1.0/cycles``).

    ``status`` is Cyclr's text; :attr:`state` classifies it. ``last_successful_run`` is
    ``None`` for a cycle that never ran (Cyclr's zero date).
    """

    id: str
    name: str
    status: str
    template_id: str | None = None
    description: str | None = None
    connectors: tuple[CycleConnector, ...] = ()
    error_count: int = 0
    warning_count: int = 0
    last_successful_run: datetime | None = None
    created_at: datetime | None = None

    @property
    def state(self) -> CycleStatus:
        return CycleStatus.of(self.status)

    @property
    def is_active(self) -> bool:
        return self.state is CycleStatus.ACTIVE

    @property
    def unauthenticated(self) -> tuple[CycleConnector, ...]:
        return tuple(c for c in self.connectors if not c.authenticated)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Cycle:
        cycle_id = _str(data.get("Id")) or ""
        return cls(
            id=cycle_id,
            name=_str(data.get("Name")) or cycle_id,
            status=_str(data.get("Status")) or CycleStatus.UNKNOWN.value,
            template_id=_str(data.get("TemplateId")),
            description=_str(data.get("Description")),
            connectors=tuple(
                CycleConnector.from_api(c) for c in (data.get("Connectors") or []) if isinstance(c, Mapping)
            ),
            error_count=_int(data.get("ErrorCount")),
            warning_count=_int(data.get("WarningCount")),
            last_successful_run=parse_cyclr_date(data.get("LastSuccessfulRunDate")),
            created_at=parse_cyclr_date(data.get("CreatedOnUtc")),
        )


@dataclass(frozen=True, slots=True)
class CycleStep:
    """One step of a cycle (``GET /v1.0/cycles/{id}/steps``) and the installed connector it calls."""

    id: str
    name: str
    account_connector_id: int | None = None
    account_connector_name: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CycleStep:
        raw = data.get("AccountConnector")
        connector = raw if isinstance(raw, Mapping) else {}
        return cls(
            id=_str(data.get("Id")) or "",
            name=_str(data.get("Name")) or "",
            account_connector_id=_int(connector.get("Id")) or None,
            account_connector_name=_str(connector.get("Name")),
        )


#: ``ReasonCode`` of a cycle prerequisite that the bot can fix: authorise the connector.
UNAUTHENTICATED_CONNECTOR = 20

_PREREQUISITES = {
    0: "Something in the cycle needs attention in the Cyclr console",
    10: "The cycle needs at least two steps",
    11: "Some of the cycle's steps are not connected",
    UNAUTHENTICATED_CONNECTOR: "A connector is not authorised",
    30: "A step is missing a mapping",
    31: "A decision step has no criteria",
    32: "A delay step has no delay period",
    33: "A wait-until step has no date",
    40: "A step has a parameter that is not mapped",
    41: "A step has a field that is not mapped",
    42: "A step has no collection key",
    43: "A webhook step has no key",
    50: "A decision step is missing an operand",
    51: "A decision step has an operand that is not valid",
    60: "A delay step has no unit",
    61: "A delay step has no interval",
    70: "A wait-until step has a date that is not valid",
}


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """Something that stops a cycle from being activated (``GET /v1.0/cycles/{id}/prerequisites``).

    Only an unauthenticated connector (code 20) can be fixed from Slack; every other code
    needs the Cyclr console (:attr:`fixable_in_slack` is False).
    """

    reason_code: int
    reason: str
    object_type: str | None = None
    object_id: str | None = None

    @property
    def fixable_in_slack(self) -> bool:
        return self.reason_code == UNAUTHENTICATED_CONNECTOR

    @property
    def account_connector_id(self) -> int | None:
        """The connector to authorise, for code 20."""
        if (self.object_type or "").casefold() != "accountconnector" or self.object_id is None:
            return None
        return _int(self.object_id) or None

    @property
    def description(self) -> str:
        """Plain words for a person: ours for a known code, else Cyclr's ``Reason``."""
        return _PREREQUISITES.get(self.reason_code) or self.reason or _PREREQUISITES[0]

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Prerequisite:
        object_id = data.get("ObjectId")
        return cls(
            reason_code=_int(data.get("ReasonCode")),
            reason=_str(data.get("Reason")) or "",
            object_type=_str(data.get("ObjectType")),
            object_id=None if object_id is None else _str(object_id),
        )


class IncidentLevel(enum.StrEnum):
    ERROR = "Error"
    WARNING = "Warning"


#: The ``Message`` Cyclr gives a step that failed because a connector's credentials were refused.
AUTH_FAILURE_MESSAGE = "Failed to authenticate the connector"

_INCIDENT_DATES = ("CreatedOnUtc", "Timestamp", "Date", "CreatedDate", "OccurredOnUtc")


@dataclass(frozen=True, slots=True)
class Incident:
    """An error or warning of a running cycle, from the incidents API or the error webhook.

    ``full_message`` is Cyclr's ``FullMessage``/``Detail``: the raw third-party request and
    response, headers included. It can hold API keys and tokens, so it is left out of
    ``repr``; redact it before showing or logging it. ``cursor`` is the incident's date
    exactly as Cyclr wrote it (seven fractional digits), to pass back as ``after``.
    """

    cycle_id: str
    level: IncidentLevel
    short_message: str
    full_message: str = field(default="", repr=False)
    cycle_name: str | None = None
    step_id: str | None = None
    step_name: str | None = None
    transaction_id: str | None = None
    id: str | None = None
    occurred_at: datetime | None = None
    cursor: str | None = None
    account_id: str | None = None

    @property
    def is_auth_failure(self) -> bool:
        return AUTH_FAILURE_MESSAGE.casefold() in self.short_message.casefold()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Incident:
        """An item of ``GET /cycles/incidents/error|warning``."""
        raw_date = next((data[k] for k in _INCIDENT_DATES if data.get(k)), None)
        return cls(
            cycle_id=_str(data.get("CycleId")) or "",
            level=_level(data.get("IncidentLevel")),
            short_message=_str(data.get("ShortMessage")) or _str(data.get("Message")) or "",
            full_message=str(data.get("FullMessage") or data.get("Detail") or ""),
            cycle_name=_str(data.get("CycleName")),
            step_id=_str(data.get("StepId")),
            step_name=_str(data.get("StepName")),
            transaction_id=_str(data.get("TransactionId")),
            id=_str(data.get("Id")),
            occurred_at=parse_cyclr_date(raw_date),
            cursor=_str(raw_date),
        )

    @classmethod
    def from_webhook(cls, data: Mapping[str, Any]) -> Incident:
        """The body of a *Transaction Error Webhook* call (cyclr-api.md §9.3).

        ``account_id`` is ``AccountExternalId`` when Cyclr sends one (the API id the bot
        uses), else ``AccountId``. Older payloads have no ``IncidentLevel``: an error.
        """
        return cls(
            cycle_id=_str(data.get("CycleId")) or "",
            level=_level(data.get("IncidentLevel")),
            short_message=_str(data.get("Message")) or "",
            full_message=str(data.get("Detail") or ""),
            cycle_name=_str(data.get("CycleName")),
            step_id=_str(data.get("StepId")),
            step_name=_str(data.get("StepName")),
            transaction_id=_str(data.get("TransactionId")),
            occurred_at=parse_cyclr_date(data.get("Timestamp")),
            cursor=_str(data.get("Timestamp")),
            account_id=_str(data.get("AccountExternalId")) or _str(data.get("AccountId")),
        )


def _level(value: Any) -> IncidentLevel:
    return IncidentLevel.WARNING if (_str(value) or "").casefold() == "warning" else IncidentLevel.ERROR
