"""The playground as one piece: ``start_playground`` on a free port, the page and its JSON API
over real HTTP, and the real bot behind it (no browser here; tests/browser has that)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bot.playground.compose import PEOPLE, TEAM_CHANNEL, Playground, start_playground
from bot.playground.page import USAGE_HINT
from bot.playground.standin import dm_channel_id

ADA, IAN, GUS = (p.user_id for p in PEOPLE)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def playground() -> Iterator[Playground]:
    running = start_playground(0)
    try:
        yield running
    finally:
        running.close()


def api(playground: Playground, name: str, **data: Any) -> dict[str, Any]:
    response = requests.post(f"{playground.url}_playground/api/{name}", json=data, timeout=20)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def state(playground: Playground, user: str) -> dict[str, Any]:
    response = requests.get(f"{playground.url}_playground/api/state", params={"user": user}, timeout=20)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_until(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_the_page_has_the_interface_test_ids_and_loads_nothing_from_outside(playground: Playground) -> None:
    response = requests.get(playground.url, timeout=10)
    assert response.status_code == 200
    page = response.text
    for test_id in ("composer", "channel", "dm", "home"):
        assert f'data-testid="{test_id}"' in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    addresses = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert addresses and all(a.startswith(("/_playground/static/", "#", "data:")) for a in addresses), (
        addresses
    )
    for asset in ("playground.js", "playground.css"):
        served = requests.get(f"{playground.url}_playground/static/{asset}", timeout=10)
        assert served.status_code == 200 and "http://" not in served.text and "https://" not in served.text
    assert requests.get(f"{playground.url}healthz", timeout=10).json()["sandbox"] is True


def test_the_usage_hint_is_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["usage_hint"] == USAGE_HINT


def test_the_api_answers_bad_requests_clearly(playground: Playground) -> None:
    base = f"{playground.url}_playground/api/"
    assert requests.post(base + "message", data="user=U0ADA", timeout=10).status_code == 415
    stranger = requests.get(
        base + "state", params={"user": ADA}, headers={"Host": "evil.example"}, timeout=10
    )
    assert stranger.status_code == 403
    nobody = requests.post(
        base + "message", json={"user": "U0NOBODY", "channel": TEAM_CHANNEL, "text": "hi"}, timeout=10
    )
    assert nobody.status_code == 400 and nobody.json()["problem"] == "no such person"
    assert requests.post(base + "nothing", json={"user": ADA}, timeout=10).status_code == 404
    bad_index = requests.post(
        base + "action", json={"user": ADA, "surface": {}, "block": "x", "element": 0}, timeout=10
    )
    assert bad_index.status_code == 400 and "block" in bad_index.json()["problem"]
    assert requests.post(base + "state", json={"user": ADA}, timeout=10).status_code == 404
    since = requests.get(base + "state", params={"user": ADA, "since": "soon"}, timeout=10)
    assert since.status_code == 400


def test_slow_cyclr_down(playground: Playground) -> None:
    url = f"{playground.url}_playground/sandbox/latency"
    try:
        assert requests.post(url, json={"seconds": 0.5}, timeout=10).json() == {"ok": True, "seconds": 0.5}
        assert playground.sandbox.api_latency == 0.5
        assert state(playground, ADA)["sandbox"]["api_latency"] == 0.5
        for bad in ("-1", "11", '"fast"', "null", "Infinity", "NaN", "true"):
            refused = requests.post(
                url, data=f'{{"seconds": {bad}}}', headers={"Content-Type": "application/json"}, timeout=10
            )
            assert refused.status_code == 400 and refused.json()["problem"].startswith("seconds"), bad
        assert playground.sandbox.api_latency == 0.5
    finally:
        playground.sandbox.api_latency = 0


def test_install_and_authorise_through_the_page_api(playground: Playground) -> None:
    api(playground, "message", user=IAN, channel=TEAM_CHANNEL, text="/cyclr install hubspot")
    modal = wait_until(
        "the install modal with HubSpot chosen",
        lambda: (m := state(playground, IAN)["modal"]) and 'value="HubSpot' in m["html"] and m,
    )
    view = playground.slack.view(modal["view_id"])
    connector = next(b for b in view["blocks"] if b.get("block_id") == "connector")["element"][
        "initial_option"
    ]
    result = api(
        playground,
        "submit",
        user=IAN,
        view_id=modal["view_id"],
        values={"connector": {"connector": connector}, "name": {"name": "HubSpot"}},
    )
    assert result == {"ok": True, "errors": {}, "problem": None}

    dm = wait_until(
        "the DM with its Authorise button", lambda: "Authorise HubSpot" in state(playground, IAN)["dm"]
    )
    assert dm
    [message] = [m for m in playground.slack.messages(dm_channel_id(IAN)) if m.get("blocks")]
    link = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("url"))
    assert link["url"].startswith(playground.url + "authorise/")
    # The click goes to the bot as Slack sends it, then the browser's part: Continue, then Allow.
    surface = {"kind": "message", "channel": dm_channel_id(IAN), "ts": message["ts"]}
    block = next(i for i, b in enumerate(message["blocks"]) if b["type"] == "actions")
    assert api(playground, "action", user=IAN, surface=surface, block=block, element=0)["ok"]
    continued = requests.post(link["url"], allow_redirects=False, timeout=10)
    assert continued.status_code == 303
    allowed = playground.sandbox.click_through(continued.headers["Location"])
    assert allowed.status == 302 and allowed.location.startswith(playground.url + "authorised/")
    assert "is authorised" in requests.get(allowed.location, timeout=10).text

    wait_until(
        "the DM to say authorised", lambda: "authorised and ready" in text(state(playground, IAN)["dm"])
    )
    channel = wait_until(
        "the team notification to say authorised",
        lambda: (
            "installed HubSpot" in (c := text(state(playground, IAN)["channel"])) and "authorised" in c and c
        ),
    )
    assert "Ian Installer" in channel and "HubSpot" in channel
    assert state(playground, IAN)["problems"] == []


def test_make_a_connector_lose_its_login(playground: Playground) -> None:
    """Runs after the install test above: its HubSpot is the authorised connector to lose."""
    url = f"{playground.url}_playground/sandbox/lose-login"
    [hubspot] = [c for c in playground.sandbox.installed() if c["Authenticated"] and c["Name"] == "HubSpot"]
    answer = requests.post(url, json={"user": ADA}, timeout=10)
    assert answer.status_code == 200 and "HubSpot" in answer.json()["notice"]
    [after] = [c for c in playground.sandbox.installed() if c["Id"] == hubspot["Id"]]
    assert after["Authenticated"] is False
    # The bot's health sweep runs with the control: Ian, who installed it, gets a DM with
    # Authorise, and the channel one line.
    wait_until("the DM", lambda: "no longer authenticated" in text(state(playground, IAN)["dm"]))
    wait_until("the channel line", lambda: "lost its login" in text(state(playground, IAN)["channel"]))
    api(playground, "message", user=IAN, channel=TEAM_CHANNEL, text="/cyclr health")
    wait_until(
        "/cyclr health to show HubSpot unauthorised",
        lambda: "needs a sign-in" in (c := text(state(playground, IAN)["channel"])) and "HubSpot" in c,
    )


def test_a_guest_is_refused(playground: Playground) -> None:
    api(playground, "message", user=GUS, channel=TEAM_CHANNEL, text="/cyclr install hubspot")
    seen = wait_until(
        "the refusal", lambda: "Guests cannot install" in (c := state(playground, GUS)["channel"]) and c
    )
    assert "Only visible to you" in seen
    assert "Guests cannot install" not in state(playground, ADA)["channel"]  # ephemeral: Gus's alone
    assert state(playground, GUS)["modal"] is None


def test_app_home_is_published_for_whoever_opens_it(playground: Playground) -> None:
    api(playground, "home", user=ADA)
    home = wait_until(
        "App Home", lambda: "Install a connector" in (h := state(playground, ADA)["home"]) and h
    )
    assert "Recent installs" in home and "data-surface" in home


def test_cycles_activate_through_the_page_api(playground: Playground) -> None:
    """The playground starts with cycles to show; Activate's modal works there as in Slack."""
    api(playground, "message", user=IAN, channel=TEAM_CHANNEL, text="/cyclr cycles")

    def listing() -> dict[str, Any] | None:
        found = [e for e in playground.slack.ephemerals(IAN) if "Webhook &gt; HTTP" in json.dumps(e)]
        return found[-1] if found else None

    shown = wait_until("the cycle listing", listing)
    assert "Greenhouse &gt; BambooHR" in json.dumps(shown)
    block = next(
        i
        for i, b in enumerate(shown["blocks"])
        if "Webhook &gt; HTTP" in json.dumps(b.get("text"))
        and b.get("accessory", {}).get("text", {}).get("text") == "Activate"
    )
    surface = {"kind": "ephemeral", "id": shown["id"]}
    assert api(playground, "action", user=IAN, surface=surface, block=block, element=-1)["ok"]
    modal = wait_until(
        "the activate modal",
        lambda: (m := state(playground, IAN)["modal"]) and "Every 15 minutes" in m["html"] and m,
    )
    assert "Every week" in modal["html"]
    result = api(
        playground, "submit", user=IAN, view_id=modal["view_id"], values={"interval": {"interval": "60"}}
    )
    assert result["ok"] and result["errors"] == {}, result
    wait_until("the team to be told", lambda: "activated" in text(state(playground, IAN)["channel"]))
    cycle = next(c for c in playground.sandbox.cycles() if c["Name"].startswith("Webhook > HTTP"))
    assert cycle["Status"] == "Active"
    assert state(playground, IAN)["problems"] == []


def test_raise_an_error_on_a_cycle_reaches_a_subscribed_channel(playground: Playground) -> None:
    url = f"{playground.url}_playground/sandbox/cycle-error"
    api(playground, "message", user=ADA, channel=TEAM_CHANNEL, text="/cyclr subscribe errors")
    account = playground.sandbox.default_account_id
    cyclr = playground.services.cyclr
    wait_until(  # the subscription is recorded a moment before Cyclr's webhook is pointed here
        "Cyclr's webhook pointed at the bot",
        lambda: (cyclr.get_webhook_settings(account).url or "").startswith(playground.url),
    )
    answer = requests.post(url, json={"user": ADA}, timeout=10)
    assert answer.status_code == 200 and "failed a transaction" in answer.json()["notice"]
    seen = wait_until(
        "the alert in the channel",
        lambda: "Field" in (c := text(state(playground, ADA)["channel"])) and "required" in c and c,
    )
    assert "Pause cycle" in seen and "Details" in seen
