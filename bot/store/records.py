"""Immutable rows the store hands out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bot.cyclr.models import AuthKind

__all__ = [
    "Binding",
    "CycleAction",
    "CycleEvent",
    "CycleEventState",
    "Deploy",
    "DeployState",
    "InstallRecord",
    "InstallState",
    "LinkRef",
]


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
    """The row behind an authorisation link: never holds a Cyclr token, nor the ref itself
    (the store keeps only its hash; the raw ref lives only in the DM's URL)."""

    id: int
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
    armed_until: datetime | None = None  #: the owner's click allows one mint until then
    minted_at: datetime | None = None  #: when a sign-in token was last minted through it

    def live(self, now: datetime) -> bool:
        """Not revoked, not expired, and its connector not yet authenticated."""
        return self.revoked_at is None and self.authenticated_at is None and self.expires_at > now


class CycleAction(enum.StrEnum):
    """What someone asked a cycle to do from Slack."""

    ACTIVATE = "activate"  #: start it with an interval chosen in the activate modal
    PAUSE = "pause"
    RESUME = "resume"  #: start it again with the interval it last ran at


class CycleEventState(enum.StrEnum):
    PENDING = "pending"  #: asked; the job has not finished
    DONE = "done"  #: Cyclr did it
    UNCHANGED = "unchanged"  #: the cycle already was so; nothing was sent to Cyclr
    FAILED = "failed"  #: Cyclr refused, or something stood in the way (``reason``)

    @property
    def is_final(self) -> bool:
        return self is not CycleEventState.PENDING


@dataclass(frozen=True, slots=True)
class CycleEvent:
    """One activation, pause or resume asked for in Slack: the audit log's row."""

    id: int
    request_key: str
    team_id: str
    user_id: str
    channel_id: str | None
    account_id: str
    cycle_id: str
    cycle_name: str | None
    action: CycleAction
    interval: int | None
    run_once: bool
    state: CycleEventState
    reason: str | None
    created_at: datetime
    updated_at: datetime
    notify_channel: str | None = None
    notify_ts: str | None = None


class DeployState(enum.StrEnum):
    """Where a template deploy stands. Only PENDING is not final."""

    PENDING = "pending"  #: recorded; Cyclr's answer not yet known
    DEPLOYED = "deployed"  #: the cycle exists (``cycle_id``)
    FAILED = "failed"  #: Cyclr refused it, or it never happened (``reason``)

    @property
    def is_final(self) -> bool:
        return self is not DeployState.PENDING


@dataclass(frozen=True, slots=True)
class Deploy:
    """One deploy of a template into an account, asked for in Slack: recorded before the
    call to Cyclr, marked attempted (once) just before it."""

    id: int
    request_key: str
    team_id: str
    user_id: str
    channel_id: str | None
    account_id: str
    template_id: str
    template_name: str
    state: DeployState
    reason: str | None
    cycle_id: str | None
    cycle_name: str | None
    attempted_at: datetime | None
    created_at: datetime
    updated_at: datetime
    dm_channel: str | None = None
    dm_ts: str | None = None
    notify_channel: str | None = None
    notify_ts: str | None = None
