"""Installs: validated, recorded before Cyclr is called, never made twice, never lost.

The flow for one modal submission:

1. :func:`validate_install` answers field errors without touching the network.
2. :meth:`InstallService.submit` writes a PENDING row keyed by the submission key (the
   modal's view id). A second submit of the same view finds that row and installs nothing.
3. :meth:`InstallService.prepare` turns the request into the :class:`InstallCall` an install
   job carries (secret-bearing calls stay in the memory of the process that took them).
4. :meth:`InstallService.perform` checks that the name is free in the account (a taken
   name fails as Cyclr would), marks the row attempted and POSTs the install once. A
   definite answer sets the final state. An ambiguous one (read timeout, dropped
   connection, 5xx) is reconciled against the account's installed connectors by name:
   found means installed (the name was free just before, so it is this install's); absent
   after the grace period means failed. Rows left PENDING by a crash are reconciled by a
   timed job (:meth:`InstallService.reconcile_pending`); a row never marked attempted
   cannot have installed anything and is failed without a search.

Every state change is reported to the :class:`~bot.services.notifier.Notifier`, which
has the requester's DM and the team notification brought up to date.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cyclr import CyclrClient
from bot.cyclr.errors import (
    CyclrAPIError,
    CyclrBadRequest,
    CyclrConnectError,
    CyclrError,
    CyclrServerError,
    CyclrTimeout,
)
from bot.cyclr.models import AccountConnector, AuthKind, Connector
from bot.logs import register_secret
from bot.services.notifier import Notifier, SilentNotifier
from bot.store import InstallRecord, InstallState, Store

__all__ = [
    "Credentials",
    "InstallCall",
    "InstallOutcome",
    "InstallRequest",
    "InstallService",
    "auth_value_for",
    "validate_install",
]

log = logging.getLogger(__name__)

#: How long typed credentials stay masked in the log after a submission, and again from the
#: start of its install attempt: well past the longest an attempt's Cyclr calls can take.
#: They are never stored, so once the attempt is over nothing holds them to log.
CREDENTIALS_TTL = 15 * 60.0

MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_SECRET = 4000


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the user typed to authenticate the connector; never stored or logged."""

    api_key: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class InstallRequest:
    """One validated install submission."""

    submission_key: str
    team_id: str
    user_id: str
    channel_id: str | None
    account_id: str
    connector: Connector
    name: str
    description: str | None = None
    credentials: Credentials = Credentials()
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class InstallOutcome:
    """The record after Cyclr was called, with what Cyclr returned."""

    record: InstallRecord
    account_connector: AccountConnector | None = None
    duplicate_name: bool = False


