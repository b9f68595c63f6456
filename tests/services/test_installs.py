"""The install service against the Cyclr sandbox over real HTTP and a real store."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cyclr import Connector, CyclrClient
from bot.cyclr.sandbox import CyclrSandbox, Fault
from bot.services.installs import (
    Credentials,
    InstallRequest,
    InstallService,
    auth_value_for,
    validate_install,
)
from bot.services.notifier import SilentNotifier
from bot.store import InstallRecord, InstallState, Store

INSTALL_PREFIX = "/v1.0/connectors/"


class Recorder(SilentNotifier):
    def __init__(self) -> None:
        self.changes: list[tuple[InstallState, bool]] = []

    def install_changed(self, record: InstallRecord, *, duplicate_name: bool = False) -> None:
        self.changes.append((record.state, duplicate_name))


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(cyclr_sandbox: CyclrSandbox) -> Iterator[CyclrClient]:
    with CyclrClient(
        api_url=cyclr_sandbox.api_url,
        client_id=cyclr_sandbox.client_id,
        client_secret=cyclr_sandbox.client_secret,
        timeout=(2.0, 0.5),
    ) as c:
        yield c


@pytest.fixture
def service_store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'installs.db'}", clock=clock)
    store.create_schema()
    yield store
    store.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def service(client: CyclrClient, service_store: Store, recorder: Recorder, clock: Clock) -> InstallService:
    return InstallService(client, service_store, notifier=recorder, grace=timedelta(minutes=2), clock=clock)


def connector(sandbox: CyclrSandbox, name: str) -> Connector:
    return Connector.from_api(sandbox.connector_by_name(name))


def request_for(
    sandbox: CyclrSandbox,
    name: str,
    *,
    key: str = "V1",
    install_name: str | None = None,
    credentials: Credentials | None = None,
) -> InstallRequest:
    c = connector(sandbox, name)
    return InstallRequest(
        submission_key=key,
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        account_id=sandbox.default_account_id,
        connector=c,
        name=install_name or c.name,
        credentials=credentials or Credentials(),
    )


def run(service: InstallService, request: InstallRequest) -> InstallRecord:
    record, created = service.submit(request)
    assert created
    return service.perform(record, service.prepare(record, request)).record


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_api_key_install_sends_the_key_and_ends_authenticated(
    cyclr_sandbox: CyclrSandbox, service: InstallService, recorder: Recorder
) -> None:
    record = run(
        service, request_for(cyclr_sandbox, "Stripe", credentials=Credentials(api_key="sk_live_123456"))
    )
    assert record.state is InstallState.AUTHENTICATED and record.account_connector_id
    received = cyclr_sandbox.auth_received(cyclr_sandbox.default_account_id, record.account_connector_id)
    assert received.kind == "api_key" and received.sha256 == sha("sk_live_123456")
    assert recorder.changes == [(InstallState.PENDING, False), (InstallState.AUTHENTICATED, False)]


def test_basic_install_sends_base64_of_user_and_password(
    cyclr_sandbox: CyclrSandbox, service: InstallService
) -> None:
    creds = Credentials(username="ops@acme.test", password="p:ss wörd")
    record = run(service, request_for(cyclr_sandbox, "Jira", credentials=creds))
    assert record.state is InstallState.AUTHENTICATED
    assert record.account_connector_id is not None
    received = cyclr_sandbox.auth_received(cyclr_sandbox.default_account_id, record.account_connector_id)
    expected = base64.b64encode("ops@acme.test:p:ss wörd".encode()).decode()
    assert (
        received.kind == "basic" and received.sha256 == sha(expected) and received.username == "ops@acme.test"
    )


def test_oauth_install_sends_no_auth_value_and_waits_for_authorisation(
    cyclr_sandbox: CyclrSandbox, service: InstallService
) -> None:
    record = run(service, request_for(cyclr_sandbox, "Salesforce"))
    assert record.state is InstallState.INSTALLED
    post = [r for r in cyclr_sandbox.requests if r.method == "POST" and r.path.endswith("/install")][0]
    assert post.json == {"Name": "Salesforce"}


def test_duplicate_name_fails_with_cyclrs_reason(
    cyclr_sandbox: CyclrSandbox, service: InstallService, recorder: Recorder
) -> None:
    run(service, request_for(cyclr_sandbox, "Webhook", key="V1", install_name="Orders hook"))
    record = run(service, request_for(cyclr_sandbox, "Webhook", key="V2", install_name="Orders hook"))
    assert record.state is InstallState.FAILED
    assert record.reason == "Account connector name 'Orders hook' is in use."
    assert recorder.changes[-1] == (InstallState.FAILED, True)


def test_second_submit_of_the_same_view_installs_nothing(
    cyclr_sandbox: CyclrSandbox, service: InstallService
) -> None:
    request = request_for(cyclr_sandbox, "Webhook")
    record, created = service.submit(request)
    again, created_again = service.submit(request)
    assert created and not created_again and again.id == record.id
    service.perform(record, service.prepare(record, request))
    assert cyclr_sandbox.count("POST", path_prefix=INSTALL_PREFIX) == 1


def test_read_timeout_then_the_connector_appears_counts_as_installed(
    cyclr_sandbox: CyclrSandbox, service: InstallService
) -> None:
    cyclr_sandbox.faults.add(Fault("delay_after", delay=1.5, method="POST", path_prefix=INSTALL_PREFIX))
    record = run(service, request_for(cyclr_sandbox, "Webhook", install_name="Slow hook"))
    assert record.state is InstallState.AUTHENTICATED
    assert record.account_connector_id == cyclr_sandbox.installed()[0]["Id"]
    assert cyclr_sandbox.count("POST", path_prefix=INSTALL_PREFIX) == 1  # never repeated


def test_dropped_before_reaching_cyclr_stays_pending_then_fails_after_grace(
    cyclr_sandbox: CyclrSandbox, service: InstallService, clock: Clock
) -> None:
    cyclr_sandbox.faults.add(Fault("drop_before", method="POST", path_prefix=INSTALL_PREFIX))
    record = run(service, request_for(cyclr_sandbox, "Webhook"))
    assert record.state is InstallState.PENDING
    clock.now += timedelta(minutes=3)
    settled = service.reconcile_pending()
    assert [r.state for r in settled] == [InstallState.FAILED]
    assert "not installed" in (settled[0].reason or "")
    assert cyclr_sandbox.installed() == []


def test_crash_between_row_and_answer_is_reconciled_at_start_up(
    cyclr_sandbox: CyclrSandbox, client: CyclrClient, service: InstallService, service_store: Store
) -> None:
    request = request_for(cyclr_sandbox, "HubSpot", install_name="HubSpot (EU)")
    record, _ = service.submit(request)
    # The "crashed" process got as far as Cyclr but never recorded the answer.
    service_store.mark_attempted(record.id)
    installed = client.install_connector(
        cyclr_sandbox.default_account_id, request.connector.id, name="HubSpot (EU)"
    )
    settled = service.reconcile_pending()
    assert len(settled) == 1 and settled[0].id == record.id
    assert settled[0].state is InstallState.INSTALLED and settled[0].account_connector_id == installed.id


def test_unreachable_cyclr_fails_cleanly(tmp_path: Path, clock: Clock) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}", clock=clock)
    store.create_schema()
    dead = CyclrClient(
        api_url="http://127.0.0.1:9", client_id="a", client_secret="b", timeout=(0.5, 0.5), retries=0
    )
    service = InstallService(dead, store, clock=clock)
    c = Connector(id=1, name="Webhook", auth_type="None")
    request = InstallRequest(
        submission_key="V",
        team_id="T",
        user_id="U",
        channel_id=None,
        account_id="a",
        connector=c,
        name="Webhook",
    )
    record, _ = service.submit(request)
    outcome = service.perform(record, service.prepare(record, request))
    assert outcome.record.state is InstallState.FAILED
    assert "could not reach Cyclr" in (outcome.record.reason or "")


def test_validation_names_each_field(cyclr_sandbox: CyclrSandbox) -> None:
    stripe, jira, zendesk = (connector(cyclr_sandbox, n) for n in ("Stripe", "Jira", "Zendesk"))
    assert validate_install(connector=None, name="x") == {"connector": "Choose a connector."}
    assert set(validate_install(connector=stripe, name=" ")) == {"name", "api_key"}
    assert "api_key" in validate_install(
        connector=stripe, name="s", credentials=Credentials(api_key="has space")
    )
    errors = validate_install(connector=jira, name="j", credentials=Credentials(username="a:b"))
    assert set(errors) == {"username", "password"}
    assert set(
        validate_install(connector=zendesk, name="z", credentials=Credentials(username="u", password="p"))
    ) == {"prop:Subdomain"}
    assert validate_install(connector=stripe, name="s", credentials=Credentials(api_key="sk_1")) == {}


def test_auth_value_per_kind(cyclr_sandbox: CyclrSandbox) -> None:
    stripe, jira, sf, hook = (
        connector(cyclr_sandbox, n) for n in ("Stripe", "Jira", "Salesforce", "Webhook")
    )
    assert auth_value_for(stripe, Credentials(api_key=" k1 ")) == "k1"
    assert auth_value_for(jira, Credentials(username="u", password="p")) == base64.b64encode(b"u:p").decode()
    assert auth_value_for(sf, Credentials()) is None
    assert auth_value_for(hook, Credentials()) is None
    assert (
        "k1" not in repr(Credentials(api_key="k1"))
        and "p" not in repr(Credentials(password="pw")).split("=")[-1]
    )
