"""The sandbox's model of one Cyclr partner: catalogue, accounts, installs, tokens, templates and cycles.

Business rules live here, with Cyclr's own wording for its refusals (cyclr-api.md §2);
HTTP does not. A refusal is raised as :class:`ApiError` (status and ``Message``). One
lock guards everything, so server threads and test threads may call in at once. Objects
handed out are copies (or, inside the server, only serialised), never live records.
"""

from __future__ import annotations

import copy
import email.utils
import itertools
import random
import secrets
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .apierror import ApiError
from .authvalue import AuthReceived, AuthValueError, evaluate_auth_value
from .catalogue import load_catalogue
from .clock import Clock, system_clock
from .cycles import (
    CycleRecord,
    CycleStepRecord,
    IncidentRecord,
    RaisedIncident,
    parse_interval,
    parse_ticks,
    ticks_text,
)
from .details import make_detail
from .install_rules import check_properties, choose_auth_method
from .templates import TEMPLATE_LIBRARY, TemplateRecord, build_templates, require_installable

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "ConsentResult",
    "ConsentStart",
    "SandboxState",
    "format_utc",
]

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"  # published on purpose: the sandbox is not a secret store

DEFAULT_ACCOUNTS: tuple[Mapping[str, Any], ...] = (
    {"Id": "acme-prod", "Name": "Acme Ltd", "Description": "Acme production", "Timezone": "Europe/London"},
    {
        "Id": "globex-eu",
        "Name": "Globex GmbH",
        "Description": "Globex EU tenant",
        "Timezone": "Europe/Berlin",
    },
    {"Id": "initech", "Name": "Initech Inc", "Description": "Initech (US)", "Timezone": "America/Chicago"},
)

_ACCOUNT_CREATED = 1_672_531_200.0  # 2023-01-01T00:00:00Z, then a day apart per account
_FIRST_ACCOUNT_CONNECTOR_ID = 10_001
_CONSENT_TTL = 600.0
_PRUNE_ABOVE = 4096  # expired tokens are dropped once this many are held (long benchmark runs)
_ACCOUNT_GUIDS = uuid.UUID("0c5b3c52-6a57-4d7e-8f0f-5d2c1a9e7b44")
_MAX_INCIDENTS_AT_ONCE = 1000
_WEBHOOK_URL_REQUIRED = "Transaction Error Webhook enabled: Transaction Error Webhook URL must be defined"


def format_utc(timestamp: float) -> str:
    """.NET's round-trip UTC format with seven fractional digits: ``2017-12-08T11:02:48.7436471Z``."""
    ticks = round(timestamp * 10_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:07d}Z"


def _text(value: Any) -> str | None:
    """A stripped non-empty string, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "The request is invalid.")
    return value.strip() or None


def _same_name(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _flag(value: Any, default: bool = False) -> bool:
    """A JSON boolean (or ``"true"``/``"false"``, as .NET binds them); 400 for anything else."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ApiError(400, "The request is invalid.")


def _webhook_url(value: Any) -> str | None:
    """Cyclr's handling of ``TransactionErrorWebhookUrl``: ``https://`` added when no scheme, then checked."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "The request is invalid.")
    url = value if "://" in value else f"https://{value}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in url):
        raise ApiError(400, f"{url} is not a valid URL")
    return url


@dataclass(frozen=True, slots=True)
class ConsentStart:
    """What the stand-in consent page shows after a valid sign-in token was used."""

    consent_id: str
    connector_name: str
    account_connector_name: str
    account_name: str


@dataclass(frozen=True, slots=True)
class ConsentResult:
    """Where the browser goes after the consent page, and whether it authenticated."""

    target_origin: str
    callback_message: str | None
    authenticated: bool


@dataclass(slots=True)
class _Account:
    id: str
    name: str
    description: str | None
    timezone: str
    created: float
    webhook_enabled: bool = False
    webhook_url: str | None = None
    webhook_include_warnings: bool = False

    @property
    def guid(self) -> str:
        """Cyclr's own id of the account (``AccountId`` in webhook calls); ``id`` is the API id."""
        return str(uuid.uuid5(_ACCOUNT_GUIDS, self.id))

    def to_api(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "CreatedDate": format_utc(self.created),
            "Timezone": self.timezone,
            "TransactionErrorWebhookEnabled": self.webhook_enabled,
            "TransactionErrorWebhookUrl": self.webhook_url,
            "TransactionErrorWebhookIncludeWarnings": self.webhook_include_warnings,
        }


