"""The account half of the access policy: pure, so the whole matrix is checked here."""

from __future__ import annotations

import pytest

from bot.services.access import AccountGrant, AccountScope, Role, UserFacts, account_grant, standing


@pytest.mark.parametrize("scope", list(AccountScope))
def test_admins_work_on_every_account(scope: AccountScope) -> None:
    grant = account_grant(Role.ADMIN, scope=scope, channel_account="acme")
    assert grant.every and grant.allows("globex") and grant.single is None


def test_installers_work_on_the_channels_account_by_default() -> None:
    grant = account_grant(Role.INSTALLER, scope="channel", channel_account="acme")
    assert grant == AccountGrant(accounts=frozenset({"acme"}))
    assert grant.allows("acme") and not grant.allows("globex") and grant.single == "acme"
    assert not grant.allows(None) and not grant.allows(["acme"])


def test_all_opens_every_account_to_installers() -> None:
    assert account_grant(Role.INSTALLER, scope=AccountScope.ALL, channel_account="acme").every


@pytest.mark.parametrize("scope", list(AccountScope))
def test_nobody_else_works_on_any_account(scope: AccountScope) -> None:
    grant = account_grant(Role.NONE, scope=scope, channel_account="acme")
    assert not grant.allows("acme") and not grant.every


def test_standing() -> None:
    kw = {"bot_team_id": "T1", "admins": ("UA", "SADM"), "installers": ("UI",)}
    assert standing(UserFacts("UA", "T1"), **kw).role is Role.ADMIN
    assert standing(UserFacts("UX", "T1", groups=frozenset({"SADM"})), **kw).role is Role.ADMIN
    assert standing(UserFacts("UI", "T1"), **kw).role is Role.INSTALLER
    assert standing(UserFacts("UM", "T1"), **kw).role is Role.NONE
    assert standing(UserFacts("UI", "T1", is_restricted=True), **kw).role is Role.NONE
    assert standing(UserFacts("UA", "T2"), **kw).role is Role.NONE
    assert standing(UserFacts("UM", "T1"), **{**kw, "installers": ()}).role is Role.INSTALLER
