"""CyclrClient's lifecycle calls against the Cyclr sandbox over loopback HTTP: templates to
running cycles, connector authentication, incidents, and the error webhook end to end."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

import bot.logs
from bot.cyclr import (
    AuthKind,
    CyclrBadRequest,
    CyclrClient,
    CyclrNotFound,
    CyclrTimeout,
    Incident,
    IncidentLevel,
    WebhookSettings,
)
from bot.cyclr.client import AUTH_VALUE_TTL
from bot.cyclr.sandbox import CyclrSandbox, Fault, FaultKind
from bot.logs import MASK, SecretRegistry, redact, register_secret
from tests.cyclr.conftest import MakeClient

ACCOUNT = "acme-prod"
TEMPLATES = "/v1.0/templates"
CYCLES = "/v1.0/cycles"


@pytest.fixture
def sb(cyclr_sandbox: CyclrSandbox) -> CyclrSandbox:
    return cyclr_sandbox


@pytest.fixture
def client(sb: CyclrSandbox, make_client: MakeClient) -> CyclrClient:
    return make_client(sb.api_url, client_id=sb.client_id, client_secret=sb.client_secret)


def template_id(sb: CyclrSandbox, name: str) -> str:
    return str(sb.template_by_name(name)["Id"])


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("headers", [True, False])
def test_the_whole_template_library_pages(sb: CyclrSandbox, client: CyclrClient, headers: bool) -> None:
    sb.page_headers = headers
    templates = client.list_templates(ACCOUNT, page_size=7)
    assert len(templates) >= 30
    assert len({t.id for t in templates}) == len(templates)
    assert [t.id for t in templates] == [t["Id"] for t in sb.templates()]
    pages = -(-len(templates) // 7)
    extra = 0 if headers or len(templates) % 7 else 1
    assert sb.count("GET", path=TEMPLATES) == pages + extra


def test_the_library_covers_every_kind_of_connector(sb: CyclrSandbox, client: CyclrClient) -> None:
    kinds = set()
    for template in client.list_templates():
        for used in template.connectors:
            kinds.add(client.get_connector(used.connector_id).auth_kind)
    assert {AuthKind.OAUTH, AuthKind.API_KEY, AuthKind.BASIC, AuthKind.NONE, AuthKind.UNKNOWN} <= kinds


def test_get_template_and_an_unknown_one(sb: CyclrSandbox, client: CyclrClient) -> None:
    wanted = template_id(sb, "Pipedrive > Mailchimp")
    template = client.get_template(wanted)
    assert template.connector_names == ("Pipedrive", "Mailchimp")
    with pytest.raises(CyclrNotFound):
        client.get_template("fd949881-00c7-4e56-ad62-992070f9aaaa")
    with pytest.raises(CyclrNotFound):
        client.install_template(ACCOUNT, "fd949881-00c7-4e56-ad62-992070f9aaaa")
    assert sb.cycles() == [] and sb.installed() == []


# --------------------------------------------------------------------------- template install


def test_install_makes_a_paused_cycle_and_its_connectors(sb: CyclrSandbox, client: CyclrClient) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Webhook > Slack: alerts"))
    assert cycle.status == "Paused" and cycle.last_successful_run is None
    assert cycle.created_at is not None and abs(cycle.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert [(c.name, c.authenticated) for c in cycle.connectors] == [("Webhook", True), ("Slack", False)]
    installed = {a.id: a for a in client.list_account_connectors(ACCOUNT)}
    assert set(installed) == {c.account_connector_id for c in cycle.connectors}
    assert client.get_cycle(ACCOUNT, cycle.id) == cycle
    assert [c.id for c in client.list_cycles(ACCOUNT)] == [cycle.id]


def test_install_reuses_an_installed_connector_of_the_same_type(
    sb: CyclrSandbox, client: CyclrClient
) -> None:
    mine = client.install_connector(ACCOUNT, int(sb.connector_by_name("Slack")["Id"]), name="Team Slack")
    first = client.install_template(ACCOUNT, template_id(sb, "Salesforce > Slack: new opportunities"))
    second = client.install_template(ACCOUNT, template_id(sb, "Jira > Slack: issue updates"))
    again = client.install_template(ACCOUNT, template_id(sb, "Jira > Slack: issue updates"))

    def ids(cycle: Any) -> dict[str, int]:
        return {c.name: c.account_connector_id for c in cycle.connectors}

    assert ids(first)["Slack"] == ids(second)["Slack"] == mine.id
    assert ids(again) == ids(second)  # Jira reused too
    assert again.id != second.id  # but each install is a new cycle
    names = sorted(a.name for a in client.list_account_connectors(ACCOUNT))
    assert names == ["Jira", "Salesforce", "Team Slack"]


def test_cycles_page(sb: CyclrSandbox, client: CyclrClient) -> None:
    made = [client.install_template(ACCOUNT, template_id(sb, "Webhook > HTTP: forward events")).id
            for _ in range(5)]
    sb.clear_requests()
    assert [c.id for c in client.list_cycles(ACCOUNT, page_size=2)] == made
    assert sb.count("GET", path=CYCLES) == 3
    assert client.list_cycles("globex-eu") == []


@pytest.mark.parametrize("kind", ["delay_after", "drop_after"])
def test_a_lost_install_answer_is_reconciled_never_repeated(
    sb: CyclrSandbox, make_client: MakeClient, kind: str
) -> None:
    client = make_client(
        sb.api_url, client_id=sb.client_id, client_secret=sb.client_secret, timeout=(1.0, 0.3)
    )
    wanted = template_id(sb, "Stripe > Xero: invoices")
    before = datetime.now(UTC) - timedelta(seconds=1)
    sb.faults.add(Fault(cast(FaultKind, kind), delay=1.0 if kind == "delay_after" else 0.0, count=1,
                        method="POST", path_prefix=TEMPLATES))
    with pytest.raises(CyclrTimeout):
        client.install_template(ACCOUNT, wanted)
    deadline = time.monotonic() + 3
    while not sb.cycles() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert sb.count("POST", path_prefix=TEMPLATES) == 1
    found = [c for c in client.list_cycles(ACCOUNT)
             if c.template_id == wanted and c.created_at is not None and c.created_at >= before]
    assert len(found) == 1


def test_faults_apply_to_cycle_reads(sb: CyclrSandbox, client: CyclrClient) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Webhook > HTTP: forward events"))
    sb.faults.add(Fault("status", status=503, count=1, method="GET", path_prefix=CYCLES))
    assert client.get_cycle(ACCOUNT, cycle.id).id == cycle.id
    assert [r.status for r in sb.requests if r.path == f"{CYCLES}/{cycle.id}"] == [503, 200]


# --------------------------------------------------------------------------- prerequisites and activation


def test_an_unauthenticated_connector_is_fixed_from_slack_then_the_cycle_runs(
    sb: CyclrSandbox, client: CyclrClient
) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Zendesk > Jira: escalate tickets"))
    blocking = client.cycle_prerequisites(ACCOUNT, cycle.id)
    assert [(p.reason_code, p.fixable_in_slack) for p in blocking] == [(20, True), (20, True)]
    assert {p.account_connector_id for p in blocking} == {c.account_connector_id for c in cycle.connectors}

    with pytest.raises(CyclrBadRequest, match="Unauthenticated connector"):
        client.activate_cycle(ACCOUNT, cycle.id, interval=15)
    assert client.get_cycle(ACCOUNT, cycle.id).status == "Paused"

    for prerequisite in blocking:
        assert prerequisite.account_connector_id is not None
        connector = client.set_connector_auth(ACCOUNT, prerequisite.account_connector_id, b64("ann:pa55word"))
        assert connector.authenticated
    assert client.cycle_prerequisites(ACCOUNT, cycle.id) == []
    client.activate_cycle(ACCOUNT, cycle.id, interval=15)
    assert client.get_cycle(ACCOUNT, cycle.id).is_active
    (put,) = [r for r in sb.requests if r.path == f"{CYCLES}/{cycle.id}/activate"][-1:]
    assert put.json == {"Interval": 15, "RunOnce": False}
    assert sb.schedule(ACCOUNT, cycle.id)["Interval"] == 15


def test_a_console_only_prerequisite_is_named_and_blocks_activation(
    sb: CyclrSandbox, client: CyclrClient
) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Salesforce > Google Sheets: weekly pipeline"))
    for connector in cycle.connectors:
        assert connector.account_connector_id is not None
        sb.set_authenticated(ACCOUNT, connector.account_connector_id)
    (left,) = client.cycle_prerequisites(ACCOUNT, cycle.id)
    assert (left.reason_code, left.reason, left.fixable_in_slack) == (30, "Missing mapping", False)
    steps = {s.id: s for s in client.list_cycle_steps(ACCOUNT, cycle.id)}
    assert steps[str(left.object_id)].name == "Google Sheets: Append Rows"
    with pytest.raises(CyclrBadRequest) as refused:
        client.activate_cycle(ACCOUNT, cycle.id, interval=10080)
    assert "Missing mapping" in refused.value.user_message
    assert not client.get_cycle(ACCOUNT, cycle.id).is_active

    sb.resolve_prerequisites(ACCOUNT, cycle.id)  # someone fixed it in the console
    client.activate_cycle(ACCOUNT, cycle.id, interval=10080)
    assert client.get_cycle(ACCOUNT, cycle.id).is_active


def test_activate_with_a_start_time_then_deactivate(sb: CyclrSandbox, client: CyclrClient) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Webhook > HTTP: forward events"))
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    client.activate_cycle(ACCOUNT, cycle.id, interval=360, start_time=start, run_once=True)
    assert sb.schedule(ACCOUNT, cycle.id) == {"Interval": 360, "RunOnce": True,
                                              "StartTime": "2030-01-02T03:04:05.0000000Z",
                                              "FinishQueuedTransactions": None}
    client.deactivate_cycle(ACCOUNT, cycle.id, finish_queued=False)
    assert client.get_cycle(ACCOUNT, cycle.id).status == "Paused"
    assert sb.schedule(ACCOUNT, cycle.id)["FinishQueuedTransactions"] is False
    with pytest.raises(ValueError):
        client.activate_cycle(ACCOUNT, cycle.id, interval=45)
    assert sb.count("PUT", path=f"{CYCLES}/{cycle.id}/activate") == 1


# --------------------------------------------------------------------------- connector auth


def test_api_key_auth_reaches_cyclr_and_nothing_else(
    sb: CyclrSandbox, client: CyclrClient, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    key = "sk_live_51HkQ2xTemplateKey"
    cycle = client.install_template(ACCOUNT, template_id(sb, "Stripe > Xero: invoices"))
    stripe, xero = cycle.connectors
    assert stripe.account_connector_id is not None and xero.account_connector_id is not None
    with caplog.at_level(logging.DEBUG):
        connector = client.set_connector_auth(ACCOUNT, stripe.account_connector_id, key)
        with pytest.raises(CyclrBadRequest) as refused:  # an OAuth connector takes no API key
            client.set_connector_auth(ACCOUNT, xero.account_connector_id, key)
    assert connector.authenticated and key not in repr(connector)
    received = sb.auth_received(ACCOUNT, stripe.account_connector_id)
    assert (received.kind, received.sha256) == ("api_key", hashlib.sha256(key.encode()).hexdigest())
    assert key not in caplog.text and key not in str(refused.value)
    puts = [r for r in sb.requests if r.method == "PUT"]
    assert [r.json for r in puts][0] == {"AuthValue": key}


def test_an_auth_value_is_masked_for_a_while_not_for_good(
    sb: CyclrSandbox, client: CyclrClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log's registry of values to mask is bounded (when full, what expires soonest goes):
    API keys sent one after another over the life of the process must not push out a setting."""
    now = [1000.0]
    registry = SecretRegistry(clock=lambda: now[0], limit=3)
    monkeypatch.setattr(bot.logs, "_registry", registry)
    register_secret("the-cyclr-client-secret")  # a setting: for as long as the process runs
    for n in range(5):
        cycle = client.install_template(ACCOUNT, template_id(sb, "Stripe > Mailchimp: customers"))
        stripe = cycle.connectors[0].account_connector_id
        assert stripe is not None
        key = f"sk_live_key_number_{n}"
        client.set_connector_auth(ACCOUNT, stripe, key)
        assert redact(f"{key} the-cyclr-client-secret") == f"{MASK} {MASK}"
        now[0] += AUTH_VALUE_TTL + 1  # the next one comes later
    assert redact("sk_live_key_number_0 the-cyclr-client-secret") == f"sk_live_key_number_0 {MASK}"