@dataclass(frozen=True, slots=True)
class InstallCall:
    """Everything the install POST needs, prepared at submission. ``secret`` calls carry what
    the user typed (an API key, a password, a sensitive property): they are never written to
    the job queue, so only the process that took the submission can make them."""

    install_id: int
    account_id: str
    connector_id: int
    name: str
    description: str | None = None
    auth_value: str | None = field(default=None, repr=False)
    authentication_id: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)
    secret: bool = False

    def to_payload(self) -> dict[str, Any]:
        """The job's payload; refuses a secret call."""
        if self.secret:
            raise ValueError("a call carrying credentials is never written to the job queue")
        return {
            "install": self.install_id,
            "account": self.account_id,
            "connector": self.connector_id,
            "name": self.name,
            "description": self.description,
            "auth_value": self.auth_value,
            "authentication": self.authentication_id,
            "properties": dict(self.properties),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> InstallCall:
        return cls(
            install_id=int(payload["install"]),
            account_id=str(payload["account"]),
            connector_id=int(payload["connector"]),
            name=str(payload["name"]),
            description=payload.get("description"),
            auth_value=payload.get("auth_value"),
            authentication_id=payload.get("authentication"),
            properties=dict(payload.get("properties") or {}),
        )


def validate_install(
    *,
    connector: Connector | None,
    name: str | None,
    description: str | None = None,
    credentials: Credentials = Credentials(),
    properties: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Field errors needing no network, keyed by field (``prop:<TargetName>`` for properties)."""
    errors: dict[str, str] = {}
    if connector is None:
        errors["connector"] = "Choose a connector."
        return errors
    if not connector.is_installable:
        errors["connector"] = (
            f"{connector.name} is a {connector.status or 'draft'} connector and cannot be installed."
        )
    clean_name = (name or "").strip()
    if not clean_name:
        errors["name"] = "Give the installed connector a name."
    elif len(clean_name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    elif any(ord(ch) < 32 for ch in clean_name):
        errors["name"] = "The name cannot contain control characters."
    if description and len(description) > MAX_DESCRIPTION:
        errors["description"] = f"Use at most {MAX_DESCRIPTION} characters."
    kind = connector.auth_kind
    if kind is AuthKind.API_KEY:
        key = (credentials.api_key or "").strip()
        if not key:
            errors["api_key"] = f"Paste the {connector.name} API key."
        elif len(key) > MAX_SECRET or any(ch.isspace() for ch in key):
            errors["api_key"] = "That does not look like an API key (it has spaces or is too long)."
    elif kind is AuthKind.BASIC:
        username = credentials.username or ""
        if not username.strip():
            errors["username"] = "Enter the username."
        elif ":" in username:
            errors["username"] = "A username for basic authentication cannot contain ':'."
        if not credentials.password:
            errors["password"] = "Enter the password."
        elif len(credentials.password) > MAX_SECRET:
            errors["password"] = "That password is too long."
    values = properties or {}
    for prop in connector.required_properties:
        value = (values.get(prop.target_name) or "").strip()
        key = f"prop:{prop.target_name}"
        if not value:
            errors[key] = f"{prop.name} is required."
        elif prop.values and value not in prop.values:
            errors[key] = f"Choose one of: {', '.join(prop.values[:10])}."
    return errors


def auth_value_for(connector: Connector, credentials: Credentials) -> str | None:
    """Cyclr's ``AuthValue`` for an install: the key, base64 ``user:password``, ``{}`` or nothing."""
    kind = connector.auth_kind
    if kind is AuthKind.API_KEY and credentials.api_key:
        return credentials.api_key.strip()
    if kind is AuthKind.BASIC and credentials.username is not None and credentials.password is not None:
        raw = f"{credentials.username.strip()}:{credentials.password}".encode()
        return base64.b64encode(raw).decode("ascii")
    method = connector.default_auth_method
    grant = (method.oauth2_type if method else connector.oauth2_type) or ""
    if kind is AuthKind.NONE and grant.lower() == "clientcredentials":
        return "{}"  # Cyclr authenticates a client-credentials connector by itself
    return None


def _server_failed(error: CyclrServerError) -> str:
    detail = f" ({error.cyclr_message})" if error.cyclr_message else ""
    return f"Cyclr had an internal error{detail}, and the connector is not in the account. Try again shortly."


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InstallService:
    """Install use cases over the Cyclr client and the store."""

    def __init__(
        self,
        cyclr: CyclrClient,
        store: Store,
        *,
        notifier: Notifier | None = None,
        grace: timedelta = timedelta(minutes=2),
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._cyclr = cyclr
        self._store = store
        self._notifier: Notifier = notifier or SilentNotifier()
        self._grace = grace
        self._clock = clock
        # Serialises "claim a row for a Cyclr call" against "give up on a row" in this process.
        self._settling = threading.Lock()
        self._in_flight: set[int] = set()  #: rows whose Cyclr call is under way in this process

    # -- submit and perform --------------------------------------------------------------------

    def submit(self, request: InstallRequest) -> tuple[InstallRecord, bool]:
        """Record the submission as PENDING; ``(existing, False)`` if it was already recorded."""
        self._register_secrets(request)
        connector = request.connector
        record, created = self._store.begin_install(
            submission_key=request.submission_key,
            team_id=request.team_id,
            user_id=request.user_id,
            channel_id=request.channel_id,
            account_id=request.account_id,
            connector_id=connector.id,
            connector_name=connector.name,
            connector_version=connector.version,
            auth_kind=connector.auth_kind,
            name=request.name.strip(),
        )
        if created:
            self._notify(record)
        return record, created

    def prepare(self, record: InstallRecord, request: InstallRequest) -> InstallCall:
        """The install POST for ``record``, from what the user submitted."""
        connector = request.connector
        auth_value = self._register_secrets(request)
        method = connector.default_auth_method
        sensitive = {p.target_name for p in connector.properties if p.is_sensitive}
        typed = connector.auth_kind in (AuthKind.API_KEY, AuthKind.BASIC) and auth_value is not None
        return InstallCall(
            install_id=record.id,
            account_id=request.account_id,
            connector_id=connector.id,
            name=record.name,
            description=(request.description or "").strip() or None,
            auth_value=auth_value,
            authentication_id=method.id if method and len(connector.authentications) > 1 else None,
            properties=dict(request.properties),
            secret=typed or any(target in sensitive for target in request.properties),
        )

    def perform(self, record: InstallRecord, call: InstallCall) -> InstallOutcome:
        """Call Cyclr for a PENDING record and record the outcome (see the module docstring).

        The row is claimed first: its ``updated_at`` becomes the time of the attempt (and
        again the time an ambiguous answer came back), which is where the reconciliation
        grace period starts, and this process's reconciler leaves it alone until the attempt
        is over. A row settled meanwhile (the reconciler gave up on a job that waited in the
        queue for longer than the grace period) is not installed.
        """
        claimed = self._claim(record, attempt=True)
        if claimed is None:
            current = self._store.get_install(record.id) or record
            log.warning(
                "install %s was settled (%s) before Cyclr was called; not calling it",
                record.id,
                current.state,
            )
            return InstallOutcome(current)
        try:
            return self._attempt(claimed, call)
        finally:
            with self._settling:
                self._in_flight.discard(record.id)

    def _claim(self, record: InstallRecord, *, attempt: bool = False) -> InstallRecord | None:
        """Touch a PENDING row (restarting its grace period); None when it is final."""
        with self._settling:
            claimed = self._store.advance_state(
                record.id, from_state=InstallState.PENDING, to_state=InstallState.PENDING
            )
            if claimed is not None and attempt:
                self._in_flight.add(record.id)
        return claimed

    @staticmethod
    def _register_secrets(request: InstallRequest) -> str | None:
        """Mask the request's secrets in the log (:data:`CREDENTIALS_TTL`); its ``AuthValue``."""
        connector = request.connector
        auth_value = auth_value_for(connector, request.credentials)
        register_secret(auth_value, ttl=CREDENTIALS_TTL)
        register_secret(request.credentials.api_key, ttl=CREDENTIALS_TTL)
        register_secret(request.credentials.password, ttl=CREDENTIALS_TTL)
        sensitive = {p.target_name for p in connector.properties if p.is_sensitive}
        for target, value in request.properties.items():
            if target in sensitive:
                register_secret(value, ttl=CREDENTIALS_TTL)
        return auth_value

    def _attempt(self, record: InstallRecord, call: InstallCall) -> InstallOutcome:
        if call.auth_value:
            register_secret(call.auth_value, ttl=CREDENTIALS_TTL)  # again: this may be another process
        # The name must be free before the POST: then a connector found by that name after a
        # lost answer is this install's, never one that was there already.
        try:
            taken = self._find_by_name(call.account_id, record.name)
        except CyclrConnectError:
            return self._fail(record, "The bot could not reach Cyclr, so nothing was installed. Try again.")
        except CyclrError as error:
            return self._fail(
                record, f"Cyclr did not answer ({error.user_message}), so nothing was installed. Try again."
            )
        if taken is not None:
            return self._fail(
                record, f"Account connector name '{record.name}' is in use.", duplicate_name=True
            )
        if self._store.mark_attempted(record.id) is None:
            # Settled meanwhile, or another run of this job (its worker presumed dead when its
            # lease ran out) asked Cyclr already: do not install; that run or the reconciler settles it.
            current = self._store.get_install(record.id) or record
            if not current.state.is_final:
                log.warning("install %s: Cyclr was asked already by another run; not asking again", record.id)
            return InstallOutcome(current)
        try:
            installed = self._cyclr.install_connector(
                call.account_id,
                call.connector_id,
                name=record.name,
                description=call.description,
                auth_value=call.auth_value,
                authentication_id=call.authentication_id,
                properties=dict(call.properties) or None,
            )
        except CyclrBadRequest as error:
            return self._fail(record, error.user_message, duplicate_name=error.is_duplicate_name)
        except CyclrConnectError:
            return self._fail(record, "The bot could not reach Cyclr, so nothing was installed. Try again.")
        except CyclrTimeout as error:
            log.warning("install %s: no answer from Cyclr (%s); reconciling", record.id, type(error).__name__)
            self._claim(record)  # Cyclr may still be working on it: the grace period starts now
            return InstallOutcome(self.reconcile(record, after_error=True))
        except CyclrServerError as error:
            # Cyclr answered, so it is not still working on it: settle now, found or not.
            log.warning("install %s: Cyclr failed (HTTP %s); reconciling", record.id, error.status)
            return InstallOutcome(self.reconcile(record, after_error=True, reason=_server_failed(error)))
        except CyclrAPIError as error:
            return self._fail(record, error.user_message)
        return InstallOutcome(self._installed(record, installed), installed)

    def find_installed(self, account_id: str, query: str) -> list[AccountConnector]:
        """Installed connectors matching ``query``: its id, else its exact name, else a part of it."""
        text = query.strip()
        installed = self._cyclr.list_account_connectors(account_id)
        if text.isdigit():
            by_id = [c for c in installed if c.id == int(text)]
            if by_id:
                return by_id
        folded = text.casefold()
        exact = [c for c in installed if c.name.casefold() == folded]
        if exact:
            return exact
        return [
            c
            for c in installed
            if folded in c.name.casefold()
            or (c.connector is not None and folded in c.connector.name.casefold())
        ]

    def uninstall(
        self,
        account_id: str,
        account_connector_id: int,
        *,
        team_id: str,
        user_id: str,
        name: str,
        connector: Connector | None,
    ) -> InstallRecord:
        """Delete the installed connector in Cyclr, then record it in the audit log."""
        self._cyclr.delete_account_connector(account_id, account_connector_id, missing_ok=True)
        self._store.revoke_links_for_connector(account_id, account_connector_id)  # none mints again
        record = self._store.install_for_account_connector(account_id, account_connector_id)
        if record is None:  # installed outside the bot: the audit log gets a row for the removal
            record, _ = self._store.begin_install(
                submission_key=f"uninstall:{account_id}:{account_connector_id}:{self._clock().isoformat()}",
                team_id=team_id,
                user_id=user_id,
                channel_id=None,
                account_id=account_id,
                connector_id=connector.id if connector else 0,
                connector_name=connector.name if connector else name,
                connector_version=connector.version if connector else None,
                auth_kind=connector.auth_kind if connector else AuthKind.UNKNOWN,
                name=name,
            )
            self._store.finish_install(
                record.id, InstallState.INSTALLED, account_connector_id=account_connector_id
            )
        updated = self._store.mark_uninstalled(record.id, by=user_id)
        assert updated is not None
        self._notify(updated)
        return updated

    def mark_authenticated(self, account_id: str, account_connector_id: int) -> InstallRecord | None:
        """The connector was authorised (OAuth done): move its install row on and tell the listener."""
        record = self._store.install_for_account_connector(account_id, account_connector_id)
        if record is None:
            return None
        updated = self._store.advance_state(
            record.id, from_state=InstallState.INSTALLED, to_state=InstallState.AUTHENTICATED
        )
        if updated is not None:
            self._notify(updated)
        return updated or record

    def reject(self, record: InstallRecord, reason: str) -> InstallRecord:
        """Fail a PENDING record without calling Cyclr (e.g. the job queue was full)."""
        return self._fail(record, reason).record

    # -- reconciliation ------------------------------------------------------------------------

    def reconcile(
        self, record: InstallRecord, *, after_error: bool = False, reason: str | None = None
    ) -> InstallRecord:
        """Settle a PENDING record from the account's installed connectors, by name.

        Found: installed. Absent: failed once the grace period since the row was last
        touched (written, or claimed for the Cyclr call) is over, as Cyclr may still be working
        on a request that timed out or is waiting in the queue; else left PENDING. A Cyclr that
        cannot be asked leaves the row PENDING for the next pass. With ``reason`` (Cyclr
        answered this attempt with an error) an absent connector fails at once with that reason.
        A row whose Cyclr call is under way in this process, or that was claimed by an attempt
        while the connectors were being listed, is left alone (``after_error``: the caller is
        that attempt).
        """
        current = self._store.get_install(record.id)
        if current is None or current.state.is_final:
            return current or record
        found: AccountConnector | None = None
        if current.attempted_at is None:  # Cyclr was never asked: nothing to look for
            default_reason = "The bot stopped before it asked Cyclr, so nothing was installed. Try again."
        else:
            default_reason = (
                "Cyclr did not confirm the install and the connector is not in the account,"
                " so it was not installed. Try again."
            )
            try:
                found = self._find_by_name(current.account_id, current.name)
            except CyclrError as error:
                log.warning(
                    "reconcile %s: Cyclr not available (%s); will try again", record.id, type(error).__name__
                )
                return current
        if found is not None:
            return self._installed(current, found)
        if reason is None and self._clock() - current.updated_at < self._grace:
            if after_error:
                log.info("reconcile %s: not found yet; pending until the grace period ends", record.id)
            return current
        reason = reason or default_reason
        with self._settling:
            latest = self._store.get_install(record.id)
            if (
                latest is None
                or latest.state.is_final
                or latest.updated_at != current.updated_at  # claimed for an attempt meanwhile
                or (not after_error and record.id in self._in_flight)  # its attempt is under way
            ):
                return latest or current
            updated = self._store.finish_install(
                record.id, InstallState.FAILED, reason=reason, only_if_pending=True
            )
        if updated is None:
            return self._store.get_install(record.id) or current
        self._notify(updated)
        return updated

    def reconcile_pending(self, *, older_than: timedelta = timedelta(0)) -> list[InstallRecord]:
        """Reconcile every PENDING row last touched before ``now - older_than``."""
        settled = []
        for record in self._store.pending_installs(older_than=older_than):
            result = self.reconcile(record)
            if result.state.is_final:
                settled.append(result)
        return settled

    def _find_by_name(self, account_id: str, name: str) -> AccountConnector | None:
        wanted = name.strip()
        folded = None
        for connector in self._cyclr.iter_account_connectors(account_id):
            if connector.name == wanted:
                return connector
            if folded is None and connector.name.casefold() == wanted.casefold():
                folded = connector
        return folded

    # -- state changes -------------------------------------------------------------------------

    def _installed(self, record: InstallRecord, installed: AccountConnector) -> InstallRecord:
        state = InstallState.AUTHENTICATED if installed.authenticated else InstallState.INSTALLED
        updated = self._store.finish_install(
            record.id, state, account_connector_id=installed.id, only_if_pending=True
        )
        if updated is None:  # another replica settled it first
            current = self._store.get_install(record.id) or record
            if current.state is not InstallState.FAILED:
                return current
            # Given up on (by a replica whose grace ran out) while Cyclr was installing it: the
            # connector is there, so the row and the requester's messages must say so.
            log.warning("install %s was recorded as failed but Cyclr installed it; correcting", record.id)
            updated = self._store.finish_install(
                record.id, state, account_connector_id=installed.id, reason=""
            )
            if updated is None:
                return current
        self._notify(updated)
        return updated

    def _fail(self, record: InstallRecord, reason: str, *, duplicate_name: bool = False) -> InstallOutcome:
        updated = self._store.finish_install(
            record.id, InstallState.FAILED, reason=reason, only_if_pending=True
        )
        if updated is None:
            return InstallOutcome(self._store.get_install(record.id) or record)
        self._notify(updated, duplicate_name=duplicate_name)
        return InstallOutcome(updated, duplicate_name=duplicate_name)

    def _notify(self, record: InstallRecord, *, duplicate_name: bool = False) -> None:
        self._notifier.install_changed(record, duplicate_name=duplicate_name)