@dataclass(slots=True)
class _AccountConnector:
    id: int
    account_id: str
    connector: Mapping[str, Any]
    auth_method: Mapping[str, Any]
    name: str
    description: str | None
    authenticated: bool
    auth: AuthReceived
    properties: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The API object; ``Connector`` is the shared catalogue entry, so serialise or copy it."""
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "AuthValue": None,
            "Authenticated": self.authenticated,
            "AuthenticationId": self.auth_method.get("Id")
            if self.auth_method is not self.connector
            else None,
            "Connector": self.connector,
            "IsPartnerIntegrationConnector": False,
            "Properties": [dict(p) for p in self.properties],
            "CustomFields": [],
        }


@dataclass(slots=True)
class _SignIn:
    account_id: str
    username: str
    expires_at: float
    used: bool = False


@dataclass(slots=True)
class _Consent:
    account_id: str
    account_connector_id: int
    target_origin: str
    callback_message: str | None
    expires_at: float
    used: bool = False


class SandboxState:
    """Accounts, the connector catalogue, installed connectors, every kind of token, templates and cycles."""

    def __init__(
        self,
        *,
        clock: Clock = system_clock,
        token_ttl: float = 1_209_599,
        signin_ttl: float = 300,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        catalogue: Iterable[Mapping[str, Any]] | None = None,
        accounts: Iterable[Mapping[str, Any]] | None = None,
        templates: Iterable[Mapping[str, Any]] | None = None,
        seed: int = 0,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.token_ttl = token_ttl
        self.signin_ttl = signin_ttl
        self.client_id = client_id
        self.client_secret = client_secret
        entries = load_catalogue() if catalogue is None else _own_catalogue(catalogue)
        self._connectors: dict[int, Mapping[str, Any]] = {int(c["Id"]): c for c in entries}
        self._accounts: dict[str, _Account] = {}
        self._installed: dict[str, dict[int, _AccountConnector]] = {}
        self._access_tokens: dict[str, float] = {}
        self._signins: dict[str, _SignIn] = {}
        self._consents: dict[str, _Consent] = {}
        self._users: dict[str, set[str]] = {}
        self._signins_issued = 0
        self._ids = itertools.count(_FIRST_ACCOUNT_CONNECTOR_ID)
        self._property_ids = itertools.count(1)
        self._cycles: dict[str, dict[str, CycleRecord]] = {}
        self._incidents: dict[str, list[IncidentRecord]] = {}
        self._last_ticks = 0
        self._rng = random.Random(seed)  # error details: the same run raises the same ones
        self._templates = self._own_templates(templates)
        for offset, account in enumerate(DEFAULT_ACCOUNTS if accounts is None else accounts):
            self.add_account(
                str(account["Id"]),
                str(account.get("Name") or account["Id"]),
                description=account.get("Description"),
                timezone=str(account.get("Timezone") or "UTC"),
                created=_ACCOUNT_CREATED + 86_400 * offset,
            )

    # -- catalogue ---------------------------------------------------------------------

    def connectors(
        self,
        *,
        query: str | None = None,
        category: str | None = None,
        order_by: str | None = None,
        ascending: bool = True,
    ) -> list[Mapping[str, Any]]:
        """Catalogue entries (shared, read-only) filtered by name substring and category."""
        needle = (query or "").strip().casefold()
        wanted_category = (category or "").strip().casefold()
        with self._lock:
            items = list(self._connectors.values())
        if needle:
            items = [c for c in items if needle in str(c.get("Name") or "").casefold()]
        if wanted_category:
            items = [
                c
                for c in items
                if any(str(x).casefold() == wanted_category for x in c.get("Categories") or [])
            ]
        if (order_by or "").strip().lower() == "name":
            items.sort(key=lambda c: (str(c.get("Name") or "").casefold(), int(c["Id"])))
        else:
            items.sort(key=lambda c: int(c["Id"]))
        if not ascending:
            items.reverse()
        return items

    def connector(self, connector_id: int) -> Mapping[str, Any]:
        """One catalogue entry (shared, read-only); :class:`ApiError` 404 when unknown."""
        with self._lock:
            found = self._connectors.get(connector_id)
        if found is None:
            raise ApiError(404, f"Connector {connector_id} not found.")
        return found

    def connectors_named(self, name: str, version: str | None = None) -> list[Mapping[str, Any]]:
        """Entries whose Name (and Version, if given) match, ignoring case (shared, read-only)."""
        return [
            c
            for c in self.connectors()
            if _same_name(str(c.get("Name") or ""), name)
            and (version is None or _same_name(str(c.get("Version") or ""), version))
        ]

    def connector_by_name(self, name: str) -> dict[str, Any]:
        """A copy of the first connector with this name; :class:`KeyError` when there is none."""
        found = self.connectors_named(name)
        if not found:
            raise KeyError(name)
        return copy.deepcopy(dict(found[0]))

    def update_connector(self, connector_id: int, **fields: Any) -> dict[str, Any]:
        """Replace fields of one catalogue entry in this sandbox only (e.g. ``Status="Draft"``)."""
        with self._lock:
            updated = copy.deepcopy(dict(self.connector(connector_id)))
            updated.update(fields)
            updated["Id"] = connector_id
            self._connectors[connector_id] = updated
            return copy.deepcopy(updated)

    # -- partner credentials and access tokens -------------------------------------------

    def credentials_match(self, client_id: str | None, client_secret: str | None) -> bool:
        return secrets.compare_digest(client_id or "", self.client_id) and secrets.compare_digest(
            client_secret or "", self.client_secret
        )

    def issue_access_token(self) -> dict[str, Any]:
        """A new bearer token, answered as OWIN's token endpoint does."""
        now = self._clock()
        token = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._access_tokens) > _PRUNE_ABOVE:
                self._access_tokens = {t: exp for t, exp in self._access_tokens.items() if exp > now}
            self._access_tokens[token] = now + self.token_ttl
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(self.token_ttl),
            "clientId": self.client_id,
            ".issued": email.utils.formatdate(now, usegmt=True),
            ".expires": email.utils.formatdate(now + self.token_ttl, usegmt=True),
        }

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            expires_at = self._access_tokens.get(token)
        return expires_at is not None and self._clock() < expires_at

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far (new ones still work)."""
        with self._lock:
            self._access_tokens.clear()

    # -- accounts -------------------------------------------------------------------------

    def add_account(
        self,
        account_id: str,
        name: str,
        *,
        description: str | None = None,
        timezone: str = "UTC",
        created: float | None = None,
    ) -> dict[str, Any]:
        """Create an account (as the partner console would); 400 if the ID is taken."""
        with self._lock:
            if account_id in self._accounts:
                raise ApiError(400, "ID already in use")
            account = _Account(account_id, name, description, timezone, created or self._clock())
            self._accounts[account_id] = account
            self._installed[account_id] = {}
            self._users[account_id] = set()
            self._cycles[account_id] = {}
            self._incidents[account_id] = []
            return account.to_api()

    @property
    def account_ids(self) -> list[str]:
        with self._lock:
            return list(self._accounts)

    def accounts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a.to_api() for a in self._accounts.values()]

    def account(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            return self._account(account_id).to_api()

    def _account(self, account_id: str) -> _Account:
        found = self._accounts.get(account_id)
        if found is None:
            raise ApiError(404, f"Account '{account_id}' not found.")
        return found

    def users(self, account_id: str) -> list[str]:
        """Cyclr account users created by sign-in token requests, sorted."""
        with self._lock:
            self._account(account_id)
            return sorted(self._users[account_id])

    def update_account(self, account_id: str, body: Any) -> dict[str, Any]:
        """``PUT /accounts/{id}``: only the fields present change (Cyclr's wording for refusals).

        Enabling the transaction error webhook needs a URL in the same request; a URL with no
        scheme gets ``https://``.
        """
        if not isinstance(body, dict):
            raise ApiError(400, "The request is invalid.")
        enabled = _flag(body.get("TransactionErrorWebhookEnabled"), default=False)
        if enabled and not body.get("TransactionErrorWebhookUrl"):
            raise ApiError(400, _WEBHOOK_URL_REQUIRED)
        url = _webhook_url(body.get("TransactionErrorWebhookUrl"))
        include_warnings = _flag(body.get("TransactionErrorWebhookIncludeWarnings"))
        name = _text(body.get("Name"))
        with self._lock:
            account = self._account(account_id)
            if name is not None:
                account.name = name
            if "Description" in body:
                account.description = _text(body.get("Description"))
            if _text(body.get("Timezone")) is not None:
                account.timezone = str(_text(body.get("Timezone")))
            if "TransactionErrorWebhookEnabled" in body:
                account.webhook_enabled = enabled
            if "TransactionErrorWebhookUrl" in body:
                account.webhook_url = url
            if "TransactionErrorWebhookIncludeWarnings" in body:
                account.webhook_include_warnings = include_warnings
            return account.to_api()

    # -- installed (account) connectors ----------------------------------------------------

    def install(self, account_id: str, connector: Mapping[str, Any], body: Any) -> dict[str, Any]:
        """Install ``connector`` into the account from an install request body (parsed JSON)."""
        if body is None:
            raise ApiError(500, "An error has occurred.")  # Cyclr fails this way on a null body
        if not isinstance(body, dict):
            raise ApiError(400, "The request is invalid.")
        connector_id = int(connector["Id"])
        if str(connector.get("Status") or "").strip().lower() == "draft":
            raise ApiError(400, f"Connector {connector_id} is a draft and cannot be installed.")
        name = _text(body.get("Name")) or str(connector.get("Name") or f"Connector {connector_id}")
        description = _text(body.get("Description"))
        method = choose_auth_method(connector, _text(body.get("AuthenticationId")))
        properties = check_properties(connector, body.get("Properties"))
        try:
            authenticated, received = evaluate_auth_value(method, body.get("AuthValue"), via="install")
        except AuthValueError as exc:
            raise ApiError(400, str(exc)) from exc
        with self._lock:
            self._account(account_id)
            installed = self._installed[account_id]
            self._check_name_free(installed, name)
            record = _AccountConnector(
                id=next(self._ids),
                account_id=account_id,
                connector=connector,
                auth_method=method,
                name=name,
                description=description,
                authenticated=authenticated,
                auth=received,
            )
            record.properties = [
                {"Id": next(self._property_ids), "Name": n, "Value": v, "AccountConnectorId": record.id}
                for n, v in properties
            ]
            installed[record.id] = record
            return record.to_api()

    @staticmethod
    def _check_name_free(installed: Mapping[int, _AccountConnector], name: str, *, own_id: int = 0) -> None:
        if any(_same_name(other.name, name) for other in installed.values() if other.id != own_id):
            raise ApiError(400, f"Account connector name '{name}' is in use.")

    def account_connectors(self, account_id: str) -> list[dict[str, Any]]:
        """API objects of the account's connectors by Id (``Connector`` shared: serialise it)."""
        with self._lock:
            self._account(account_id)
            return [r.to_api() for r in sorted(self._installed[account_id].values(), key=lambda r: r.id)]

    def account_connector(self, account_id: str, account_connector_id: int) -> dict[str, Any]:
        with self._lock:
            return self._record(account_id, account_connector_id).to_api()

    def _record(self, account_id: str, account_connector_id: int) -> _AccountConnector:
        self._account(account_id)
        found = self._installed[account_id].get(account_connector_id)
        if found is None:
            raise ApiError(404, f"Account connector {account_connector_id} not found.")
        return found

    def update_account_connector(
        self, account_id: str, account_connector_id: int, body: Any
    ) -> dict[str, Any]:
        """Apply a ``PUT`` body: any of Name, Description and AuthValue."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request is invalid.")
        with self._lock:
            record = self._record(account_id, account_connector_id)
            name = _text(body.get("Name"))
            if name is not None:
                self._check_name_free(self._installed[account_id], name, own_id=record.id)
            if "AuthValue" in body and body["AuthValue"] is not None:
                try:
                    authenticated, received = evaluate_auth_value(
                        record.auth_method, body["AuthValue"], via="update"
                    )
                except AuthValueError as exc:
                    raise ApiError(400, str(exc)) from exc
                record.authenticated, record.auth = authenticated, received
            if name is not None:
                record.name = name
            if "Description" in body:
                record.description = _text(body.get("Description"))
            return record.to_api()

    def deauthenticate(self, account_id: str, account_connector_id: int) -> str:
        """Forget the connector's credentials; returns Cyclr's confirmation message."""
        with self._lock:
            record = self._record(account_id, account_connector_id)
            record.authenticated = False
            record.auth = AuthReceived("none", None, via="sandbox")
            return f"Connector '{record.name}' successfully de-authenticated."

    def delete_account_connector(self, account_id: str, account_connector_id: int) -> None:
        """Uninstall; refused while a cycle of the account uses the connector [GUESS at Cyclr's rule]."""
        with self._lock:
            record = self._record(account_id, account_connector_id)
            for cycle in self._cycles[account_id].values():
                if any(used == account_connector_id for _, used, _ in cycle.connectors):
                    raise ApiError(
                        400,
                        f"Account connector '{record.name}' is used by cycle '{cycle.name}' "
                        "and cannot be deleted.",
                    )
            del self._installed[account_id][account_connector_id]

    def installed(self, account_id: str) -> list[dict[str, Any]]:
        """Deep copies of the account's connectors, exactly as ``GET /account/connectors`` shows them."""
        return copy.deepcopy(self.account_connectors(account_id))

    def set_authenticated(self, account_id: str, account_connector_id: int, value: bool = True) -> None:
        """Flip ``Authenticated`` as if the user had (or had not) finished authentication."""
        with self._lock:
            record = self._record(account_id, account_connector_id)
            record.authenticated = value
            record.auth = AuthReceived("oauth_tokens" if value else "none", None, via="sandbox")

    def auth_received(self, account_id: str, account_connector_id: int) -> AuthReceived:
        """What the last install/update carried as AuthValue (kind and fingerprint, no secret)."""
        with self._lock:
            return self._record(account_id, account_connector_id).auth

    # -- templates -----------------------------------------------------------------------------

    def _own_templates(self, entries: Iterable[Mapping[str, Any]] | None) -> dict[str, TemplateRecord]:
        """Templates resolved against this sandbox's catalogue, by lower-case id.

        The shipped library skips a template whose connectors a custom catalogue lacks;
        templates given by the caller must all resolve (ValueError otherwise).
        """
        by_name: dict[str, Mapping[str, Any]] = {}
        for connector_id in sorted(self._connectors):
            entry = self._connectors[connector_id]
            by_name.setdefault(str(entry.get("Name") or "").strip().casefold(), entry)
        records = build_templates(
            TEMPLATE_LIBRARY if entries is None else entries,
            lambda name: by_name.get(name.casefold()),
            skip_unresolved=entries is None,
        )
        out: dict[str, TemplateRecord] = {}
        for record in records:
            if record.id.lower() in out:
                raise ValueError(f"two templates have the id {record.id}")
            out[record.id.lower()] = record
        return out

    def templates(self, *, order_by: str | None = None, ascending: bool = True) -> list[dict[str, Any]]:
        with self._lock:
            items = list(self._templates.values())
        if (order_by or "").strip().lower() == "name":
            items.sort(key=lambda t: t.name.casefold())
        elif (order_by or "").strip().lower() == "id":
            items.sort(key=lambda t: t.id)
        if not ascending:
            items.reverse()
        return [t.to_api() for t in items]

    def template(self, template_id: str) -> dict[str, Any]:
        with self._lock:
            return self._template(template_id).to_api()

    def _template(self, template_id: str) -> TemplateRecord:
        found = self._templates.get(template_id.strip().lower())
        if found is None:
            raise ApiError(404, f"Template '{template_id}' not found.")
        return found

    def install_template(self, account_id: str, template_id: str) -> dict[str, Any]:
        """``POST /templates/{id}/install``: a ``Paused`` cycle, and the connectors it needs.

        An account connector of the same connector type is reused (Cyclr's default); the
        others are installed under the connector's name (numbered when taken) and stay
        unauthenticated unless the connector needs no credentials.
        """
        with self._lock:
            self._account(account_id)
            template = self._template(template_id)
            require_installable(template)
            installed = self._installed[account_id]
            chosen: dict[int, int] = {}
            for connector, _count in template.connectors():
                connector_id = int(connector["Id"])
                same_type = [r.id for r in installed.values() if int(r.connector["Id"]) == connector_id]
                if same_type:
                    chosen[connector_id] = min(same_type)
                else:
                    chosen[connector_id] = self._install_for_template(account_id, connector).id
            steps = [
                CycleStepRecord(str(uuid.uuid4()), step.name, chosen[int(step.connector["Id"])])
                for step in template.steps
            ]
            cycle = CycleRecord(
                id=str(uuid.uuid4()),
                account_id=account_id,
                template_id=template.id,
                name=template.name,
                description=template.description,
                created_ticks=self._next_ticks(),
                steps=steps,
                connectors=[(c, chosen[int(c["Id"])], count) for c, count in template.connectors()],
                console=[(p, steps[p.step].id) for p in template.console],
                tags=list(template.tags),
            )
            self._cycles[account_id][cycle.id] = cycle
            return self._cycle_api(cycle)

    def _install_for_template(self, account_id: str, connector: Mapping[str, Any]) -> _AccountConnector:
        installed = self._installed[account_id]
        base = str(connector.get("Name") or f"Connector {connector['Id']}")
        name, number = base, 1
        while any(_same_name(other.name, name) for other in installed.values()):
            number += 1
            name = f"{base} ({number})"
        method = choose_auth_method(connector, None)
        authenticated, received = evaluate_auth_value(method, None, via="template")
        record = _AccountConnector(
            id=next(self._ids),
            account_id=account_id,
            connector=connector,
            auth_method=method,
            name=name,
            description=None,
            authenticated=authenticated,
            auth=received,
        )
        installed[record.id] = record
        return record

    # -- cycles ----------------------------------------------------------------------------------

    def _next_ticks(self) -> int:
        """Now in 100 ns ticks, strictly after the last time handed out (so cursors are exact)."""
        self._last_ticks = max(round(self._clock() * 10_000_000), self._last_ticks + 1)
        return self._last_ticks

    def _cycle(self, account_id: str, cycle_id: str) -> CycleRecord:
        self._account(account_id)
        found = self._cycles[account_id].get(cycle_id.strip().lower())
        if found is None:
            raise ApiError(404, f"Cycle '{cycle_id}' not found.")
        return found

    def _cycle_api(self, cycle: CycleRecord) -> dict[str, Any]:
        installed = self._installed[cycle.account_id]
        return cycle.to_api(lambda acid: acid in installed and installed[acid].authenticated)

    def cycles(self, account_id: str) -> list[dict[str, Any]]:
        """The account's cycles, oldest first."""
        with self._lock:
            self._account(account_id)
            ordered = sorted(self._cycles[account_id].values(), key=lambda c: c.created_ticks)
            return [self._cycle_api(c) for c in ordered]

    def cycle(self, account_id: str, cycle_id: str) -> dict[str, Any]:
        with self._lock:
            return self._cycle_api(self._cycle(account_id, cycle_id))

    def cycle_steps(self, account_id: str, cycle_id: str) -> list[dict[str, Any]]:
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            installed = self._installed[account_id]
            return cycle.steps_to_api({acid: r.name for acid, r in installed.items()})

    def prerequisites(self, account_id: str, cycle_id: str) -> list[dict[str, Any]]:
        """``GET /cycles/{id}/prerequisites``: code 20 per unauthenticated connector, then the console's."""
        with self._lock:
            return self._prerequisites(self._cycle(account_id, cycle_id))

    def _prerequisites(self, cycle: CycleRecord) -> list[dict[str, Any]]:
        installed = self._installed[cycle.account_id]
        out: list[dict[str, Any]] = [
            {
                "ReasonCode": 20,
                "Reason": "Unauthenticated connector",
                "ObjectType": "AccountConnector",
                "ObjectId": acid,
            }
            for _connector, acid, _count in cycle.connectors
            if not (acid in installed and installed[acid].authenticated)
        ]
        out.extend(
            {"ReasonCode": p.code, "Reason": p.reason, "ObjectType": "Action", "ObjectId": step_id}
            for p, step_id in cycle.console
        )
        return out

    def activate_cycle(self, account_id: str, cycle_id: str, body: Any) -> None:
        """``PUT /cycles/{id}/activate``: a valid ``Interval`` (unless ``RunOnce`` or a webhook
        trigger), no prerequisite left; activating an active cycle replaces its schedule."""
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ApiError(400, "The request is invalid.")
        run_once = _flag(body.get("RunOnce"))
        raw_start = body.get("StartTime")
        if raw_start is not None and not isinstance(raw_start, str):
            raise ApiError(400, "The request is invalid.")
        start = None if raw_start is None else parse_ticks(raw_start)
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            webhook_first = bool(cycle.connectors) and cycle.connectors[0][0].get("Name") == "Webhook"
            interval = None
            if body.get("Interval") is not None or not (run_once or webhook_first):
                interval = parse_interval(body.get("Interval"))
            remaining = self._prerequisites(cycle)
            if remaining:
                reasons = ", ".join(dict.fromkeys(str(p["Reason"]) for p in remaining))
                unmet = f"Cycle '{cycle.name}' cannot be activated until its prerequisites are met"
                raise ApiError(400, f"{unmet}: {reasons}.")
            cycle.status = "Active"
            cycle.interval, cycle.run_once, cycle.start_ticks = interval, run_once, start

    def deactivate_cycle(self, account_id: str, cycle_id: str, *, finish_queued: bool = True) -> None:
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            cycle.status = "Paused"
            cycle.finish_queued = finish_queued

    def update_cycle(self, account_id: str, cycle_id: str, body: Any) -> dict[str, Any]:
        """``PUT /cycles/{id}`` (Name, Description); 409 while the cycle is active, as Cyclr answers."""
        if not isinstance(body, dict):
            raise ApiError(400, "The request is invalid.")
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            if cycle.status == "Active":
                raise ApiError(
                    409, f"Cycle '{cycle.name}' is active and cannot be edited. Deactivate it first."
                )
            name = _text(body.get("Name"))
            if name is not None:
                cycle.name = name
            if "Description" in body:
                cycle.description = _text(body.get("Description"))
            return self._cycle_api(cycle)

    def schedule(self, account_id: str, cycle_id: str) -> dict[str, Any]:
        """What the last activation asked for (not part of Cyclr's cycle object)."""
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            return {
                "Interval": cycle.interval,
                "RunOnce": cycle.run_once,
                "StartTime": None if cycle.start_ticks is None else ticks_text(cycle.start_ticks),
                "FinishQueuedTransactions": cycle.finish_queued,
            }

    def record_success(self, account_id: str, cycle_id: str) -> dict[str, Any]:
        """A run that succeeded now: ``LastSuccessfulRunDate`` moves."""
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            cycle.last_success_ticks = self._next_ticks()
            return self._cycle_api(cycle)

    def resolve_prerequisites(self, account_id: str, cycle_id: str) -> list[dict[str, Any]]:
        """Clear the console-only prerequisites, as if fixed in the Cyclr console; what is left."""
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            cycle.console.clear()
            return self._prerequisites(cycle)

    # -- incidents and the error webhook ---------------------------------------------------------

    def raise_incidents(
        self,
        account_id: str,
        cycle_id: str,
        *,
        level: str = "Error",
        count: int = 1,
        auth_failure: bool = False,
        message: str | None = None,
        account_connector_id: int | None = None,
    ) -> list[RaisedIncident]:
        """Fail ``count`` transactions of the cycle, with Cyclr-like details (and their secrets).

        Steps take turns (those calling ``account_connector_id`` when given; for an
        ``auth_failure``, those whose connector needs credentials). Each incident counts in
        the cycle's ErrorCount or WarningCount and is listed by the incidents API; the
        webhook call it calls for is returned, not made (the state does no I/O).
        """
        wanted = str(level).strip().lower()
        if wanted not in ("error", "warning"):
            raise ApiError(400, "level must be 'error' or 'warning'.")
        label = wanted.capitalize()
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_INCIDENTS_AT_ONCE:
            raise ApiError(400, f"count must be between 1 and {_MAX_INCIDENTS_AT_ONCE}.")
        with self._lock:
            cycle = self._cycle(account_id, cycle_id)
            account = self._accounts[account_id]
            connectors = {acid: connector for connector, acid, _count in cycle.connectors}
            steps = list(cycle.steps)
            if account_connector_id is not None:
                steps = [s for s in steps if s.account_connector_id == account_connector_id]
                if not steps:
                    raise ApiError(
                        400, f"Account connector {account_connector_id} is not used by cycle '{cycle.name}'."
                    )
            elif auth_failure:
                needs_auth = [
                    s
                    for s in steps
                    if str(connectors[s.account_connector_id].get("AuthType") or "None").lower() != "none"
                ]
                steps = needs_auth or steps
            raised: list[RaisedIncident] = []
            for index in range(count):
                step = steps[index % len(steps)]
                detail = make_detail(
                    self._rng, connectors[step.account_connector_id], level=label, auth_failure=auth_failure
                )
                incident = IncidentRecord(
                    id=str(uuid.uuid4()),
                    cycle_id=cycle.id,
                    cycle_name=cycle.name,
                    level=label,
                    short_message=message or detail.message,
                    full_message=detail.detail,
                    step_id=step.id,
                    step_name=step.name,
                    transaction_id=str(uuid.uuid4()),
                    ticks=self._next_ticks(),
                    secrets=detail.secrets,
                )
                self._incidents[account_id].append(incident)
                if label == "Error":
                    cycle.error_count += 1
                else:
                    cycle.warning_count += 1
                raised.append(RaisedIncident(incident, self._webhook_call(account, incident)))
            return raised

    @staticmethod
    def _webhook_call(account: _Account, incident: IncidentRecord) -> tuple[str, dict[str, Any]] | None:
        if not (account.webhook_enabled and account.webhook_url):
            return None
        if incident.level == "Warning" and not account.webhook_include_warnings:
            return None
        payload = {
            "Timestamp": ticks_text(incident.ticks),
            "AccountId": account.guid,
            "AccountExternalId": account.id,
            "CycleId": incident.cycle_id,
            "StepId": incident.step_id,
            "TransactionId": incident.transaction_id,
            "Message": incident.short_message,
            "Detail": incident.full_message,
            "AccountName": account.name,
            "CycleName": incident.cycle_name,
            "StepName": incident.step_name,
            "IncidentLevel": incident.level,
        }
        return account.webhook_url, payload

    def incidents(
        self,
        account_id: str,
        *,
        level: str | None = None,
        cycle_id: str | None = None,
        after: str | None = None,
        before: str | None = None,
        ascending: bool = True,
    ) -> list[dict[str, Any]]:
        """Incidents of the account (or one cycle) strictly between ``after`` and ``before``."""
        low = None if after is None or not after.strip() else parse_ticks(after)
        high = None if before is None or not before.strip() else parse_ticks(before)
        with self._lock:
            if cycle_id is not None:
                cycle_id = self._cycle(account_id, cycle_id).id
            else:
                self._account(account_id)
            found = [
                i
                for i in self._incidents[account_id]
                if (level is None or i.level.lower() == level.lower())
                and (cycle_id is None or i.cycle_id == cycle_id)
                and (low is None or i.ticks > low)
                and (high is None or i.ticks < high)
            ]
        found.sort(key=lambda i: i.ticks, reverse=not ascending)
        return [i.to_api() for i in found]

    # -- sign-in tokens and the OAuth consent stand-in --------------------------------------

    def mint_signin_token(self, account_id: str, body: Any) -> dict[str, Any]:
        """``POST /accounts/{id}/signintoken``: a single-use token, creating the user if new."""
        username = _text(body.get("Username")) if isinstance(body, dict) else None
        with self._lock:
            self._account(account_id)
            if username is None:
                raise ApiError(400, "Username is required.")
            token = secrets.token_urlsafe(32)
            now = self._clock()
            if len(self._signins) > _PRUNE_ABOVE:
                self._signins = {t: s for t, s in self._signins.items() if not s.used and s.expires_at > now}
                self._consents = {
                    c: v for c, v in self._consents.items() if not v.used and v.expires_at > now
                }
            expires_at = now + self.signin_ttl
            self._signins[token] = _SignIn(account_id, username, expires_at)
            self._signins_issued += 1
            self._users[account_id].add(username)
        return {"Token": token, "ExpiresAtUtc": format_utc(expires_at)}

    @property
    def signin_tokens_issued(self) -> int:
        """Sign-in tokens minted so far (by the API or :meth:`mint_signin_token`)."""
        with self._lock:
            return self._signins_issued

    def begin_consent(
        self, token: str, account_connector_id: str, target_origin: str, callback_message: str | None
    ) -> ConsentStart:
        """Use up a sign-in token and open a one-time consent for the account connector.

        403 for an unknown, used or expired token; 404 when the account connector is not
        in the account the token was minted for (the token is used up either way).
        """
        now = self._clock()
        with self._lock:
            signin = self._signins.get(token)
            if signin is None or signin.used or now >= signin.expires_at:
                raise ApiError(403, "Access is denied.")
            signin.used = True
            try:
                record = self._record(signin.account_id, int(account_connector_id))
            except (ApiError, ValueError) as exc:
                raise ApiError(404, "The account connector was not found.") from exc
            consent_id = secrets.token_urlsafe(24)
            self._consents[consent_id] = _Consent(
                signin.account_id, record.id, target_origin, callback_message, now + _CONSENT_TTL
            )
            return ConsentStart(
                consent_id=consent_id,
                connector_name=str(record.connector.get("Name") or ""),
                account_connector_name=record.name,
                account_name=self._accounts[signin.account_id].name,
            )

    def finish_consent(self, consent_id: str, allow: bool) -> ConsentResult:
        """The user's answer on the consent page; ``allow`` authenticates the account connector."""
        now = self._clock()
        with self._lock:
            consent = self._consents.get(consent_id)
            if consent is None or consent.used or now >= consent.expires_at:
                raise ApiError(403, "Access is denied.")
            consent.used = True
            try:
                record = self._record(consent.account_id, consent.account_connector_id)
            except ApiError as exc:
                raise ApiError(404, "The account connector was not found.") from exc
            if allow:
                record.authenticated = True
                record.auth = AuthReceived("oauth_tokens", None, via="oauth")
            return ConsentResult(consent.target_origin, consent.callback_message, record.authenticated)


def _own_catalogue(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A private deep copy of a caller's catalogue, with an ``Id`` on every entry."""
    out: list[Mapping[str, Any]] = []
    for index, entry in enumerate(entries, start=1):
        item = copy.deepcopy(dict(entry))
        item["Id"] = int(item.get("Id") or index)
        out.append(item)
    return out
