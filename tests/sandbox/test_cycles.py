"""Templates, cycles, prerequisites, activation, incidents and account webhook fields, spoken
to over plain HTTP as any Cyclr client would."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cyclr.sandbox import TEMPLATE_LIBRARY, ApiError, CyclrSandbox, ManualClock
from tests.fixtures.sandbox import MakeSandbox
from tests.sandbox.conftest import Http

ACCOUNT = "acme-prod"


def install(http: Http, sandbox: CyclrSandbox, name: str, account: str = ACCOUNT) -> dict[str, Any]:
    response = http.post(f"/v1.0/templates/{sandbox.template_by_name(name)['Id']}/install", account=account)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def authenticate_all(sandbox: CyclrSandbox, cycle: dict[str, Any], account: str = ACCOUNT) -> None:
    for connector in cycle["Connectors"]:
        sandbox.set_authenticated(account, connector["AccountConnectorId"])


# --------------------------------------------------------------------------- the library


def test_library_has_at_least_30_templates_with_stable_ids(
    cyclr_sandbox: CyclrSandbox, make_cyclr_sandbox: MakeSandbox, http: Http
) -> None:
    listed = http.get("/v1.0/templates", params={"pageSize": 100}).json()
    assert len(listed) == len(TEMPLATE_LIBRARY) >= 30
    assert len({t["Name"] for t in listed}) == len(listed)
    other = make_cyclr_sandbox()
    assert [t["Id"] for t in other.templates()] == [t["Id"] for t in listed]
    for template in listed:
        assert template["Connectors"] and all(c["StepCount"] >= 1 for c in template["Connectors"])
    by_name = http.get("/v1.0/templates", params={"orderBy": "Name", "pageSize": 100}).json()
    assert [t["Name"] for t in by_name] == sorted((t["Name"] for t in listed), key=str.casefold)
    assert http.get("/v1.0/templates", params={"pageSize": 100, "page": 2}).json() == []


def test_library_skips_templates_a_custom_catalogue_cannot_serve(make_cyclr_sandbox: MakeSandbox) -> None:
    catalogue = [
        {"Id": 1, "Name": "Webhook", "AuthType": "None"},
        {"Id": 2, "Name": "HTTP", "AuthType": "None"},
    ]
    sandbox = make_cyclr_sandbox(catalogue=catalogue)
    assert [t["Name"] for t in sandbox.templates()] == ["Webhook > HTTP: forward events"]
    with pytest.raises(ValueError, match="not in the catalogue"):
        CyclrSandbox(catalogue=catalogue, templates=[{"Name": "X", "Steps": ["Slack: Post"]}])


def test_custom_templates_and_a_draft_connector(make_cyclr_sandbox: MakeSandbox) -> None:
    catalogue = [
        {"Id": 1, "Name": "Webhook", "AuthType": "None"},
        {"Id": 2, "Name": "Beta Thing", "AuthType": "ApiKey", "Status": "Draft"},
    ]
    templates = [{"Name": "Hook > Beta", "Steps": ["Webhook: Receive", "Beta Thing: Send"]}]
    sandbox = make_cyclr_sandbox(catalogue=catalogue, templates=templates)
    template_id = sandbox.template_by_name("Hook > Beta")["Id"]
    with pytest.raises(ApiError, match="is a draft and cannot be installed"):
        sandbox.state.install_template(ACCOUNT, template_id)
    assert sandbox.installed() == []  # nothing half-installed


# --------------------------------------------------------------------------- install and reuse


def test_install_answers_a_paused_cycle_like_cyclrs_example(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cycle = install(http, cyclr_sandbox, "Pipedrive > Mailchimp")
    assert cycle["Status"] == "Paused"
    assert cycle["LastSuccessfulRunDate"] == "0001-01-01T00:00:00"
    assert (cycle["ErrorCount"], cycle["WarningCount"]) == (0, 0)
    assert cycle["TemplateId"] == cyclr_sandbox.template_by_name("Pipedrive > Mailchimp")["Id"]
    assert [(c["Name"], c["StepCount"], c["Authenticated"]) for c in cycle["Connectors"]] == [
        ("Pipedrive", 1, False), ("Mailchimp", 1, False)
    ]
    assert len(cycle["CreatedOnUtc"]) == len("2017-12-06T16:21:46.0499829Z")
    assert http.get(f"/v1.0/cycles/{cycle['Id']}", account=ACCOUNT).json() == cycle
    assert http.get(f"/v1.0/cycles/{cycle['Id'].upper()}", account=ACCOUNT).status_code == 200


def test_new_connectors_get_free_names_and_no_auth_ones_are_authenticated(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    assert http.install("Webhook", {"Name": "Slack"}).status_code == 200  # a Webhook connector named Slack
    cycle = install(http, cyclr_sandbox, "Webhook > Slack: alerts")
    installed = {c["Id"]: c for c in cyclr_sandbox.installed()}
    webhook, slack = cycle["Connectors"]
    assert installed[webhook["AccountConnectorId"]]["Name"] == "Slack"  # the Webhook one, reused
    assert installed[slack["AccountConnectorId"]]["Name"] == "Slack (2)"
    assert (webhook["Authenticated"], slack["Authenticated"]) == (True, False)
    marketo = install(http, cyclr_sandbox, "Marketo > Salesforce: leads")["Connectors"][0]
    assert (marketo["Name"], marketo["Authenticated"]) == ("Marketo", True)  # client credentials


def test_accounts_are_separate(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cycle = install(http, cyclr_sandbox, "Webhook > Slack: alerts")
    assert http.get(f"/v1.0/cycles/{cycle['Id']}", account="globex-eu").status_code == 404
    assert http.get("/v1.0/cycles", account="globex-eu").json() == []
    assert http.get("/v1.0/cycles").status_code == 400  # X-Cyclr-Account is required
    other = install(http, cyclr_sandbox, "Webhook > Slack: alerts", account="globex-eu")
    assert {c["AccountConnectorId"] for c in other["Connectors"]}.isdisjoint(
        {c["AccountConnectorId"] for c in cycle["Connectors"]}
    )


def test_a_connector_in_use_by_a_cycle_cannot_be_deleted(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cycle = install(http, cyclr_sandbox, "Webhook > Slack: alerts")
    slack = cycle["Connectors"][1]["AccountConnectorId"]
    response = http.call("DELETE", f"/v1.0/account/connectors/{slack}", account=ACCOUNT)
    assert response.status_code == 400
    assert response.json()["Message"] == (
        "Account connector 'Slack' is used by cycle 'Webhook > Slack: alerts' and cannot be deleted."
    )


# --------------------------------------------------------------------------- prerequisites, activation


def test_prerequisites_follow_the_connectors_state(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cycle = install(http, cyclr_sandbox, "HubSpot > Salesforce: two-way contact sync")
    path = f"/v1.0/cycles/{cycle['Id']}/prerequisites"
    first = http.get(path, account=ACCOUNT).json()
    assert [(p["ReasonCode"], p["ObjectType"]) for p in first] == [
        (20, "AccountConnector"), (20, "AccountConnector"), (31, "Action"), (41, "Action")
    ]
    listed = http.get(f"/v1.0/cycles/{cycle['Id']}/steps", account=ACCOUNT).json()
    steps = {s["Id"]: s["Name"] for s in listed}
    assert [steps[p["ObjectId"]] for p in first[2:]] == [
        "Salesforce: Find Contact", "HubSpot: Update Contact"
    ]
    authenticate_all(cyclr_sandbox, cycle)
    assert [p["ReasonCode"] for p in http.get(path, account=ACCOUNT).json()] == [31, 41]
    assert cyclr_sandbox.resolve_prerequisites(ACCOUNT, cycle["Id"]) == []


@pytest.mark.parametrize(
    "body",
    [{}, {"Interval": 7}, {"Interval": 0}, {"Interval": "often"}, {"Interval": True}, {"Interval": 10081},
     {"RunOnce": False}],
)
def test_activate_refuses_intervals_cyclr_does_not_take(
    cyclr_sandbox: CyclrSandbox, http: Http, body: dict[str, Any]
) -> None:
    cycle = install(http, cyclr_sandbox, "Stripe > Mailchimp: customers")
    authenticate_all(cyclr_sandbox, cycle)
    response = http.call("PUT", f"/v1.0/cycles/{cycle['Id']}/activate", account=ACCOUNT, json=body)
    assert response.status_code == 400
    assert response.json()["Message"].startswith("Interval must be one of the following values: 1, 5, 15")
    assert http.get(f"/v1.0/cycles/{cycle['Id']}", account=ACCOUNT).json()["Status"] == "Paused"


@pytest.mark.parametrize(
    ("name", "body", "interval"),
    [
        ("Stripe > Mailchimp: customers", {"Interval": "60"}, 60),
        ("Stripe > Mailchimp: customers", {"RunOnce": True}, None),  # ignored, so not needed
        ("Webhook > HTTP: forward events", {}, None),  # a webhook trigger needs no interval
    ],
)
def test_activate_accepts(
    cyclr_sandbox: CyclrSandbox, http: Http, name: str, body: dict[str, Any], interval: int | None
) -> None:
    cycle = install(http, cyclr_sandbox, name)
    authenticate_all(cyclr_sandbox, cycle)
    response = http.call("PUT", f"/v1.0/cycles/{cycle['Id']}/activate", account=ACCOUNT, json=body)
    assert response.status_code == 200, response.text
    assert cyclr_sandbox.schedule(ACCOUNT, cycle["Id"])["Interval"] == interval
    assert http.get(f"/v1.0/cycles/{cycle['Id']}", account=ACCOUNT).json()["Status"] == "Active"


def test_activate_with_a_prerequisite_left_is_refused_in_cyclrs_words(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    cycle = install(http, cyclr_sandbox, "Salesforce > Google Sheets: weekly pipeline")
    path = f"/v1.0/cycles/{cycle['Id']}/activate"
    response = http.call("PUT", path, account=ACCOUNT, json={"Interval": 15})
    assert response.status_code == 400
    assert response.json()["Message"] == (
        "Cycle 'Salesforce > Google Sheets: weekly pipeline' cannot be activated until its prerequisites "
        "are met: Unauthenticated connector, Missing mapping."
    )


def test_an_active_cycle_is_not_edited_but_may_be_activated_again(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    cycle = install(http, cyclr_sandbox, "Webhook > HTTP: forward events")
    path = f"/v1.0/cycles/{cycle['Id']}"
    renamed = http.call("PUT", path, account=ACCOUNT, json={"Description": "forwarder"})
    assert renamed.status_code == 200 and renamed.json()["Description"] == "forwarder"
    assert http.call("PUT", f"{path}/activate", account=ACCOUNT, json={"Interval": 5}).status_code == 200
    refused = http.call("PUT", path, account=ACCOUNT, json={"Description": "again"})
    assert refused.status_code == 409
    assert "is active and cannot be edited" in refused.json()["Message"]
    again = http.call("PUT", f"{path}/activate", account=ACCOUNT, json={"Interval": 30})
    assert again.status_code == 200  # as Cyclr's own test suite shows
    assert cyclr_sandbox.schedule(ACCOUNT, cycle["Id"])["Interval"] == 30
    for query, finish in (("true", True), ("FALSE", False)):
        params = {"finishQueuedTransactions": query}
        response = http.call("PUT", f"{path}/deactivate", account=ACCOUNT, params=params, json={})
        assert response.status_code == 200
        assert cyclr_sandbox.schedule(ACCOUNT, cycle["Id"])["FinishQueuedTransactions"] is finish
    bad = http.call("PUT", f"{path}/deactivate", account=ACCOUNT,
                    params={"finishQueuedTransactions": "maybe"})
    assert bad.status_code == 400
    assert http.get(path, account=ACCOUNT).json()["Status"] == "Paused"


def test_unknown_cycles_are_404_everywhere(http: Http) -> None:
    ghost = "11111111-c5ff-4352-8985-53b687049999"
    for method, suffix in [("GET", ""), ("PUT", ""), ("GET", "/prerequisites"), ("GET", "/steps"),
                           ("GET", "/incidents"), ("PUT", "/activate"), ("PUT", "/deactivate")]:
        response = http.call(method, f"/v1.0/cycles/{ghost}{suffix}", account=ACCOUNT, json={})
        assert response.status_code == 404, (method, suffix)
    assert http.get("/v1.0/cycles/incidents/fatal", account=ACCOUNT).status_code == 404


# --------------------------------------------------------------------------- incidents


def test_incidents_filter_by_level_cursor_and_order(make_cyclr_sandbox: MakeSandbox) -> None:
    clock = ManualClock(1_714_554_000.0)  # 2024-05-01T09:00:00Z
    sandbox = make_cyclr_sandbox(clock=clock)
    http = Http(sandbox)
    try:
        cycle = install(http, sandbox, "Zendesk > Jira: escalate tickets")
        sandbox.raise_incidents(ACCOUNT, cycle["Id"], count=3)  # same clock reading: still ordered, distinct
        clock.advance(3600)
        sandbox.raise_incidents(ACCOUNT, cycle["Id"], level="warning")
        errors = http.get("/v1.0/cycles/incidents/error", account=ACCOUNT,
                          params={"sortOrderAsc": "true"}).json()
        assert [i["CreatedOnUtc"] for i in errors] == [
            "2024-05-01T09:00:00.0000001Z", "2024-05-01T09:00:00.0000002Z", "2024-05-01T09:00:00.0000003Z"
        ]
        assert {i["IncidentLevel"] for i in errors} == {"Error"}
        newest_first = http.get("/v1.0/cycles/incidents/error", account=ACCOUNT,
                                params={"sortOrderAsc": "false"}).json()
        assert newest_first == errors[::-1]

        def after(value: str, level: str = "error") -> list[str]:
            response = http.get(f"/v1.0/cycles/incidents/{level}", account=ACCOUNT, params={"after": value})
            assert response.status_code == 200, response.text
            return [i["TransactionId"] for i in response.json()]

        assert after(errors[0]["CreatedOnUtc"]) == [i["TransactionId"] for i in errors[1:]]
        assert after("2024-05-01") == [i["TransactionId"] for i in errors]
        assert after("2024-05-01T10:00:00+01:00") == [i["TransactionId"] for i in errors]
        assert after("2024-05-01T09:30:00Z") == []
        assert len(after("2024-05-01T09:30:00Z", "warning")) == 1
        before = http.get("/v1.0/cycles/incidents/error", account=ACCOUNT,
                          params={"before": errors[1]["CreatedOnUtc"]}).json()
        assert before == errors[:1]
        unreadable = http.get("/v1.0/cycles/incidents/error", account=ACCOUNT, params={"after": "soon"})
        assert unreadable.status_code == 400
        both = http.get(f"/v1.0/cycles/{cycle['Id']}/incidents", account=ACCOUNT).json()
        assert len(both) == 4
        assert http.get("/v1.0/cycles/incidents/error", account="globex-eu").json() == []
    finally:
        http.close()


# --------------------------------------------------------------------------- account webhook fields


def test_account_webhook_fields_behave_as_cyclrs_own_tests_show(http: Http) -> None:
    path = f"/v1.0/accounts/{ACCOUNT}"

    def put(body: dict[str, Any]) -> Any:
        return http.call("PUT", path, json=body)

    start = http.get(path).json()
    assert (start["TransactionErrorWebhookEnabled"], start["TransactionErrorWebhookUrl"]) == (False, None)
    done = put({"TransactionErrorWebhookEnabled": True, "TransactionErrorWebhookUrl": "hooks.example.com/a/1",
                "TransactionErrorWebhookIncludeWarnings": True})
    assert done.status_code == 200
    assert done.json()["TransactionErrorWebhookUrl"] == "https://hooks.example.com/a/1"
    assert done.json()["Name"] == start["Name"]  # fields not sent are left alone
    required = "Transaction Error Webhook enabled: Transaction Error Webhook URL must be defined"
    for body in ({"TransactionErrorWebhookEnabled": True, "TransactionErrorWebhookUrl": None},
                 {"TransactionErrorWebhookEnabled": True, "TransactionErrorWebhookUrl": ""},
                 {"TransactionErrorWebhookEnabled": True}):
        refused = put(body)
        assert (refused.status_code, refused.json()["Message"]) == (400, required)
    blank = put({"TransactionErrorWebhookEnabled": True, "TransactionErrorWebhookUrl": " "})
    assert (blank.status_code, blank.json()["Message"]) == (400, "https://  is not a valid URL")
    off = put({"TransactionErrorWebhookEnabled": False})
    assert off.json()["TransactionErrorWebhookEnabled"] is False
    assert off.json()["TransactionErrorWebhookUrl"] == "https://hooks.example.com/a/1"
    assert http.get(path).json() == off.json()
    assert http.call("PUT", "/v1.0/accounts/nobody", json={}).status_code == 404
