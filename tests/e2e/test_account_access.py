"""A channel's Cyclr account is an access boundary (CYCLR_BOT_INSTALLER_ACCOUNTS), App Home
shows each person only what they may see, and ``response_url`` answers go only to Slack.

Everything here is black-box: signed requests to ``/slack/events``, the Cyclr sandbox and
the Slack stand-in. The default user (U0001) is an installer (CYCLR_BOT_INSTALLERS is empty);
UADMIN01 is an admin. The default account is acme-prod; channel C0001 is not bound.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.playground import payloads as sr
from bot.playground.standin import dm_channel_id
from bot.slack.sealed import Sealer
from tests.e2e.harness import BOT_TOKEN, Bot, running_bot

INSTALLER = sr.DEFAULT_USER_ID
OTHER_INSTALLER = "UINST002"
ADMIN = "UADMIN01"
GUEST = "UGUEST01"
DEFAULT = "acme-prod"
OTHER = "globex-eu"
BOUND = "CGLOBEX01"  #: a channel an admin binds to OTHER
UNBOUND = sr.DEFAULT_CHANNEL_ID


def prepare(bot: Bot, *, warm: bool = True) -> Bot:
    bot.slack.add_user(OTHER_INSTALLER)
    bot.slack.add_user(GUEST, is_restricted=True)
    if warm:
        bot.services.catalogue.get(DEFAULT, timeout=30)
        bot.services.catalogue.get(OTHER, timeout=30)
        bot.services.accounts.all()
    return bot


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as running:
        yield prepare(running)


@pytest.fixture
def cold_bot(tmp_path: Path) -> Iterator[Bot]:
    """Nothing cached yet: neither the account list nor a catalogue."""
    with running_bot(tmp_path) as running:
        yield prepare(running, warm=False)


@pytest.fixture
def open_bot(tmp_path: Path) -> Iterator[Bot]:
    """CYCLR_BOT_INSTALLER_ACCOUNTS=all."""
    with running_bot(tmp_path, installer_accounts="all") as running:
        yield prepare(running)


# -- helpers -----------------------------------------------------------------------------------------


def bind(bot: Bot, channel: str, account: str) -> None:
    hook = f"bind-{channel}"
    url = bot.slack.response_url(hook)
    bot.command(f"account {account}", user_id=ADMIN, channel_id=channel, response_url=url)
    bot.wait_idle()
    assert bot.services.accounts.for_channel(team_id=sr.TEAM_ID, channel_id=channel) == (account, True)


def open_modal(bot: Bot, user: str, channel: str = UNBOUND) -> dict[str, Any]:
    assert bot.command("install", user_id=user, channel_id=channel).status_code == 200
    return bot.opened_view()


def option(bot: Bot, name: str) -> dict[str, Any]:
    return sr.option(str(bot.sandbox.connector_by_name(name)["Id"]), name)


def submit(
    bot: Bot,
    view: dict[str, Any],
    user: str,
    *,
    connector: str = "Webhook",
    name: str = "Hook",
    account: str | None = None,
    metadata: str | None = None,
) -> dict[str, Any]:
    values: dict[str, Any] = {"connector": sr.select_input(option(bot, connector)), "name": name}
    if account is not None:
        values["account"] = sr.select_input(sr.option(account))
    payload = sr.view_payload(view, values=values, view_id=view["id"], private_metadata=metadata)
    response = bot.post(sr.view_submission_request(payload, user_id=user))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def block_ids(view: dict[str, Any]) -> set[str]:
    return {str(b.get("block_id")) for b in view["blocks"]}


def account_options(bot: Bot, view: dict[str, Any], user: str) -> list[str]:
    return [o["value"] for o in bot.options("", view, action_id="account", user_id=user)["options"]]


def installed_names(bot: Bot, account: str) -> list[str]:
    return [c["Name"] for c in bot.sandbox.installed(account)]


def cyclr_requests_for(bot: Bot, account: str) -> list[str]:
    return [r.path for r in bot.sandbox.requests if r.header("X-Cyclr-Account") == account]


def install_directly(bot: Bot, account: str, connector: str, name: str) -> int:
    """An installed connector made in the Cyclr console, as it were (not by the bot)."""
    made = bot.sandbox.state.install(account, bot.sandbox.connector_by_name(connector), {"Name": name})
    return int(made["Id"])


def click(bot: Bot, action_id: str, value: str, user: str, hook: str, **kw: Any) -> None:
    bot.action(action_id, value=value, user_id=user, response_url=bot.slack.response_url(hook), **kw)


def answer_to(bot: Bot, hook: str) -> str:
    return json.dumps(bot.slack.wait_for(None, predicate=lambda c: c.hook == hook)[0].args)


def button_value(message_args: dict[str, Any], action_id: str) -> str:
    return str(
        next(
            e["value"]
            for b in message_args["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e.get("action_id") == action_id
        )
    )


# -- item 3: the install form --------------------------------------------------------------------------


def test_an_installer_works_only_on_the_channels_account_and_cannot_pick_another(bot: Bot) -> None:
    view = open_modal(bot, INSTALLER)
    assert "account" not in block_ids(view), "the picker is shown to someone with one account"
    assert "Account: *Acme Ltd*" in json.dumps(view)
    # A crafted options load of the (hidden) picker offers only the channel's account.
    assert account_options(bot, view, INSTALLER) == [DEFAULT]

    answer = submit(bot, view, INSTALLER, account=OTHER, name="Sneaky")
    assert answer["response_action"] == "errors", answer
    assert "Acme Ltd" in answer["errors"]["connector"] and "admin" in answer["errors"]["connector"]
    bot.wait_idle()
    assert installed_names(bot, OTHER) == []
    assert not [p for p in cyclr_requests_for(bot, OTHER) if p.endswith("/install")]

    # The same form on the channel's own account goes through.
    assert submit(bot, view, INSTALLER, name="Allowed")["response_action"] == "update"
    bot.wait_idle()
    assert installed_names(bot, DEFAULT) == ["Allowed"]


def test_in_a_bound_channel_an_installer_works_on_its_account_only(bot: Bot) -> None:
    bind(bot, BOUND, OTHER)
    view = open_modal(bot, INSTALLER, channel=BOUND)
    assert "account" not in block_ids(view) and "Account: *Globex GmbH*" in json.dumps(view)
    assert account_options(bot, view, INSTALLER) == [OTHER]
    assert submit(bot, view, INSTALLER, account=DEFAULT, name="Wrong")["response_action"] == "errors"
    assert submit(bot, view, INSTALLER, name="Right")["response_action"] == "update"
    bot.wait_idle()
    assert installed_names(bot, OTHER) == ["Right"] and installed_names(bot, DEFAULT) == []


@pytest.mark.parametrize(
    "forged",
    [
        "old unsealed metadata naming another account",
        "metadata sealed for someone else",
        "a sealed metadata with its account changed",
    ],
)
def test_forged_metadata_reaches_no_account(bot: Bot, forged: str) -> None:
    view = open_modal(bot, INSTALLER)
    if forged == "old unsealed metadata naming another account":
        metadata = json.dumps({"t": sr.TEAM_ID, "c": UNBOUND, "a": OTHER})
    elif forged == "metadata sealed for someone else":
        bind(bot, BOUND, OTHER)
        metadata = open_modal(bot, ADMIN, channel=BOUND)["private_metadata"]  # the admin's, on OTHER
    else:
        metadata = view["private_metadata"].replace(DEFAULT, OTHER)
        assert metadata != view["private_metadata"]
    answer = submit(bot, view, INSTALLER, metadata=metadata, name="Forged")
    assert answer["response_action"] == "errors", answer
    assert "out of date" in answer["errors"]["connector"]
    bot.wait_idle()
    assert installed_names(bot, OTHER) == [] and installed_names(bot, DEFAULT) == []


def test_team_and_user_come_from_the_signed_body(bot: Bot) -> None:
    """The install is recorded for the team and user Slack signed, whatever the form carries."""
    view = open_modal(bot, INSTALLER)
    assert submit(bot, view, INSTALLER, name="Mine")["response_action"] == "update"
    bot.wait_idle()
    record = bot.services.store.recent_installs(sr.TEAM_ID, limit=1)[0]
    assert (record.team_id, record.user_id, record.channel_id) == (sr.TEAM_ID, INSTALLER, UNBOUND)
    # Someone else submitting the installer's form (its metadata is sealed for the installer).
    answer = submit(bot, view, OTHER_INSTALLER, name="Not mine")
    assert answer["response_action"] == "errors" and "out of date" in answer["errors"]["connector"]


def test_admins_work_on_any_account(bot: Bot) -> None:
    view = open_modal(bot, ADMIN)
    assert "account" in block_ids(view)
    assert sorted(account_options(bot, view, ADMIN)) == sorted(bot.sandbox.state.account_ids)
    assert submit(bot, view, ADMIN, account=OTHER, name="Admin's")["response_action"] == "update"
    bot.wait_idle()
    assert installed_names(bot, OTHER) == ["Admin's"]


def test_all_lets_installers_work_on_every_account(open_bot: Bot) -> None:
    bot = open_bot
    view = open_modal(bot, INSTALLER)
    assert "account" in block_ids(view)
    assert sorted(account_options(bot, view, INSTALLER)) == sorted(bot.sandbox.state.account_ids)
    assert submit(bot, view, INSTALLER, account=OTHER, name="Opened up")["response_action"] == "update"
    bot.wait_idle()
    assert installed_names(bot, OTHER) == ["Opened up"]
    # Still only the partner's accounts.
    answer = submit(bot, open_modal(bot, INSTALLER), INSTALLER, account="nosuch-account", name="X")
    assert answer["response_action"] == "errors"
    assert "not one of the Cyclr accounts" in answer["errors"]["account"]


def test_an_unknown_account_is_refused_before_the_list_is_cached(cold_bot: Bot) -> None:
    bot = cold_bot
    assert bot.services.accounts.cached() is None
    view = open_modal(bot, ADMIN)  # an unbound channel; an admin may name any account
    answer = submit(bot, view, ADMIN, account="nosuch-account", name="Ghost")
    assert answer["response_action"] == "errors", answer
    assert "loading the list of Cyclr accounts" in answer["errors"]["account"]
    # A search result's Install naming it opens nothing.
    hook = "search-unknown"
    connector = bot.sandbox.connector_by_name("Webhook")["Id"]
    click(bot, "search_install", json.dumps({"a": "nosuch-account", "c": connector}), ADMIN, hook)
    assert ":no_entry:" in answer_to(bot, hook)
    bot.wait_idle()  # the refusal loaded the list in the background
    assert bot.services.accounts.cached() is not None
    answer = submit(bot, view, ADMIN, account="nosuch-account", name="Ghost")
    assert "not one of the Cyclr accounts" in answer["errors"]["account"]
    bot.wait_idle()
    assert cyclr_requests_for(bot, "nosuch-account") == [], "an unknown account reached Cyclr"
    assert not [c for c in bot.slack.calls("views.open") if c.args["trigger_id"] == bot.last_trigger]


# -- item 3: buttons ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("action_id", ["authorise", "new_link"])
def test_a_crafted_button_value_reaches_no_other_account(bot: Bot, action_id: str) -> None:
    theirs = install_directly(bot, OTHER, "Salesforce", "Their Salesforce")
    ours = install_directly(bot, DEFAULT, "Salesforce", "Our Salesforce")
    hook = f"crafted-{action_id}"
    click(bot, action_id, json.dumps({"a": OTHER, "ac": theirs}), INSTALLER, hook)
    refusal = answer_to(bot, hook)
    assert ":no_entry:" in refusal and "Acme Ltd" in refusal and "<@UADMIN01>" in refusal
    # Sealed, but for someone else.
    forged = Sealer.for_bot_token(BOT_TOKEN).button_value(ADMIN, {"a": OTHER, "ac": theirs})
    click(bot, action_id, forged, INSTALLER, f"{hook}-sealed")
    assert ":no_entry:" in answer_to(bot, f"{hook}-sealed")
    bot.wait_idle()
    assert bot.sandbox.signin_tokens_issued == 0
    assert not bot.slack.calls("chat.postMessage"), "a link went out"
    # The channel's own account works.
    click(bot, action_id, json.dumps({"a": DEFAULT, "ac": ours}), INSTALLER, f"{hook}-ours")
    assert "fresh sign-in link" in answer_to(bot, f"{hook}-ours")
    bot.wait_idle()
    assert bot.sandbox.signin_tokens_issued == 1
    # An admin may use any account.
    click(bot, action_id, json.dumps({"a": OTHER, "ac": theirs}), ADMIN, f"{hook}-admin")
    assert "fresh sign-in link" in answer_to(bot, f"{hook}-admin")


def test_a_crafted_search_install_opens_no_form_on_another_account(bot: Bot) -> None:
    connector = bot.sandbox.connector_by_name("Webhook")["Id"]
    click(bot, "search_install", json.dumps({"a": OTHER, "c": connector}), INSTALLER, "crafted-search")
    assert ":no_entry:" in answer_to(bot, "crafted-search")
    bot.wait_idle()
    assert not [c for c in bot.slack.calls("views.open") if c.args["trigger_id"] == bot.last_trigger]
    click(bot, "search_install", json.dumps({"a": DEFAULT, "c": connector}), INSTALLER, "own-search")
    assert bot.opened_view()["callback_id"] == "cyclr_install"


def test_dm_buttons_of_an_install_in_a_bound_channel_keep_working(bot: Bot) -> None:
    """The *Authorise* button in the installer's DM is sealed for them: it works on the bound
    channel's account from the DM, and a copy without the seal, or in other hands, does not."""
    bind(bot, BOUND, OTHER)
    view = open_modal(bot, INSTALLER, channel=BOUND)
    answer = submit(bot, view, INSTALLER, connector="Salesforce", name="Globex SF")
    assert answer["response_action"] == "update"
    bot.wait_idle()
    dm_channel = dm_channel_id(INSTALLER)
    dm = bot.slack.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.args["channel"] == dm_channel and "authorise" in json.dumps(c.args["blocks"]),
    )[0]
    sealed = button_value(dm.args, "authorise")
    plain = {k: v for k, v in json.loads(sealed).items() if k != "s"}
    # The DM itself, as Slack sends it with a click on it (not ephemeral: it can be updated).
    message = {"type": "message", "ts": dm.response["ts"], "blocks": dm.args["blocks"]}
    where = {"channel_id": dm_channel, "message": message}

    click(bot, "authorise", json.dumps(plain), INSTALLER, "dm-plain", **where)
    assert ":no_entry:" in answer_to(bot, "dm-plain")
    click(bot, "authorise", sealed, OTHER_INSTALLER, "dm-other", **where)
    assert ":no_entry:" in answer_to(bot, "dm-other")
    bot.wait_idle()
    assert bot.sandbox.signin_tokens_issued == 0

    click(bot, "authorise", sealed, INSTALLER, "dm-sealed", **where)
    update = bot.slack.wait_for("chat.update", predicate=lambda c: c.args["channel"] == dm_channel)[0]
    assert update.args["ts"] == dm.response["ts"]
    assert bot.sandbox.signin_tokens_issued == 1
    # Its *Get a new link* is sealed for the installer too.
    click(bot, "new_link", button_value(update.args, "new_link"), INSTALLER, "dm-new", **where)
    bot.slack.wait_for("chat.update", count=2, predicate=lambda c: c.args["channel"] == dm_channel)
    assert bot.sandbox.signin_tokens_issued == 2


