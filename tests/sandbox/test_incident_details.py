"""Incident details carry realistic credentials (for the bot's redaction to face), varied and
reproducible; the webhook call has a timeout and runs in the background."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest

from bot.cyclr.sandbox import CyclrSandbox, make_detail
from tests.fixtures.sandbox import MakeSandbox

ACCOUNT = "acme-prod"

# What a redactor must cope with, and how each looks in a detail.
CREDENTIAL_FORMS = {
    "bearer header": re.compile(r"\r\nAuthorization: Bearer \S+"),
    "basic header": re.compile(r"\r\nAuthorization: Basic \S+"),
    "token header": re.compile(r'\r\nAuthorization: Token token="'),
    "api key header": re.compile(r"\r\nX-Api-Key: \S+"),
    "custom token header": re.compile(r"\r\n(Api-Token|X-Auth-Token|X-Shopify-Access-Token): \S+"),
    "cookie": re.compile(r"\r\nCookie: \S+"),
    "set-cookie": re.compile(r"\r\nSet-Cookie: \S+"),
    "key in query": re.compile(r"[?&](api_key|apikey)="),
    "token in query": re.compile(r"[?&]access_token="),
    "secret in form": re.compile(r"client_secret=\S+&refresh_token="),
    "password in json": re.compile(r'"password": "'),
    "password in xml": re.compile(r"<password>[^<]+</password>"),
    "credentials in url": re.compile(r"https://[^/\s:]+:[^@\s]+@"),
}


def all_incidents(sandbox: CyclrSandbox) -> list[tuple[str, tuple[str, ...]]]:
    """Raise errors, auth failures and warnings on every template once; (detail, secrets) of each."""
    out = []
    for template in sandbox.templates():
        cycle = sandbox.state.install_template(ACCOUNT, template["Id"])
        for options in ({"count": 2}, {"auth_failure": True, "count": 2}, {"level": "warning"}):
            for raised in sandbox.raise_incidents(ACCOUNT, cycle["Id"], **options):  # type: ignore[arg-type]
                out.append((raised.incident.full_message, raised.incident.secrets))
    return out


def test_details_are_varied_and_every_planted_secret_is_in_its_detail(cyclr_sandbox: CyclrSandbox) -> None:
    found = all_incidents(cyclr_sandbox)
    assert len(found) >= 150
    for detail, secrets in found:
        assert secrets, detail
        assert all(len(secret) >= 8 and secret in detail for secret in secrets)
        assert "\r\n\r\n\r\nHTTP Request:\r\n" in detail
        assert re.match(r"\d{3} [A-Za-z ]+\r\n", detail)
    seen = {
        form for form, pattern in CREDENTIAL_FORMS.items() for detail, _ in found if pattern.search(detail)
    }
    assert seen == set(CREDENTIAL_FORMS)
    request_lines = {re.sub(r"\d+", "N", d.split("HTTP Request:\r\n")[1].split("\r\n")[0]) for d, _ in found}
    assert len(request_lines) >= 20


def test_details_follow_the_connectors_auth_type() -> None:
    import random

    rng = random.Random(3)
    basic = {"Name": "Jira", "AuthType": "Basic"}
    oauth = {"Name": "Salesforce", "AuthType": "OAuth2"}
    for _ in range(20):
        failure = make_detail(rng, basic, auth_failure=True)
        assert failure.message == "Failed to authenticate the connector"
        assert "Authorization: Basic " in failure.detail and failure.detail.startswith("401 ")
        oauth_failure = make_detail(rng, oauth, auth_failure=True)
        assert "Bearer " in oauth_failure.detail or "refresh_token=" in oauth_failure.detail
        assert make_detail(rng, oauth, level="Warning").message != "Failed to authenticate the connector"


def test_the_same_seed_raises_the_same_details(make_cyclr_sandbox: MakeSandbox) -> None:
    def details(seed: int) -> list[str]:
        sandbox = make_cyclr_sandbox(seed=seed)
        template = sandbox.template_by_name("Zendesk > Jira: escalate tickets")
        cycle = sandbox.state.install_template(ACCOUNT, template["Id"])
        return [r.incident.full_message for r in sandbox.raise_incidents(ACCOUNT, cycle["Id"], count=5)]

    assert details(7) == details(7)
    assert details(7) != details(8)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts a connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    stop.set()
    thread.join(timeout=2)
    for sock in held:
        sock.close()
    listener.close()


def test_a_webhook_that_never_answers_times_out_in_the_background(
    make_cyclr_sandbox: MakeSandbox, silent_server: str
) -> None:
    sandbox = make_cyclr_sandbox(webhook_timeout=2.0)
    sandbox.state.update_account(ACCOUNT, {"TransactionErrorWebhookEnabled": True,
                                           "TransactionErrorWebhookUrl": silent_server})
    cycle = sandbox.state.install_template(ACCOUNT, sandbox.template_by_name("Webhook > Slack: alerts")["Id"])
    (raised,) = sandbox.raise_incidents(ACCOUNT, cycle["Id"])
    assert raised.webhook is not None and raised.webhook[0] == silent_server
    # The caller is answered while the call is still waiting on the silent server.
    assert sandbox.webhook_deliveries == []
    assert sandbox.wait_for_webhooks(1, timeout=15)
    (delivery,) = sandbox.webhook_deliveries
    assert (delivery.status, delivery.ok) == (None, False)
    assert "timed out" in (delivery.error or "")
