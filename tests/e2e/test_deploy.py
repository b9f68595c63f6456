"""Templates to running cycles end to end: ``/cyclr templates``, *Deploy* (the ``cyclr_deploy``
modal and its job), the checklist DM (*Authorise*, *Enter key*, *Enter login*, *Activate*),
the team channel, reconciliation of a lost answer, and who may deploy where.

Black-box: signed requests to ``/slack/events`` on loopback, the Cyclr sandbox (whose request
log shows what reached Cyclr) and the Slack stand-in. U0001 is an installer in the unbound
channel C0001 (account acme-prod); UADMIN01 an admin; UGUEST01 a guest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cyclr.sandbox import Fault
from bot.playground import payloads as sr
from bot.slack.deploys import reconcile_deploys
from tests.e2e.harness import NOTIFY_CHANNEL, Bot, running_bot

INSTALLER = sr.DEFAULT_USER_ID
GUEST = "UGUEST01"
DEFAULT = "acme-prod"
OTHER = "globex-eu"
OAUTH_TEMPLATE = "Salesforce > Slack: new opportunities"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as running:
        running.slack.add_user(GUEST, is_restricted=True)
        running.services.accounts.all()
        yield running
        assert [p.describe() for p in running.slack.problems()] == []


def text_of(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message.get("blocks") or []:
        if isinstance(block.get("accessory"), dict) and block["accessory"].get("type") == "button":
            found.append(block["accessory"])
        found.extend(e for e in block.get("elements") or [] if e.get("type") == "button")
    return found


def answer(bot: Bot, hook: str, count: int = 1) -> dict[str, Any]:
    posts = bot.slack.wait_for(None, count=count, timeout=10, predicate=lambda c: c.hook == hook)
    return dict(posts[count - 1].args)


def templates(bot: Bot, words: str, hook: str, *, user: str = INSTALLER) -> dict[str, Any]:
    response = bot.command(f"templates {words}", user_id=user, response_url=bot.slack.response_url(hook))
    assert response.status_code == 200, response.text
    return answer(bot, hook)


def test_templates_search_lists_matches_with_their_connectors_and_deploy(bot: Bot) -> None:
    message = templates(bot, "salesforc slak", "t1")
    text = text_of(message)
    assert OAUTH_TEMPLATE.replace(">", "&gt;") in text
    assert "Uses: Salesforce, Slack" in text
    first = message["blocks"][2] if message["blocks"][0].get("block_id") else message["blocks"][1]
    assert "Salesforce &gt; Slack" in text_of(first)
    deploys = [b for b in buttons(message) if b["text"]["text"] == "Deploy"]
    assert deploys and json.loads(deploys[0]["value"])["a"] == DEFAULT
    assert bot.sandbox.template_by_name(OAUTH_TEMPLATE)["Id"] in [
        json.loads(b["value"])["t"] for b in deploys
    ]
    # Words that match nothing say so.
    assert "No templates match" in text_of(templates(bot, "zzqxv", "t2"))


def click(
    bot: Bot, element: dict[str, Any], hook: str, *, user: str = INSTALLER, channel: str | None = None
) -> None:
    kw: dict[str, Any] = {"element": element, "user_id": user, "response_url": bot.slack.response_url(hook)}
    if channel is not None:
        kw["channel_id"] = channel
    response = bot.action(element["action_id"], **kw)
    assert response.status_code == 200, response.text


def deploy_button(message: dict[str, Any], template: str, bot: Bot) -> dict[str, Any]:
    wanted = bot.sandbox.template_by_name(template)["Id"]
    return next(
        b for b in buttons(message) if b["text"]["text"] == "Deploy" and json.loads(b["value"])["t"] == wanted
    )


def deploy_values(bot: Bot, template: str, account: str = DEFAULT) -> dict[str, Any]:
    found = bot.sandbox.template_by_name(template)
    return {
        "template": sr.select_input(sr.option(str(found["Id"]), template)),
        "account": sr.select_input(sr.option(account, account)),
    }


def open_deploy(bot: Bot, template: str, hook: str, *, user: str = INSTALLER) -> dict[str, Any]:
    listed = templates(bot, template.split(":")[0].replace(">", ""), f"{hook}-list", user=user)
    click(bot, deploy_button(listed, template, bot), hook, user=user)
    return bot.opened_view()


def install_posts(bot: Bot) -> list[Any]:
    return [
        r
        for r in bot.sandbox.requests
        if r.method == "POST" and r.path.endswith("/install") and "/templates/" in r.path
    ]


def checklist(bot: Bot, user: str = INSTALLER, *, containing: str = "") -> dict[str, Any]:
    """The checklist DM as it now is (posted once, then updated in place)."""
    bot.wait_idle()
    posts = bot.slack.wait_for(
        "chat.postMessage",
        timeout=10,
        predicate=lambda c: c.args["channel"].startswith("D") and "Deployed" in text_of(c.args),
    )
    assert len(posts) == 1, "the checklist is one message"
    channel, ts = posts[0].response["channel"], posts[0].response["ts"]
    updates = [
        c
        for c in bot.slack.calls("chat.update")
        if c.args.get("channel") == channel and c.args.get("ts") == ts
    ]
    latest = dict((updates[-1] if updates else posts[0]).args)
    assert containing in text_of(latest), text_of(latest)
    return latest


def deploy(bot: Bot, template: str, hook: str) -> dict[str, Any]:
    view = open_deploy(bot, template, hook)
    assert view["callback_id"] == "cyclr_deploy"
    response = bot.submit(view, deploy_values(bot, template))
    assert response.status_code == 200 and response.json()["response_action"] == "update", response.text
    return checklist(bot)


def test_deploy_double_submit_installs_the_template_once_and_dms_the_checklist(bot: Bot) -> None:
    view = open_deploy(bot, OAUTH_TEMPLATE, "d1")
    assert view["callback_id"] == "cyclr_deploy"
    ids = {b.get("block_id") for b in view["blocks"]}
    assert {"template", "account"} <= ids
    first = bot.submit(view, deploy_values(bot, OAUTH_TEMPLATE))
    second = bot.submit(view, deploy_values(bot, OAUTH_TEMPLATE))
    assert first.status_code == second.status_code == 200
    assert "Deploying" in first.text
    assert "already submitted" in second.text or "Deployed" in second.text
    message = checklist(bot, containing="Authorise")
    # The modal is brought to the outcome (a late repeat's own answer may show progress again).
    assert bot.slack.wait_for(
        "views.update", predicate=lambda c: c.args["view_id"] == view["id"] and "Deployed" in text_of(c.args)
    )
    assert len(install_posts(bot)) == 1
    cycles = [
        c
        for c in bot.sandbox.cycles(DEFAULT)
        if c["TemplateId"] == bot.sandbox.template_by_name(OAUTH_TEMPLATE)["Id"]
    ]
    assert len(cycles) == 1
    text = text_of(message)
    assert "Salesforce" in text and "Slack" in text and "needs a sign-in" in text
    assert "Activate" not in [b["text"]["text"] for b in buttons(message)]
    # The team channel was told, once.
    team = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"] == NOTIFY_CHANNEL)
    assert len(team) == 1 and "deployed" in text_of(team[0].args)


def button_named(message: dict[str, Any], label: str, connector: str | None = None) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        accessory = block.get("accessory")
        labelled = isinstance(accessory, dict) and accessory.get("text", {}).get("text") == label
        if labelled and (connector is None or connector in text_of(block.get("text"))):
            return dict(accessory)
        for element in block.get("elements") or []:
            if element.get("type") == "button" and element["text"]["text"] == label and connector is None:
                return dict(element)
    raise AssertionError(f"no {label} button for {connector} in {text_of(message)}")


def dm_channel(bot: Bot) -> str:
    return str(
        bot.slack.wait_for("chat.postMessage", predicate=lambda c: "Deployed" in text_of(c.args))[0].response[
            "channel"
        ]
    )


def enter_key(bot: Bot, message: dict[str, Any], connector: str, key: str, hook: str) -> None:
    click(bot, button_named(message, "Enter key", connector), hook, channel=dm_channel(bot))
    view = bot.opened_view()
    assert view["callback_id"] == "cyclr_credentials"
    response = bot.submit(view, {"api_key": sr.text_input(key)})
    assert response.status_code == 200 and not response.text, response.text
    bot.wait_idle()


def puts_to_connectors(bot: Bot) -> list[Any]:
    return [r for r in bot.sandbox.requests if r.method == "PUT" and "/account/connectors/" in r.path]


def activations(bot: Bot) -> list[Any]:
    return [r for r in bot.sandbox.requests if r.method == "PUT" and r.path.endswith("/activate")]


def test_enter_key_sends_it_to_cyclr_once_and_nowhere_else(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk_live_DEPLOY-secret-4242"
    message = deploy(bot, "Stripe > Mailchimp: customers", "k1")
    assert "needs an API key" in text_of(message)
    enter_key(bot, message, "Stripe", secret, "k2")
    assert len(puts_to_connectors(bot)) == 1
    updated = checklist(bot, containing="accepted the key for Stripe")
    assert "*Stripe*: ready" in text_of(updated) and "Mailchimp*: needs an API key" in text_of(updated)
    # The key reached Cyclr and no other place.
    assert secret not in caplog.text
    with bot.services.store.engine.connect() as conn:
        for table in (
            "cyclr_deploys",
            "cyclr_jobs",
            "cyclr_installs",
            "cyclr_cycle_events",
            "cyclr_link_refs",
        ):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert secret not in json.dumps([str(v) for v in row]), table
    assert secret not in "\n".join(json.dumps(dict(c.args)) for c in bot.slack.calls())


def test_activate_from_the_checklist_when_nothing_blocks(bot: Bot) -> None:
    message = deploy(bot, "Stripe > Mailchimp: customers", "a1")
    enter_key(bot, message, "Stripe", "key-one", "a2")
    enter_key(bot, checklist(bot), "Mailchimp", "key-two", "a3")
    ready = checklist(bot, containing="Nothing blocks it")
    click(bot, button_named(ready, "Activate"), "a4", channel=dm_channel(bot))
    view = bot.opened_view()
    assert view["callback_id"] == "cyclr_activate"
    option = next(o for o in view_select(view)["options"] if o["value"] == "15")
    response = bot.submit(view, {"interval": sr.select_input(option, kind="static_select")})
    assert response.status_code == 200 and not response.text, response.text
    bot.wait_idle()
    assert len(activations(bot)) == 1
    done = checklist(bot, containing="Activated")
    assert "Activate" not in [b["text"]["text"] for b in buttons(done)]
    cycle = next(c for c in bot.sandbox.cycles(DEFAULT) if c["Status"] == "Active")
    assert cycle["TemplateId"] == bot.sandbox.template_by_name("Stripe > Mailchimp: customers")["Id"]
    # The team channel's one message about the deploy now tells the activation too.
    team = bot.slack.calls(predicate=lambda c: c.args.get("channel") == NOTIFY_CHANNEL)
    assert len([c for c in team if c.method == "chat.postMessage"]) == 1
    assert "Activated" in text_of(team[-1].args)


def view_select(view: dict[str, Any], block_id: str = "interval") -> dict[str, Any]:
    block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
    element: dict[str, Any] = block["element"]
    return element


def test_authorise_through_the_link_updates_the_checklist(bot: Bot) -> None:
    bot.services.notifier.first_check = 0.2
    message = deploy(bot, "Webhook > Slack: alerts", "o1")
    assert "*Webhook*: ready" in text_of(message)
    click(bot, button_named(message, "Authorise", "Slack"), "o2", channel=dm_channel(bot))
    link = bot.slack.wait_for(
        "chat.postMessage", predicate=lambda c: "Sign in" in text_of(c.args) or "sign in" in text_of(c.args)
    )[-1]
    url = next(b["url"] for b in buttons(dict(link.args)) if b.get("url"))
    assert bot.sandbox.click_through(url).redirected
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "Nothing blocks it" not in text_of(checklist(bot)):
        time.sleep(0.2)
    ready = checklist(bot, containing="Nothing blocks it")
    assert "*Slack*: ready" in text_of(ready)
    assert button_named(ready, "Activate")


def test_a_console_only_prerequisite_is_named_and_nothing_is_activated(bot: Bot) -> None:
    message = deploy(bot, "Webhook > Stripe: create customers", "p1")
    enter_key(bot, message, "Stripe", "key-three", "p2")
    after = checklist(bot, containing="accepted the key")
    text = text_of(after)
    assert "only the Cyclr console can fix that" in text
    assert "Activate" not in [b["text"]["text"] for b in buttons(after)]
    assert activations(bot) == []


def test_a_lost_deploy_answer_is_reconciled_to_exactly_one_cycle(tmp_path: Path) -> None:
    with running_bot(tmp_path, cyclr_timeout=(2.0, 0.4)) as bot:
        bot.services.accounts.all()
        bot.sandbox.faults.add(Fault("delay_after", delay=1.0, method="POST", path_prefix="/v1.0/templates/"))
        template = "Webhook > HTTP: forward events"
        message = deploy(bot, template, "l1")
        assert "Deployed" in text_of(message)
        assert len(install_posts(bot)) == 1
        wanted = bot.sandbox.template_by_name(template)["Id"]
        cycles = [c for c in bot.sandbox.cycles(DEFAULT) if c["TemplateId"] == wanted]
        assert len(cycles) == 1
        with bot.services.store.engine.connect() as conn:
            rows = conn.execute(text("SELECT state, cycle_id FROM cyclr_deploys")).all()
        assert [(r.state, r.cycle_id) for r in rows] == [("deployed", cycles[0]["Id"])]


def test_guests_are_refused(bot: Bot) -> None:
    refused = bot.command("templates slack", user_id=GUEST)
    assert refused.status_code == 200 and ":no_entry:" in refused.text
    listed = templates(bot, "slack", "g1")
    click(bot, deploy_button(listed, OAUTH_TEMPLATE, bot), "g2", user=GUEST)
    assert ":no_entry:" in text_of(answer(bot, "g2"))
    bot.wait_idle()
    assert bot.slack.calls("views.open", predicate=lambda c: True) == []
    assert install_posts(bot) == []


def test_an_installer_cannot_deploy_into_another_account(bot: Bot) -> None:
    view = open_deploy(bot, OAUTH_TEMPLATE, "b1")
    # The submitted account is checked against the installer's access, not trusted.
    response = bot.submit(view, deploy_values(bot, OAUTH_TEMPLATE, account=OTHER))
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors", response.text
    assert "only work on" in response.json()["errors"]["account"]
    # A crafted Deploy button naming the other account opens nothing.
    tid = bot.sandbox.template_by_name(OAUTH_TEMPLATE)["Id"]
    crafted = {"type": "button", "action_id": "template_deploy", "value": json.dumps({"a": OTHER, "t": tid})}
    click(bot, crafted, "b2")
    assert ":no_entry:" in text_of(answer(bot, "b2"))
    bot.wait_idle()
    assert install_posts(bot) == []
    assert len(bot.slack.calls("views.open")) == 1


def connector_id_in(message: dict[str, Any], label: str, connector: str) -> int:
    return int(json.loads(button_named(message, label, connector)["value"])["ac"])


def test_enter_login_sends_base64_of_username_and_password_once(bot: Bot) -> None:
    message = deploy(bot, "Zendesk > Jira: escalate tickets", "e1")
    assert "needs a username and password" in text_of(message)
    ac = connector_id_in(message, "Enter login", "Zendesk")
    click(bot, button_named(message, "Enter login", "Zendesk"), "e2", channel=dm_channel(bot))
    view = bot.opened_view()
    assert view["callback_id"] == "cyclr_credentials"
    values = {"username": sr.text_input("ops"), "password": sr.text_input("Pa55-w0rd")}
    assert bot.submit(view, values).status_code == 200
    assert bot.submit(view, values).status_code == 200  # a double submit: one PUT
    bot.wait_idle()
    assert len(puts_to_connectors(bot)) == 1
    received = bot.sandbox.auth_received(DEFAULT, ac)
    expected = hashlib.sha256(base64.b64encode(b"ops:Pa55-w0rd")).hexdigest()
    assert received.sha256 == expected
    assert "*Zendesk*: ready" in text_of(checklist(bot, containing="accepted the login for Zendesk"))


def test_the_template_picker_and_app_home_open_the_deploy_modal(bot: Bot) -> None:
    assert bot.post(sr.app_home_opened_request(INSTALLER)).status_code == 200
    home = bot.slack.wait_for("views.publish")[-1].args["view"]
    button = next(b for b in buttons(home) if b["text"]["text"] == "Deploy a template")
    click(bot, button, "h1")
    view = bot.opened_view()
    assert view["callback_id"] == "cyclr_deploy"
    found = bot.options("hubspt mailchimp", view, action_id="template")
    names = [o["text"]["text"] for o in found["options"]]
    assert names and names[0] == "HubSpot > Mailchimp: sync contacts", names
    assert "HubSpot" in found["options"][0]["description"]["text"]
    # The account picker offers what the installer may use here: the channel's account only.
    accounts = bot.options("", view, action_id="account")
    assert [o["value"] for o in accounts["options"]] == [DEFAULT]


def test_a_deploy_left_pending_by_a_dead_process_is_settled_by_the_timed_reconcile(bot: Bot) -> None:
    template = bot.sandbox.template_by_name("Webhook > HTTP: forward events")
    # What a process killed mid-deploy leaves: a row marked attempted, the cycle made in Cyclr.
    deploy_row, _ = bot.services.store.begin_deploy(
        request_key="view:V-crashed",
        team_id=sr.TEAM_ID,
        user_id=INSTALLER,
        channel_id="C0001",
        account_id=DEFAULT,
        template_id=str(template["Id"]),
        template_name=str(template["Name"]),
    )
    assert bot.services.store.mark_deploy_attempted(deploy_row.id)
    assert not bot.services.store.mark_deploy_attempted(deploy_row.id)  # one attempt only
    made = bot.services.cyclr.install_template(DEFAULT, str(template["Id"]))
    with bot.services.store.engine.begin() as conn:  # old enough for the timed pass (SQLite here)
        conn.execute(text("UPDATE cyclr_deploys SET created_at = datetime(created_at, '-1 minute')"))
    assert reconcile_deploys(bot.services) == 1
    bot.wait_idle()
    settled = bot.services.store.get_deploy(deploy_row.id)
    assert settled is not None and settled.state.value == "deployed" and settled.cycle_id == made.id
    assert len(install_posts(bot)) == 1  # the one made above: the job never called again
    assert len([c for c in bot.sandbox.cycles(DEFAULT) if c["TemplateId"] == template["Id"]]) == 1
    assert "Deployed" in text_of(checklist(bot))


def test_an_admin_may_deploy_into_another_account(bot: Bot) -> None:
    admin = "UADMIN01"
    view = open_deploy(bot, "Webhook > HTTP: forward events", "x1", user=admin)
    response = bot.submit(
        view, deploy_values(bot, "Webhook > HTTP: forward events", account=OTHER), user_id=admin
    )
    assert response.status_code == 200 and response.json()["response_action"] == "update", response.text
    checklist(bot, admin, containing="Deployed")
    wanted = bot.sandbox.template_by_name("Webhook > HTTP: forward events")["Id"]
    assert [c["TemplateId"] for c in bot.sandbox.cycles(OTHER)] == [wanted]
    assert all(c["TemplateId"] != wanted for c in bot.sandbox.cycles(DEFAULT))


def test_a_template_that_is_not_in_the_library_is_refused_in_the_modal(bot: Bot) -> None:
    view = open_deploy(bot, OAUTH_TEMPLATE, "n1")
    assert bot.options("", view, action_id="template")["options"]  # the picker loaded the library
    values = deploy_values(bot, OAUTH_TEMPLATE)
    values["template"] = sr.select_input(sr.option("00000000-0000-0000-0000-000000000000", "Made up"))
    response = bot.submit(view, values)
    assert response.json()["response_action"] == "errors"
    assert "not in the library" in response.json()["errors"]["template"]
    bot.wait_idle()
    assert install_posts(bot) == []
