"""The access matrix: every subcommand and the install submission for every kind of user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.playground import payloads as sr
from bot.playground.standin import Call, dm_channel_id
from bot.services.access import Action, UserFacts, decide
from bot.slack.ids import HOME_INSTALL, SEARCH_INSTALL, SHORTCUT
from tests.e2e.harness import Bot, running_bot

USERS = {
    "admin": "UADMIN01",
    "group_admin": "UGADMIN1",
    "installer": "UINST001",
    "group_installer": "UGRP0001",
    "member": "UMEMB001",
    "guest": "UGUEST01",
    "single_channel_guest": "UGUEST02",
    "external": "UEXT0001",
    "deleted": "UDEL0001",
    "bot_user": "UBOTX001",
}

# subcommand text → who may run it
MATRIX = {
    "help": set(USERS),
    "search salesforce": {"admin", "group_admin", "installer", "group_installer"},
    "install": {"admin", "group_admin", "installer", "group_installer"},
    "list": {"admin", "group_admin", "installer", "group_installer"},
    "auth salesforce": {"admin", "group_admin", "installer", "group_installer"},
    "history": {"admin", "group_admin", "installer", "group_installer"},
    "accounts": {"admin", "group_admin", "installer", "group_installer"},
    "account": {"admin", "group_admin", "installer", "group_installer"},
    "account globex": {"admin", "group_admin"},
    "uninstall salesforce": {"admin", "group_admin"},
}


@pytest.fixture(scope="module")
def access_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    tmp: Path = tmp_path_factory.mktemp("access")
    with running_bot(tmp, admins=("UADMIN01", "SADMINS1"), installers=("UINST001", "SINSTAL1")) as bot:
        slack = bot.slack
        for key in ("group_admin", "installer", "group_installer", "member"):
            slack.add_user(USERS[key])
        slack.add_user(USERS["guest"], is_restricted=True)
        slack.add_user(USERS["single_channel_guest"], is_ultra_restricted=True)
        slack.add_user(USERS["external"], team_id="T9999EXT")
        slack.add_user(USERS["deleted"], deleted=True)
        slack.add_user(USERS["bot_user"], is_bot=True)
        slack.add_usergroup("SADMINS1", [USERS["group_admin"]])
        slack.add_usergroup("SINSTAL1", [USERS["group_installer"]])
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        bot.services.accounts.all()
        yield bot


def refused(text: str) -> bool:
    return ":no_entry:" in text


@pytest.mark.parametrize("who", sorted(USERS))
@pytest.mark.parametrize("command", sorted(MATRIX))
def test_command_matrix(access_bot: Bot, command: str, who: str) -> None:
    hook = f"matrix-{who}-{command.replace(' ', '-')}"
    url = access_bot.slack.response_url(hook)
    response = access_bot.command(command, user_id=USERS[who], response_url=url)
    assert response.status_code == 200
    allowed = who in MATRIX[command]
    answer = response.text
    if command == "install":  # acks with nothing; then the modal opens, or the refusal comes
        assert response.content == b""
        if allowed:
            assert access_bot.opened_view()["callback_id"] == "cyclr_install"
            return
        post = access_bot.slack.wait_for(None, predicate=lambda c: c.hook == hook)[0]
        answer = json.dumps(post.args)
        assert not access_bot.slack.calls("views.open") or all(
            c.args["trigger_id"] != access_bot.last_trigger for c in access_bot.slack.calls("views.open")
        ), "a refused user got the modal"
    assert refused(answer) is not allowed, answer[:300]
    if not allowed:
        assert "Ask <@UADMIN01>, <!subteam^SADMINS1> for access." in answer


@pytest.mark.parametrize("who", sorted(USERS))
def test_install_submission_and_typeahead_matrix(access_bot: Bot, who: str) -> None:
    bot = access_bot
    allowed = who in MATRIX["install"]
    # A refused user cannot open the form, so they submit an admin's (whose metadata is sealed
    # for the admin: refused either way, but the role is checked first).
    bot.command("install", user_id=USERS[who] if allowed else "UADMIN01")
    admin_view = bot.opened_view()
    hook = bot.sandbox.connector_by_name("Webhook")
    values = {"connector": sr.select_input(sr.option(str(hook["Id"]), "Webhook")), "name": f"Hook {who}"}
    response = bot.submit(admin_view, values, user_id=USERS[who])
    answer = response.json()
    assert (answer["response_action"] == "update") is allowed, answer
    if not allowed:
        assert answer["response_action"] == "errors" and answer["errors"]["connector"]
    options = bot.options("web", dict(admin_view), values=None, user_id=USERS[who]) if allowed else None
    if options is not None:
        assert options["options"]
    bot.wait_idle()


@pytest.mark.parametrize("who", ["member", "guest", "external"])
def test_refused_buttons_answer_privately(access_bot: Bot, who: str) -> None:
    url = access_bot.slack.response_url(f"refuse-{who}")
    access_bot.action("uninstall", value='{"a":"acme-prod","ac":1}', user_id=USERS[who], response_url=url)
    post = access_bot.slack.wait_for(None, predicate=lambda c: c.hook == f"refuse-{who}")[0]
    assert ":no_entry:" in str(post.args)


# The other ways into the install modal: the global shortcut, App Home's button (a home
# view: no response_url, no channel) and the Install button of a search result.
ENTRY_POINTS = ("shortcut", "home", "search")


def _open_install(bot: Bot, entry: str, user_id: str, hook: str) -> requests.Response:
    trigger = bot.slack.new_trigger_id(user_id)
    bot.last_trigger = trigger
    if entry == "shortcut":
        return bot.post(sr.shortcut_request(SHORTCUT, user_id=user_id, trigger_id=trigger))
    if entry == "home":
        home = {"id": "VHOME0001", "type": "home", "callback_id": ""}
        request = sr.block_actions_request(HOME_INSTALL, user_id=user_id, trigger_id=trigger, view=home)
        return bot.post(request)
    connector = bot.sandbox.connector_by_name("Webhook")["Id"]
    # A search result carries the account of the channel it was searched in.
    account = bot.services.accounts.for_channel(team_id=sr.TEAM_ID, channel_id=sr.DEFAULT_CHANNEL_ID)[0]
    return bot.post(
        sr.block_actions_request(
            SEARCH_INSTALL,
            value=json.dumps({"a": account, "c": connector}),
            user_id=user_id,
            trigger_id=trigger,
            response_url=bot.slack.response_url(hook),
        )
    )


def _refusal_for(user_id: str, hook: str) -> object:
    def matches(call: Call) -> bool:
        to_user = call.hook == hook or (
            call.method == "chat.postMessage" and call.args.get("channel") == dm_channel_id(user_id)
        )
        return to_user and ":no_entry:" in json.dumps(call.args)

    return matches


@pytest.mark.parametrize("who", ["admin", "group_installer", "member", "guest", "external"])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_way_into_the_install_modal_is_checked(access_bot: Bot, entry: str, who: str) -> None:
    bot = access_bot
    hook = f"entry-{entry}-{who}"
    response = _open_install(bot, entry, USERS[who], hook)
    assert response.status_code == 200 and response.content == b""
    if who in MATRIX["install"]:
        assert bot.opened_view()["callback_id"] == "cyclr_install"
        return
    post = bot.slack.wait_for(None, predicate=_refusal_for(USERS[who], hook))[0]
    assert "Ask <@UADMIN01>, <!subteam^SADMINS1> for access." in json.dumps(post.args)
    bot.wait_idle()
    assert all(c.args["trigger_id"] != bot.last_trigger for c in bot.slack.calls("views.open")), (
        "a refused user got the modal"
    )


@pytest.mark.parametrize("entry", ["command", *ENTRY_POINTS])
def test_the_ack_does_not_wait_for_a_first_time_users_profile(access_bot: Bot, entry: str) -> None:
    """users.info is slow here; the ack comes back before Slack has even answered it (the
    stand-in records a call when it answers), and the check still happens just after."""
    bot = access_bot
    user = f"UFIRST{ENTRY_POINTS.index(entry) + 1 if entry in ENTRY_POINTS else 0:02d}"
    bot.slack.add_user(user)  # a member: never looked up before, and refused
    hook = f"first-{entry}"
    bot.slack.delay_next("users.info", 1.5)
    if entry == "command":
        response = bot.command("install", user_id=user, response_url=bot.slack.response_url(hook))
    else:
        response = _open_install(bot, entry, user, hook)
    assert response.status_code == 200
    assert not [c for c in bot.slack.calls("users.info") if c.args.get("user") == user], (
        "the ack waited for users.info"
    )
    bot.slack.wait_for(None, predicate=_refusal_for(user, hook))
    assert [c for c in bot.slack.calls("users.info") if c.args.get("user") == user]


def test_policy_is_pure_and_covers_every_action() -> None:
    member = UserFacts("U1", "T1")
    for action in Action:
        d = decide(member, action, bot_team_id="T1", admins=(), installers=())
        assert d.allowed is (action not in (Action.BIND, Action.UNINSTALL)), action
    guest = UserFacts("U2", "T1", is_restricted=True)
    assert [a for a in Action if decide(guest, a, bot_team_id="T1", admins=(), installers=()).allowed] == [
        Action.HELP
    ]
    admin_guest = UserFacts("U3", "T1", is_ultra_restricted=True)
    assert not decide(admin_guest, Action.INSTALL, bot_team_id="T1", admins=("U3",), installers=()).allowed
