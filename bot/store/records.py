"""Immutable rows the store hands out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bot.cyclr.models import AuthKind

__all__ = ["Binding", "InstallRecord", "InstallState", "LinkRef"]


class InstallState(enum.StrEnum):
    """Where an install stands. Only PENDING is not final."""

    PENDING = "pending"  #: recorded, Cyclr's answer not yet known
    INSTALLED = "installed"  #: installed; authentication still to be done (OAuth or in Cyclr)
    AUTHENTICATED = "authenticated"  #: installed and authenticated
    FAILED = "failed"  #: Cyclr refused it, or it never happened
    UNINSTALLED = "uninstalled"  #: removed later with /cyclr uninstall

    @property
    def is_final(self) -> bool:
        return self is not InstallState.PENDING


@dataclass(frozen=True, slots=True)
class InstallRecord:
    """One install request and its outcome: the audit log's row."""

    id: int
    submission_key: str
    team_id: str
    user_id: str
    channel_id: str | None
    account_id: str
    connector_id: int
    connector_name: str
    connector_version: str | None
    auth_kind: AuthKind
    name: str
    state: InstallState
    reason: str | None
    account_connector_id: int | None
    created_at: datetime
    updated_at: datetime
    notify_channel: str | None = None
    notify_ts: str | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None
    uninstalled_by: str | None = None
    attempted_at: datetime | None = None
    told_state: str | None = None

    @property
    def needs_authorisation(self) -> bool:
        """Installed, and waiting for someone to sign in through Cyclr's OAuth page."""
        return self.state is InstallState.INSTALLED and self.auth_kind is AuthKind.OAUTH


@dataclass(frozen=True, slots=True)
class Binding:
    """A Slack channel bound to the Cyclr account it works on."""

    team_id: str
    channel_id: str
    account_id: str
    bound_by: str
    bound_at: datetime


@dataclass(frozen=True, slots=True)
class LinkRef:
    """An opaque reference behind an authorisation link; never holds a Cyclr token."""

    ref: str
    team_id: str
    user_id: str
    account_id: str
    account_connector_id: int
    connector_name: str
    install_id: int | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None
    authenticated_at: datetime | None = None
