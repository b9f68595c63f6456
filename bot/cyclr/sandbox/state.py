"""The sandbox's model of one Cyclr partner: catalogue, accounts, installs and tokens.

Business rules live here, with Cyclr's own wording for its refusals (cyclr-api.md §2);
HTTP does not. A refusal is raised as :class:`ApiError` (status and ``Message``). One
lock guards everything, so server threads and test threads may call in at once. Objects
handed out are copies (or, inside the server, only serialised), never live records.
"""

from __future__ import annotations

import copy
import email.utils
import itertools
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .apierror import ApiError
from .authvalue import AuthReceived, AuthValueError, evaluate_auth_value
from .catalogue import load_catalogue
from .clock import Clock, system_clock
from .install_rules import check_properties, choose_auth_method

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

    def to_api(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "CreatedDate": format_utc(self.created),
            "Timezone": self.timezone,
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
    """Accounts, the connector catalogue, installed connectors and every kind of token."""

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
        with self._lock:
            self._record(account_id, account_connector_id)
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
