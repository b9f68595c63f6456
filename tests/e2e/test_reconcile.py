"""Installs left in doubt are settled and the requester is told: after a timeout, after a crash."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cyclr.models import AuthKind
from bot.cyclr.sandbox import Fault
from bot.playground import payloads as sr
from bot.store import InstallState
from tests.e2e.harness import NOTIFY_CHANNEL, running_bot


def test_read_timeout_on_install_then_found_is_installed_and_told(tmp_path: Path) -> None:
    with running_bot(tmp_path, cyclr_timeout=(2.0, 0.4)) as bot:
        bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
        bot.sandbox.faults.add(
            Fault("delay_after", delay=1.0, method="POST", path_prefix="/v1.0/connectors/")
        )
        bot.command("install")
        view = bot.opened_view()
        hook = bot.sandbox.connector_by_name("Webhook")
        values = {"connector": sr.select_input(sr.option(str(hook["Id"]), "Webhook")), "name": "Late hook"}
        assert bot.submit(view, values).json()["response_action"] == "update"
        bot.wait_idle()
        record = bot.services.store.install_by_key(view["id"])
        assert record is not None and record.state is InstallState.AUTHENTICATED
        assert bot.sandbox.count("POST", path_prefix="/v1.0/connectors/") == 1
        dm = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"].startswith("D"))[0]
        assert "Late hook" in json.dumps(dm.args)


def test_an_install_job_whose_process_died_mid_call_is_taken_over_reconciled_and_told(
    tmp_path: Path,
) -> None:
    with running_bot(tmp_path) as bot:
        account = bot.sandbox.default_account_id
        hubspot = bot.sandbox.connector_by_name("HubSpot")
        # What a process killed mid-install leaves: a pending row, and the install done in Cyclr.
        record, _ = bot.services.store.begin_install(
            submission_key="V-crashed",
            team_id=sr.TEAM_ID,
            user_id="U0001",
            channel_id="C1",
            account_id=account,
            connector_id=hubspot["Id"],
            connector_name="HubSpot",
            connector_version=None,
            auth_kind=AuthKind.OAUTH,
            name="HubSpot EU",
        )
        bot.services.store.mark_attempted(record.id)  # it got as far as asking Cyclr
        installed = bot.services.cyclr.install_connector(account, hubspot["Id"], name="HubSpot EU")
        # Its job, held by the process that died with the user's credentials in memory.
        payload = {"install": record.id, "secret": True}
        bot.services.queue.hold("install", payload, key=f"install:{record.id}", owner="dead", lease=0.5)
        dm = bot.slack.wait_for(
            "chat.postMessage", timeout=10, predicate=lambda c: c.args["channel"].startswith("D")
        )[0]
        settled = bot.services.store.get_install(record.id)
        assert settled is not None and settled.state is InstallState.INSTALLED
        assert settled.account_connector_id == installed.id
        assert "HubSpot EU" in json.dumps(dm.args) and "authorise" in json.dumps(dm.args)
        note = bot.slack.wait_for("chat.postMessage", predicate=lambda c: c.args["channel"] == NOTIFY_CHANNEL)
        assert note