def test_the_link_page_of_an_install_in_a_bound_channel_is_armed_by_its_owner_only(tmp_path: Path) -> None:
    """With a public URL the DM's *Authorise* is a URL button carrying only the link's id: the
    link's owner's press arms it from the DM (whose own account is the default one), another
    installer's press does not, and the sealed *Get a new link* next to it works as above."""
    with running_bot(tmp_path, public=True) as running:
        bot = prepare(running)
        bind(bot, BOUND, OTHER)
        view = open_modal(bot, INSTALLER, channel=BOUND)
        answer = submit(bot, view, INSTALLER, connector="Salesforce", name="Globex SF")
        assert answer["response_action"] == "update"
        bot.wait_idle()
        dm_channel = dm_channel_id(INSTALLER)
        dm = bot.slack.wait_for(
            "chat.postMessage",
            predicate=lambda c: c.args["channel"] == dm_channel and "open_link" in json.dumps(c.args),
        )[0]
        page_url = next(
            e["url"]
            for b in dm.args["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e.get("action_id") == "open_link"
        )
        message = {"type": "message", "ts": dm.response["ts"], "blocks": dm.args["blocks"]}
        where = {"channel_id": dm_channel, "message": message}

        def post_page() -> int:
            return bot.http.post(page_url, timeout=10, allow_redirects=False).status_code

        click(bot, "open_link", button_value(dm.args, "open_link"), OTHER_INSTALLER, "press-other", **where)
        assert post_page() == 403
        assert bot.sandbox.signin_tokens_issued == 0
        click(bot, "open_link", button_value(dm.args, "open_link"), INSTALLER, "press-owner", **where)
        assert post_page() == 303
        assert bot.sandbox.signin_tokens_issued == 1
        assert [r.path for r in bot.sandbox.requests if r.path.endswith("/signintoken")] == [
            f"/v1.0/accounts/{OTHER}/signintoken"
        ]

        click(bot, "new_link", button_value(dm.args, "new_link"), INSTALLER, "dm-new", **where)
        update = bot.slack.wait_for("chat.update", predicate=lambda c: c.args["channel"] == dm_channel)[0]
        assert update.args["ts"] == dm.response["ts"] and "open_link" in json.dumps(update.args["blocks"])
        assert post_page() == 410  # the old link was replaced by the new one


# -- item 5: App Home and history ------------------------------------------------------------------------


def home_of(bot: Bot, user: str) -> str:
    before = len(bot.slack.calls("views.publish"))
    assert bot.post(sr.app_home_opened_request(user)).status_code == 200
    publish = bot.slack.wait_for("views.publish", count=before + 1)[-1]
    assert publish.args["user_id"] == user
    return json.dumps(publish.args["view"])


def installs_everywhere(bot: Bot) -> None:
    """An admin's install into the other account, an installer's into the default one."""
    view = open_modal(bot, ADMIN)
    assert submit(bot, view, ADMIN, account=OTHER, name="Globex hook")["response_action"] == "update"
    assert submit(bot, open_modal(bot, INSTALLER), INSTALLER, name="Acme hook")["response_action"] == "update"
    bot.wait_idle()


def test_a_guests_app_home_shows_no_installs_people_or_accounts(bot: Bot) -> None:
    installs_everywhere(bot)
    home = home_of(bot, GUEST)
    for hidden in ("Webhook", ADMIN, INSTALLER, DEFAULT, OTHER, "Acme Ltd", "Globex GmbH"):
        assert hidden not in home, hidden
    assert "home_install" not in home
    assert "Guests cannot" in home and "/cyclr help" in home


def test_an_installers_app_home_and_history_show_only_allowed_accounts(bot: Bot) -> None:
    installs_everywhere(bot)
    home = home_of(bot, INSTALLER)  # each row: who, connector, → account, state
    assert f"<@{INSTALLER}>" in home and "home_install" in home
    assert "Globex GmbH" not in home and f"<@{ADMIN}>" not in home
    history = bot.command("history", user_id=INSTALLER).text
    assert f"<@{INSTALLER}>" in history and "Globex GmbH" not in history
    admin_home = home_of(bot, ADMIN)
    assert f"<@{INSTALLER}>" in admin_home and "*Globex GmbH*" in admin_home


def test_with_all_an_installer_sees_every_accounts_installs(open_bot: Bot) -> None:
    installs_everywhere(open_bot)
    home = home_of(open_bot, INSTALLER)
    assert f"<@{INSTALLER}>" in home and "*Globex GmbH*" in home


# -- item 9: response_url ------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    posts: list[str] = []

    def do_POST(self) -> None:
        self.posts.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[str]]]:
    """A server on loopback that is not Slack's: its URL, and the paths posted to it."""
    posts: list[str] = []
    handler = type("Recorder", (_Recorder,), {"posts": posts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/evil", posts
    finally:
        server.shutdown()
        server.server_close()


def test_a_response_url_on_another_host_is_not_posted_to(
    bot: Bot, elsewhere: tuple[str, list[str]]
) -> None:
    url, posts = elsewhere
    assert bot.command("list", user_id=INSTALLER, response_url=url).status_code == 200
    bot.wait_idle()
    assert posts == [], "the bot posted to a response_url that is not Slack's"
    fallback = bot.slack.wait_for(
        "chat.postEphemeral", predicate=lambda c: c.args["user"] == INSTALLER and c.args["channel"] == UNBOUND
    )[0]
    assert "connector" in json.dumps(fallback.args).lower()
