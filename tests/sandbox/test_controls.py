"""The sandbox's control API under /_sandbox: lost auth, incidents, latency, webhooks; loopback only,
never faulted or recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from bot.cyclr.sandbox import CyclrSandbox, Fault, SandboxControls
from bot.cyclr.sandbox.wire import Request
from tests.sandbox.conftest import TIMEOUT, Http

ACCOUNT = "acme-prod"


def control(sandbox: CyclrSandbox, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{sandbox.control_url}{path}", json=body, timeout=TIMEOUT)


def deploy(sandbox: CyclrSandbox, name: str) -> dict[str, Any]:
    return sandbox.state.install_template(ACCOUNT, sandbox.template_by_name(name)["Id"])


def test_index_lists_the_controls(cyclr_sandbox: CyclrSandbox) -> None:
    index = control(cyclr_sandbox, "GET", "").json()
    assert index["api_url"] == cyclr_sandbox.api_url and index["accounts"] == cyclr_sandbox.account_ids
    assert "POST /_sandbox/accounts/(?P<account>[^/]+)/cycles/(?P<cycle>[^/]+)/incidents" in index["routes"]
    assert index["templates"] >= 30


def test_lose_auth(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    installed = http.install("Stripe", {"AuthValue": "sk_test_1"}).json()
    response = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/connectors/{installed['Id']}/lose-auth")
    assert response.status_code == 200 and response.json()["Authenticated"] is False
    now = http.get(f"/v1.0/account/connectors/{installed['Id']}", account=ACCOUNT).json()
    assert now["Authenticated"] is False
    missing = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/connectors/999/lose-auth")
    assert missing.status_code == 404 and missing.json() == {"message": "Account connector 999 not found."}
    assert control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/connectors/abc/lose-auth").status_code == 404


def test_raise_incidents_over_http(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cycle = deploy(cyclr_sandbox, "Salesforce > Slack: new opportunities")
    salesforce = cycle["Connectors"][0]["AccountConnectorId"]
    path = f"/accounts/{ACCOUNT}/cycles/{cycle['Id']}/incidents"
    answer = control(cyclr_sandbox, "POST", path,
                     {"count": 3, "auth_failure": True, "account_connector_id": salesforce}).json()
    assert answer["webhook_calls"] == 0
    assert len(answer["incidents"]) == 3 and len(answer["secrets"]) >= 3
    assert {i["ShortMessage"] for i in answer["incidents"]} == {"Failed to authenticate the connector"}
    assert {i["StepName"] for i in answer["incidents"]} == {"Salesforce: Opportunity Created"}
    details = "".join(i["FullMessage"] for i in answer["incidents"])
    assert all(secret in details for secret in answer["secrets"])
    listed = http.get("/v1.0/cycles/incidents/error", account=ACCOUNT).json()
    assert [i["TransactionId"] for i in listed] == [i["TransactionId"] for i in answer["incidents"]]

    warning = control(cyclr_sandbox, "POST", path, {"level": "warning", "message": "Nothing to sync"}).json()
    assert warning["incidents"][0]["ShortMessage"] == "Nothing to sync"
    counts = http.get(f"/v1.0/cycles/{cycle['Id']}", account=ACCOUNT).json()
    assert (counts["ErrorCount"], counts["WarningCount"]) == (3, 1)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"level": "fatal"}, 400, "level must be 'error' or 'warning'."),
        ({"count": 0}, 400, "count must be between 1 and 1000."),
        ({"count": 1001}, 400, "count must be between 1 and 1000."),
        ({"count": "3"}, 400, "count has the wrong type."),
        ({"count": True}, 400, "count has the wrong type."),
        ({"account_connector_id": 1}, 400,
         "Account connector 1 is not used by cycle 'Webhook > Slack: alerts'."),
        ([1, 2], 400, "The body must be a JSON object."),
    ],
)
def test_bad_incident_requests_get_a_clear_answer(
    cyclr_sandbox: CyclrSandbox, body: Any, status: int, message: str
) -> None:
    cycle = deploy(cyclr_sandbox, "Webhook > Slack: alerts")
    response = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/cycles/{cycle['Id']}/incidents", body)
    assert (response.status_code, response.json()) == (status, {"message": message})
    assert cyclr_sandbox.state.incidents(ACCOUNT) == []


def test_runs_resolve_and_unknown_cycles(cyclr_sandbox: CyclrSandbox) -> None:
    cycle = deploy(cyclr_sandbox, "Webhook > Stripe: create customers")
    ran = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/cycles/{cycle['Id']}/runs").json()
    assert ran["LastSuccessfulRunDate"] != "0001-01-01T00:00:00"
    left = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/cycles/{cycle['Id']}/resolve").json()
    assert [p["ReasonCode"] for p in left] == [20]  # Stripe's key is still missing
    ghost = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/cycles/nope/runs")
    assert ghost.status_code == 404 and ghost.json() == {"message": "Cycle 'nope' not found."}
    assert control(cyclr_sandbox, "POST", "/accounts/nobody/cycles/nope/runs").status_code == 404


def test_latency_setting(cyclr_sandbox: CyclrSandbox) -> None:
    assert control(cyclr_sandbox, "GET", "/settings").json()["api_latency"] == 0.0
    changed = control(cyclr_sandbox, "PUT", "/settings", {"api_latency": 0.25})
    assert changed.json() == {"api_latency": 0.25, "install_latency": 0.0, "page_headers": True}
    assert cyclr_sandbox.api_latency == 0.25
    for bad in ({"api_latency": -1}, {"api_latency": "slow"}, {"api_latency": 1e9}, {"latency": 1},
                {"api_latency": 0.5, "page_headers": "yes"}):
        response = control(cyclr_sandbox, "PUT", "/settings", bad)
        assert response.status_code == 400, bad
    assert cyclr_sandbox.api_latency == 0.25  # a refused change changes nothing
    cyclr_sandbox.api_latency = 5.0
    assert control(cyclr_sandbox, "PUT", "/settings", {"api_latency": 0}).json()["api_latency"] == 0.0


def test_controls_are_never_faulted_delayed_or_recorded(cyclr_sandbox: CyclrSandbox) -> None:
    cyclr_sandbox.faults.add(Fault("status", status=500, count=None))
    cyclr_sandbox.api_latency = 30.0
    assert control(cyclr_sandbox, "GET", "/settings").status_code == 200
    assert control(cyclr_sandbox, "PUT", "/settings", {"api_latency": 0}).status_code == 200
    assert cyclr_sandbox.requests == [] and cyclr_sandbox.faults.hits == []


def test_unknown_controls_and_methods(cyclr_sandbox: CyclrSandbox) -> None:
    assert control(cyclr_sandbox, "GET", "/nothing").status_code == 404
    assert control(cyclr_sandbox, "DELETE", "/settings").status_code == 405
    response = requests.put(f"{cyclr_sandbox.control_url}/settings", data=b"{not json", timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (400, {"message": "The body is not JSON."})


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("::ffff:127.0.0.1", True),
     ("10.0.0.5", False), ("192.168.1.20", False), ("::ffff:10.0.0.5", False), ("fe80::1%eth0", False),
     ("", False), ("localhost", False)],
)
def test_controls_answer_loopback_clients_only(
    cyclr_sandbox: CyclrSandbox, remote: str, allowed: bool
) -> None:
    controls: SandboxControls = cyclr_sandbox.controls
    response = controls.handle(Request("GET", "/_sandbox/settings", {}, {}, b"", "", remote))
    assert response.status == (200 if allowed else 403)
    if not allowed:
        refusal = {"message": "The sandbox's controls answer loopback clients only."}
        assert json.loads(response.body) == refusal


def test_webhook_deliveries_are_listed(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cycle = deploy(cyclr_sandbox, "Webhook > Slack: alerts")
    dead = "http://127.0.0.1:9/cyclr/webhook/abc"  # nothing listens on the discard port
    http.call("PUT", f"/v1.0/accounts/{ACCOUNT}",
              json={"TransactionErrorWebhookEnabled": True, "TransactionErrorWebhookUrl": dead})
    answer = control(cyclr_sandbox, "POST", f"/accounts/{ACCOUNT}/cycles/{cycle['Id']}/incidents", {}).json()
    assert answer["webhook_calls"] == 1
    assert cyclr_sandbox.wait_for_webhooks(1)
    (delivery,) = control(cyclr_sandbox, "GET", "/webhooks").json()
    assert delivery["url"] == dead and delivery["status"] is None and delivery["error"]
    assert delivery["payload"]["TransactionId"] == answer["incidents"][0]["TransactionId"]