def test_lost_auth_and_deauthenticate(sb: CyclrSandbox, client: CyclrClient) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Stripe > Mailchimp: customers"))
    ids = [c.account_connector_id for c in cycle.connectors]
    assert None not in ids
    for account_connector_id in ids:
        client.set_connector_auth(ACCOUNT, cast(int, account_connector_id), "key-0123456789")
    sb.lose_auth(ACCOUNT, cast(int, ids[0]))
    assert [c.authenticated for c in client.get_cycle(ACCOUNT, cycle.id).connectors] == [False, True]
    message = client.deauthenticate_connector(ACCOUNT, cast(int, ids[1]))
    assert message == "Connector 'Mailchimp' successfully de-authenticated."
    assert [p.reason_code for p in client.cycle_prerequisites(ACCOUNT, cycle.id)] == [20, 20]


# --------------------------------------------------------------------------- incidents


def test_incidents_come_oldest_first_after_a_cursor(sb: CyclrSandbox, client: CyclrClient) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Zendesk > Jira: escalate tickets"))
    raised = sb.raise_incidents(ACCOUNT, cycle.id, count=5)
    sb.raise_incidents(ACCOUNT, cycle.id, level="warning", count=2)

    errors = client.list_incidents(ACCOUNT, page_size=2)
    assert [i.transaction_id for i in errors] == [r.incident.transaction_id for r in raised]
    assert all(i.level is IncidentLevel.ERROR and i.cycle_name == cycle.name for i in errors)
    later = client.list_incidents(ACCOUNT, after=errors[2].cursor)
    assert [i.transaction_id for i in later] == [i.transaction_id for i in errors[3:]]
    assert client.list_incidents(ACCOUNT, after=errors[-1].cursor) == []
    assert len(client.list_incidents(ACCOUNT, "warning")) == 2
    assert client.list_incidents(ACCOUNT, after=datetime.now(UTC) + timedelta(minutes=1)) == []

    counted = client.get_cycle(ACCOUNT, cycle.id)
    assert (counted.error_count, counted.warning_count) == (5, 2)
    assert counted.last_successful_run is None
    sb.record_success(ACCOUNT, cycle.id)
    ran = client.get_cycle(ACCOUNT, cycle.id).last_successful_run
    assert ran is not None and abs(ran - datetime.now(UTC)) < timedelta(minutes=5)


