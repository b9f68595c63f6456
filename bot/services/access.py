"""Who may do what, and on which Cyclr accounts: a pure policy, plus a short-lived cache of
the facts about users it needs.

* admins (``CYCLR_BOT_ADMINS``: user and user-group ids) may do everything, on every account;
* installers (``CYCLR_BOT_INSTALLERS``; empty means every full member of the bot's own
  workspace) may search, install, list, authorise, list cycles and activate, pause and
  resume them, and read history and accounts, on the
  accounts ``CYCLR_BOT_INSTALLER_ACCOUNTS`` gives them: ``channel`` (the default) the
  channel's account only (bound, else the default account), ``all`` every account;
* guests (single- and multi-channel), users of another workspace (Slack Connect), deleted
  users and bots may only read the help;
* uninstalling and binding a channel to an account are for admins only.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bot.cache import BoundedCache

__all__ = [
    "ACTION_ROLES",
    "UNKNOWN_REQUIREMENT",
    "AccountGrant",
    "AccountScope",
    "Action",
    "Decision",
    "Role",
    "Standing",
    "UserDirectory",
    "UserFacts",
    "account_grant",
    "allows",
    "decide",
    "permits",
    "standing",
]


class Action(enum.StrEnum):
    HELP = "help"
    SEARCH = "search"
    INSTALL = "install"
    LIST = "list"
    AUTH = "auth"
    HISTORY = "history"
    ACCOUNTS = "accounts"  #: list accounts, show the channel's account
    BIND = "bind"  #: bind a channel to an account
    UNINSTALL = "uninstall"
    CYCLES = "cycles"  #: list an account's cycles
    OPERATE = "operate"  #: activate, pause or resume a cycle


@dataclass(frozen=True, slots=True)
class UserFacts:
    """What Slack says about a user, reduced to what the policy needs."""

    user_id: str
    team_id: str | None
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    deleted: bool = False
    is_bot: bool = False
    groups: frozenset[str] = frozenset()  #: the configured user groups the user belongs to

    @classmethod
    def from_users_info(cls, user: Mapping[str, Any], groups: Iterable[str] = ()) -> UserFacts:
        return cls(
            user_id=str(user.get("id") or ""),
            team_id=user.get("team_id"),
            is_restricted=bool(user.get("is_restricted")),
            is_ultra_restricted=bool(user.get("is_ultra_restricted")),
            deleted=bool(user.get("deleted")),
            is_bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
            groups=frozenset(groups),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""


class Role(enum.IntEnum):
    """How far a user may go; each role may do what the ones below it may."""

    NONE = 0  #: the help card only
    INSTALLER = 1
    ADMIN = 2


#: The least role each action needs. An action missing here is refused to everyone, admins
#: included (fail closed). ``/cyclr`` subcommands state theirs in ``bot.slack.subcommands``.
ACTION_ROLES: Mapping[Action, Role] = MappingProxyType(
    {
        Action.HELP: Role.NONE,
        Action.SEARCH: Role.INSTALLER,
        Action.INSTALL: Role.INSTALLER,
        Action.LIST: Role.INSTALLER,
        Action.AUTH: Role.INSTALLER,
        Action.HISTORY: Role.INSTALLER,
        Action.ACCOUNTS: Role.INSTALLER,
        Action.BIND: Role.ADMIN,
        Action.UNINSTALL: Role.ADMIN,
        Action.CYCLES: Role.INSTALLER,
        Action.OPERATE: Role.INSTALLER,
    }
)

#: Why a request whose required role is unknown is refused.
#: The most users whose users.info answer is kept (least recently used dropped first).
MAX_CACHED_USERS = 10_000

UNKNOWN_REQUIREMENT = "I don't know who may do that, so nobody may."


@dataclass(frozen=True, slots=True)
class Standing:
    """A user's role, and why it is not higher (the words a refusal shows)."""

    role: Role
    reason: str = ""


def standing(
    facts: UserFacts, *, bot_team_id: str | None, admins: Iterable[str], installers: Iterable[str]
) -> Standing:
    """The user's role; pure, so the whole access matrix is testable without Slack."""
    if facts.deleted or facts.is_bot:
        return Standing(Role.NONE, "Deactivated accounts and bots cannot use Cyclr commands.")
    if facts.is_restricted or facts.is_ultra_restricted:
        return Standing(Role.NONE, "Guests cannot install or manage Cyclr connectors.")
    if bot_team_id and facts.team_id and facts.team_id != bot_team_id:
        return Standing(
            Role.NONE,
            "Only members of this workspace can use Cyclr commands here, not people "
            "from another organisation in a shared channel.",
        )
    admin_set = set(admins)
    if facts.user_id in admin_set or facts.groups & admin_set:
        return Standing(Role.ADMIN)
    installer_set = set(installers)
    if not installer_set or facts.user_id in installer_set or facts.groups & installer_set:
        return Standing(Role.INSTALLER, "Only bot admins can do that.")
    return Standing(Role.NONE, "You are not on the list of people who may use Cyclr from Slack.")


