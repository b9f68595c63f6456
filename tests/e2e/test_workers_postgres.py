"""Intake and workers as separate processes on PostgreSQL (issue 12's "done when").

``cyclr-bot run --http --no-worker`` takes Slack's requests and records what must happen;
``cyclr-bot worker`` processes do it. With no worker running, a submitted install waits in
the queue and nothing reaches Cyclr; a worker that starts installs it once and tells the
requester; a worker SIGKILLed in the middle of the install POST is replaced by another
that settles it without a second POST.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin
from bot.store import InstallRecord, InstallState, Store
from bot.store.queue import JobQueue
from tests.faults import audit as A
from tests.faults.proc import BotProcess, bot_env, group_alive

USER = "U0001"
INSTALL_POST = "/v1.0/connectors/"


class Deployment:
    """One intake process and any number of worker processes over one PostgreSQL schema."""

    def __init__(self, workdir: Path, database_url: str, sandbox: CyclrSandbox, slack: SlackStandin) -> None:
        self.workdir = workdir
        self.sandbox = sandbox
        self.slack = slack
        self.store = Store(database_url)
        self.env = bot_env(
            sandbox,
            slack,
            database_url,
            CYCLR_BOT_JOB_LEASE="3",  # a killed worker's install is taken over 3 s after its claim
            CYCLR_BOT_RECONCILE_GRACE="30",
            CYCLR_BOT_RECONCILE_EVERY="1",
        )
        self.processes: list[BotProcess] = []

    def start(self, role: str) -> BotProcess:
        process = BotProcess(self.env, self.workdir, len(self.processes), role=role)
        self.processes.append(process)
        process.wait_healthy()
        return process

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        self.store.close()

    # -- Slack's side -----------------------------------------------------------------------------

    def open_and_submit(self, intake: BotProcess, connector: str, name: str) -> str:
        """``/cyclr install``, then submit the modal for ``connector`` named ``name``; the view id."""
        trigger = self.slack.new_trigger_id(USER)
        opened = intake.post(
            sr.slash_command_request(
                "install", user_id=USER, trigger_id=trigger, response_url=self.slack.response_url()
            )
        )
        assert opened.status_code == 200, opened.text
        call = self.slack.wait_for(
            "views.open", timeout=10, predicate=lambda c: c.args["trigger_id"] == trigger
        )[0]
        view_id = str(call.response["view"]["id"])
        found = self.sandbox.connector_by_name(connector)
        values = sr.state_values(
            {"connector": sr.select_input(sr.option(str(found["Id"]), connector)), "name": name}
        )
        view = sr.view_payload(self.slack.view(view_id), values=values, view_id=view_id)
        response = intake.post(sr.view_submission_request(view, user_id=USER))
        assert response.status_code == 200, response.text
        assert A.classify_ack(response.status_code, response.text) == "update", response.text
        return view_id

    def dms(self, name: str) -> list[Any]:
        """The DMs posted to the requester about ``name``."""
        return [
            c
            for c in self.slack.calls("chat.postMessage")
            if c.ok and c.args["channel"] == f"D{USER}" and f"*{name}*" in str(c.args.get("text"))
        ]

    def told(self, row: InstallRecord | None) -> bool:
        """The requester's stored DM shows the row's final outcome."""
        if row is None or not row.state.is_final or not (row.dm_channel and row.dm_ts):
            return False
        return "is installed in" in self.slack.message(row.dm_channel, row.dm_ts)["text"]

    # -- Cyclr's side -----------------------------------------------------------------------------

    def install_posts(self, name: str) -> int:
        return sum(
            1
            for r in self.sandbox.requests
            if r.method == "POST"
            and r.path.startswith(INSTALL_POST)
            and r.path.endswith("/install")
            and isinstance(r.json, dict)
            and r.json.get("Name") == name
        )

    def in_cyclr(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.sandbox.installed() if c["Name"] == name]

    def row(self, view_id: str) -> InstallRecord | None:
        return self.store.install_by_key(view_id)

    def jobs(self, kind: str) -> list[dict[str, Any]]:
        return JobQueue(self.store.engine).find(kind=kind)


@pytest.fixture
def deployment(tmp_path: Path, pg_schema: str, pg_schema_url: Callable[[str], str]) -> Iterator[Deployment]:
    sandbox = CyclrSandbox(page_headers=True).start()
    slack = SlackStandin().start()
    slack.add_user(USER)
    found = Deployment(tmp_path, pg_schema_url(pg_schema), sandbox, slack)
    try:
        yield found
    finally:
        found.close()
        slack.close()
        sandbox.stop()
    for process in found.processes:
        assert not group_alive(process.proc.pid), f"process group {process.proc.pid} outlived the test"


def test_intake_queues_installs_and_workers_make_them_once_even_when_killed(deployment: Deployment) -> None:
    d = deployment
    intake = d.start("intake")

    # No worker: the install is recorded and queued, and nothing reaches Cyclr.
    first = d.open_and_submit(intake, "Webhook", "Orders hook")
    assert A.wait_until(lambda: bool(d.jobs("install")), timeout=5)
    assert not A.wait_until(lambda: d.install_posts("Orders hook") > 0, timeout=3)
    row = d.row(first)
    assert row is not None and row.state is InstallState.PENDING and row.attempted_at is None, row
    assert [job["state"] for job in d.jobs("install")] == ["queued"]
    assert not d.dms("Orders hook")
    assert not any(r.path.endswith("/install") for r in d.sandbox.requests)

    # A worker starts: the install happens exactly once, and the requester is told.
    worker = d.start("worker")
    assert A.wait_until(lambda: d.told(d.row(first)), timeout=30), d.row(first)
    assert d.install_posts("Orders hook") == 1
    assert len(d.in_cyclr("Orders hook")) == 1
    row = d.row(first)
    assert row is not None and row.state in A.INSTALLED_STATES
    assert row.account_connector_id == d.in_cyclr("Orders hook")[0]["Id"]
    assert len(d.dms("Orders hook")) == 1

    # The worker SIGKILLed while Cyclr works on the install POST (the sandbox takes 2 s over
    # it and logs a request when it answers); a new worker settles it.
    d.sandbox.install_latency = 2.0
    second = d.open_and_submit(intake, "Webhook", "Refunds hook")
    assert A.wait_until(lambda: (r := d.row(second)) is not None and r.attempted_at is not None, timeout=15)
    time.sleep(0.5)  # the POST follows the mark at once: now it is in Cyclr's hands
    worker.kill()
    killed = d.row(second)
    assert killed is not None and killed.state is InstallState.PENDING, killed
    assert d.install_posts("Refunds hook") == 0 and not d.in_cyclr("Refunds hook")  # not answered yet
    assert A.wait_until(lambda: len(d.in_cyclr("Refunds hook")) == 1, timeout=5)  # Cyclr finished it
    assert not d.dms("Refunds hook")
    d.start("worker")
    assert A.wait_until(lambda: d.told(d.row(second)), timeout=45), d.row(second)
    row = d.row(second)
    assert row is not None and row.state in A.INSTALLED_STATES, row
    assert d.install_posts("Refunds hook") == 1  # reconciled, never POSTed again
    assert len(d.in_cyclr("Refunds hook")) == 1
    assert row.account_connector_id == d.in_cyclr("Refunds hook")[0]["Id"]
    assert len(d.dms("Refunds hook")) == 1
    assert len(d.sandbox.installed()) == 2
    assert not d.sandbox.server_errors
