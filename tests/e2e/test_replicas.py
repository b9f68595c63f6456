"""Two bot processes sharing one database: the same modal submitted to both installs once.

This is the scale-out shape of docs/operations.md: replicas behind a load balancer, one
PostgreSQL (SQLite too, for a single host). A double click or a Slack retry that lands on
two replicas at the same moment must reach Cyclr exactly once.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin
from bot.slack.sealed import ModalMeta, Sealer
from bot.store import InstallState, Store
from tests.e2e.test_http_mode import BOT_TOKEN, CYCLR_BOT, BotProcess, bot_env, free_port

INSTALL = "/v1.0/connectors/"


@pytest.fixture
def shared(store_url: str, tmp_path: Path) -> Iterator[tuple[CyclrSandbox, SlackStandin, str]]:
    sandbox = CyclrSandbox(install_latency=0.5).start()
    slack = SlackStandin().start()
    try:
        yield sandbox, slack, store_url
    finally:
        slack.close()
        sandbox.stop()


def start_replica(sandbox: CyclrSandbox, slack: SlackStandin, database_url: str, workdir: Path) -> BotProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = bot_env(
        slack,
        workdir,
        CYCLR_API_URL=sandbox.api_url,
        CYCLR_CLIENT_ID=sandbox.client_id,
        CYCLR_CLIENT_SECRET=sandbox.client_secret,
        CYCLR_ACCOUNT_ID=sandbox.default_account_id,
        CYCLR_SERVICE_URL=sandbox.service_url,
        CYCLR_BOT_DATABASE_URL=database_url,
    )
    out_path, err_path = workdir / "bot.out", workdir / "bot.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                str(CYCLR_BOT),
                "--env-file",
                str(workdir / "none.env"),
                "run",
                "--http",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    return BotProcess(proc, f"http://127.0.0.1:{port}", slack, out_path, err_path)


def test_same_submission_on_two_replicas_installs_once(
    shared: tuple[CyclrSandbox, SlackStandin, str], tmp_path: Path
) -> None:
    sandbox, slack, database_url = shared
    replicas = [start_replica(sandbox, slack, database_url, tmp_path / f"r{i}") for i in range(2)]
    try:
        for replica in replicas:
            replica.wait_healthy()
        hook = sandbox.connector_by_name("Webhook")
        meta = ModalMeta(sr.DEFAULT_CHANNEL_ID, sandbox.default_account_id).dumps(
            Sealer.for_bot_token(BOT_TOKEN), sr.DEFAULT_USER_ID
        )
        values = sr.state_values(
            {"connector": sr.select_input(sr.option(str(hook["Id"]), "Webhook")), "name": "Replicated hook"}
        )
        view = sr.view_payload(
            {"callback_id": "cyclr_install", "private_metadata": meta}, values=values, view_id="V0REPLICA01"
        )
        request = sr.view_submission_request(view)
        barrier = threading.Barrier(2)
        answers: list[dict[str, Any]] = []

        def submit(replica: BotProcess) -> None:
            session = requests.Session()
            barrier.wait()
            response = session.post(
                replica.url + "/slack/events", data=request[0], headers=request[1], timeout=10
            )
            assert response.status_code == 200, response.text
            answers.append(response.json())

        threads = [threading.Thread(target=submit, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert [a["response_action"] for a in answers] == ["update", "update"]
        store = Store(database_url)
        try:
            deadline = time.monotonic() + 10
            record = store.install_by_key("V0REPLICA01")
            while (record is None or not record.state.is_final) and time.monotonic() < deadline:
                time.sleep(0.1)
                record = store.install_by_key("V0REPLICA01")
            assert record is not None and record.state is InstallState.AUTHENTICATED
            assert store.count_installs() == 1
        finally:
            store.close()
        assert sandbox.count("POST", path_prefix=INSTALL) == 1
        assert [c["Name"] for c in sandbox.installed()] == ["Replicated hook"]
    finally:
        for replica in replicas:
            replica.kill()