def decide(
    facts: UserFacts,
    action: Action,
    *,
    bot_team_id: str | None,
    admins: Iterable[str],
    installers: Iterable[str],
) -> Decision:
    """Whether ``facts``' user may do ``action`` (on some account: see :func:`account_grant`)."""
    if action is Action.HELP:
        return Decision(True)
    return allows(standing(facts, bot_team_id=bot_team_id, admins=admins, installers=installers), action)


def allows(user: Standing, action: Action) -> Decision:
    """Whether a user of ``user.role`` may do ``action`` (:data:`ACTION_ROLES`)."""
    return permits(user, ACTION_ROLES.get(action))


def permits(user: Standing, required: Role | None) -> Decision:
    """Whether a user of ``user.role`` has ``required``; ``None`` (a requirement nobody
    stated) is refused to everyone."""
    if required is None:
        return Decision(False, UNKNOWN_REQUIREMENT)
    if user.role >= required:
        return Decision(True)
    return Decision(False, user.reason or "Not allowed.")


class AccountScope(enum.StrEnum):
    """``CYCLR_BOT_INSTALLER_ACCOUNTS``: which accounts a non-admin works on."""

    CHANNEL = "channel"  #: the channel's account only (bound, else the default account)
    ALL = "all"  #: every account of the partner


@dataclass(frozen=True, slots=True)
class AccountGrant:
    """The Cyclr accounts a user may work on in one place (a channel, a DM, App Home).

    ``every`` means any of the partner's accounts; whether an id *is* one of them is the
    account directory's business, checked separately.
    """

    every: bool = False
    accounts: frozenset[str] = frozenset()

    def allows(self, account_id: object) -> bool:
        return isinstance(account_id, str) and (self.every or account_id in self.accounts)

    @property
    def single(self) -> str | None:
        """The one account allowed, when exactly one is (the picker is then left out)."""
        return next(iter(self.accounts)) if not self.every and len(self.accounts) == 1 else None


def account_grant(role: Role, *, scope: AccountScope | str, channel_account: str) -> AccountGrant:
    """The accounts a user of ``role`` may work on where ``channel_account`` is the channel's
    account (its binding, else the default account; the default account outside channels)."""
    if role is Role.ADMIN or (role is Role.INSTALLER and AccountScope(scope) is AccountScope.ALL):
        return AccountGrant(every=True)
    if role is Role.INSTALLER:
        return AccountGrant(accounts=frozenset({channel_account}))
    return AccountGrant()


class UserDirectory:
    """Caches ``users.info`` and ``usergroups.users.list`` answers for ``ttl`` seconds.

    Args:
        user_info: ``users.info`` for one user id → the ``user`` object.
        group_members: ``usergroups.users.list`` for one group id → member user ids.
        groups: the group ids named in the admin and installer settings.
    """

    def __init__(
        self,
        user_info: Callable[[str], Mapping[str, Any]],
        group_members: Callable[[str], Iterable[str]],
        *,
        groups: Iterable[str],
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_CACHED_USERS,
    ) -> None:
        self._user_info = user_info
        self._group_members = group_members
        self._groups = tuple(dict.fromkeys(g for g in groups if g.startswith("S")))
        # Bounded (any workspace member can make the bot look them up) and single-flight:
        # a burst of requests from one user costs one users.info call.
        self._users: BoundedCache[str, Mapping[str, Any]] = BoundedCache(max_users, ttl=ttl, clock=clock)
        # Only the groups named in the settings are ever looked up.
        self._members: BoundedCache[str, frozenset[str]] = BoundedCache(
            max(1, len(self._groups)), ttl=ttl, clock=clock
        )

    @property
    def lookups(self) -> int:
        """How many users.info and usergroups.users.list calls were made."""
        return self._users.loads + self._members.loads

    @property
    def cached_users(self) -> int:
        return len(self._users)

    def facts(self, user_id: str) -> UserFacts:
        user = self._users.get_or_load(user_id, lambda: self._user_info(user_id))
        in_groups = [group for group in self._groups if user_id in self._members_of(group)]
        return UserFacts.from_users_info(user, in_groups)

    def _members_of(self, group: str) -> frozenset[str]:
        return self._members.get_or_load(group, lambda: frozenset(self._group_members(group)))