def test_an_auth_failure_names_a_step_of_the_connector_to_authorise(
    sb: CyclrSandbox, client: CyclrClient
) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Webhook > Slack: alerts"))
    slack = next(c for c in cycle.connectors if c.name == "Slack")
    sb.raise_incidents(ACCOUNT, cycle.id, auth_failure=True, count=2)
    steps = {s.id: s for s in client.list_cycle_steps(ACCOUNT, cycle.id)}
    for incident in client.list_incidents(ACCOUNT):
        assert incident.is_auth_failure
        assert incident.step_id is not None
        assert steps[incident.step_id].account_connector_id == slack.account_connector_id


# --------------------------------------------------------------------------- the error webhook


class _Receiver:
    """A local HTTP server that records every POST (the bot's webhook endpoint stands here)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    receiver.bodies.append(json.loads(body))
                    receiver.paths.append(self.path)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.bodies) >= count, timeout=5)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    made = _Receiver()
    yield made
    made.close()


def test_webhook_settings_round_trip(sb: CyclrSandbox, client: CyclrClient) -> None:
    assert client.get_webhook_settings(ACCOUNT) == WebhookSettings()
    url = "https://bot.example.com/cyclr/webhook/k9-secret"
    set_to = client.set_webhook_settings(ACCOUNT, WebhookSettings(True, url, True))
    assert set_to == client.get_webhook_settings(ACCOUNT) == WebhookSettings(True, url, True)
    assert client.get_account(ACCOUNT).name == "Acme Ltd"  # the other fields are left alone
    off = client.set_webhook_settings(ACCOUNT, WebhookSettings(False, url, False))
    assert off == WebhookSettings(False, url, False)
    with pytest.raises(CyclrBadRequest, match="is not a valid URL") as refused:
        client.set_webhook_settings(ACCOUNT, WebhookSettings(True, "https://bad host/k9-secret", False))
    assert "k9-secret" not in str(refused.value)
    assert client.get_webhook_settings("globex-eu") == WebhookSettings()


def test_errors_are_pushed_to_the_webhook(sb: CyclrSandbox, client: CyclrClient, receiver: _Receiver) -> None:
    cycle = client.install_template(ACCOUNT, template_id(sb, "Jira > Slack: issue updates"))
    client.set_webhook_settings(ACCOUNT, WebhookSettings(True, f"{receiver.url}/cyclr/webhook/s3cret", False))
    (error,) = sb.raise_incidents(ACCOUNT, cycle.id, auth_failure=True)
    sb.raise_incidents(ACCOUNT, cycle.id, level="warning")  # warnings are not included
    assert receiver.wait_for(1)
    assert sb.wait_for_webhooks(2, timeout=0.5) is False

    (body,) = receiver.bodies
    assert receiver.paths == ["/cyclr/webhook/s3cret"]
    assert set(body) == {"Timestamp", "AccountId", "AccountExternalId", "CycleId", "StepId", "TransactionId",
                         "Message", "Detail", "AccountName", "CycleName", "StepName", "IncidentLevel"}
    pushed = Incident.from_webhook(body)
    (pulled,) = client.list_incidents(ACCOUNT)
    assert (pushed.account_id, pushed.cycle_id) == (ACCOUNT, cycle.id)
    assert pushed.transaction_id == pulled.transaction_id
    assert pushed.full_message == pulled.full_message and pushed.is_auth_failure
    assert pushed.cursor == pulled.cursor
    assert all(secret in pushed.full_message for secret in error.incident.secrets)
    assert [d.ok for d in sb.webhook_deliveries] == [True]

    client.set_webhook_settings(ACCOUNT, WebhookSettings(True, f"{receiver.url}/cyclr/webhook/s3cret", True))
    sb.raise_incidents(ACCOUNT, cycle.id, level="warning")
    assert receiver.wait_for(2)
    assert receiver.bodies[1]["IncidentLevel"] == "Warning"
