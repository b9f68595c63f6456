"""The lifecycle calls (templates, cycles, connector auth, incidents, webhook settings) against a
scripted server: exactly what goes on the wire, retries, and what errors carry."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.cyclr import (
    CyclrBadRequest,
    CyclrClient,
    CyclrConflict,
    CyclrTimeout,
    IncidentLevel,
    WebhookSettings,
)
from bot.logs import redact
from tests.cyclr.conftest import MakeClient
from tests.cyclr.scripted_server import Recorded, Reply, ScriptedServer

ACCOUNT = "acme-prod"
TEMPLATE = "7ad2265e-2ff0-477b-b913-cae1dfde2ea8"
CYCLE = "cf636e9c-13dd-47ea-b0e8-88a5bf7f7b00"
INSTALL = f"/v1.0/templates/{TEMPLATE}/install"
CYCLE_PATH = f"/v1.0/cycles/{CYCLE}"
# Cyclr's documented answer to a template install (cyclr-api.md §9.1).
CYCLE_JSON: dict[str, Any] = {
    "Id": CYCLE,
    "CreatedOnUtc": "2017-12-06T16:21:46.0499829Z",
    "TasksUsed": 0,
    "ErrorCount": 0,
    "WarningCount": 0,
    "Connectors": [
        {"Id": 2550, "AccountConnectorId": 51, "Name": "Pipedrive", "Version": "1.0", "Authenticated": True,
         "StepCount": 1, "Icon": None},
        {"Id": 2582, "AccountConnectorId": 52, "Name": "MailChimp", "Version": "v3", "Authenticated": False,
         "StepCount": 1, "Icon": None},
    ],
    "Status": "Paused",
    "LastSuccessfulRunDate": "0001-01-01T00:00:00",
    "Name": "Pipedrive > MailChimp",
    "Description": None,
    "TemplateId": TEMPLATE,
}


def incidents(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"Id": f"i-{n}", "CycleId": CYCLE, "CycleName": "Pipedrive > MailChimp", "IncidentLevel": "Error",
         "ShortMessage": "Failed to call the method", "FullMessage": "404 Not Found", "StepId": "s-1",
         "StepName": "Pipedrive: Person Added", "TransactionId": f"t-{n}",
         "CreatedOnUtc": f"2024-05-01T09:00:{n:02d}.1234567Z"}
        for n in range(first, first + count)
    ]


# --------------------------------------------------------------------------- templates and cycles


def test_template_install_is_a_bare_post_to_the_account(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("POST", INSTALL, Reply(json=CYCLE_JSON))
    cycle = client.install_template(ACCOUNT, TEMPLATE)

    assert (cycle.id, cycle.status, cycle.template_id) == (CYCLE, "Paused", TEMPLATE)
    assert cycle.last_successful_run is None  # Cyclr's zero date: never ran
    assert cycle.created_at == datetime(2017, 12, 6, 16, 21, 46, 49982, tzinfo=UTC)
    assert [(c.name, c.account_connector_id, c.authenticated) for c in cycle.connectors] == [
        ("Pipedrive", 51, True), ("MailChimp", 52, False)
    ]
    (post,) = server.requests_to("POST", INSTALL)
    assert post.headers["x-cyclr-account"] == ACCOUNT
    assert post.body == b""


def test_template_install_is_not_repeated_after_a_read_timeout(
    server: ScriptedServer, make_client: MakeClient
) -> None:
    client = make_client(server.url, timeout=(1.0, 0.3))
    server.on("POST", INSTALL, Reply(json=CYCLE_JSON, delay=0.8))
    with pytest.raises(CyclrTimeout):
        client.install_template(ACCOUNT, TEMPLATE)
    time.sleep(0.1)
    assert server.count("POST", INSTALL) == 1


def test_template_install_is_not_repeated_on_503_or_a_dropped_answer(
    server: ScriptedServer, client: CyclrClient
) -> None:
    server.on("POST", INSTALL, Reply(503, json={"Message": "busy"}), Reply(json=CYCLE_JSON))
    with pytest.raises(Exception, match="busy"):
        client.install_template(ACCOUNT, TEMPLATE)
    assert server.count("POST", INSTALL) == 1

    server.on("POST", INSTALL, Reply(drop=True), Reply(json=CYCLE_JSON))
    with pytest.raises(CyclrTimeout):
        client.install_template(ACCOUNT, TEMPLATE)
    assert server.count("POST", INSTALL) == 2  # one more call, one more attempt: never two


def test_cycle_reads_are_retried(server: ScriptedServer, make_client: MakeClient) -> None:
    client = make_client(server.url, timeout=(1.0, 0.3))
    server.on("GET", CYCLE_PATH, Reply(json=CYCLE_JSON, delay=0.8), Reply(json=CYCLE_JSON))
    assert client.get_cycle(ACCOUNT, CYCLE).id == CYCLE
    assert server.count("GET", CYCLE_PATH) == 2

    server.on("GET", f"{CYCLE_PATH}/prerequisites", Reply(503), Reply(json=[]))
    assert client.cycle_prerequisites(ACCOUNT, CYCLE) == []
    assert server.count("GET", f"{CYCLE_PATH}/prerequisites") == 2


def test_prerequisites_from_cyclrs_example(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("GET", f"{CYCLE_PATH}/prerequisites", Reply(json=[
        {"ReasonCode": 20, "Reason": "Unauthenticated connector", "ObjectType": "AccountConnector",
         "ObjectId": 36328},
        {"ReasonCode": 30, "Reason": "Missing mapping", "ObjectType": "Action",
         "ObjectId": "709b68ba-394e-4339-9550-abd0312e8dd5"},
        {"ReasonCode": 99, "Reason": "Something new"},
    ]))
    auth, mapping, unknown = client.cycle_prerequisites(ACCOUNT, CYCLE)
    assert (auth.fixable_in_slack, auth.account_connector_id) == (True, 36328)
    assert (mapping.fixable_in_slack, mapping.account_connector_id) == (False, None)
    assert mapping.object_id == "709b68ba-394e-4339-9550-abd0312e8dd5"
    assert mapping.description == "A step is missing a mapping"
    assert (unknown.fixable_in_slack, unknown.description) == (False, "Something new")


# --------------------------------------------------------------------------- activation


def test_activate_sends_interval_start_and_run_once(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("PUT", f"{CYCLE_PATH}/activate", Reply(200))
    client.activate_cycle(ACCOUNT, CYCLE, interval=15)
    start = datetime(2024, 5, 1, 10, 30, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    client.activate_cycle(ACCOUNT, CYCLE, interval=1440, start_time=start, run_once=True)

    first, second = server.requests_to("PUT", f"{CYCLE_PATH}/activate")
    assert first.json() == {"Interval": 15, "RunOnce": False}
    assert second.json() == {"Interval": 1440, "RunOnce": True, "StartTime": "2024-05-01T09:30:05.1234560Z"}
    assert first.headers["x-cyclr-account"] == ACCOUNT


@pytest.mark.parametrize("interval", [0, 2, 7, 45, 100, 10081, -15, True, "15", 15.0, None])
def test_activate_refuses_an_interval_cyclr_would_refuse_before_sending(
    server: ScriptedServer, client: CyclrClient, interval: Any
) -> None:
    with pytest.raises(ValueError, match=r"interval must be one of 1, 5, 15, .*, 10080 minutes"):
        client.activate_cycle(ACCOUNT, CYCLE, interval=interval)
    assert server.requests == []


def test_activate_refuses_a_naive_start_time(server: ScriptedServer, client: CyclrClient) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client.activate_cycle(ACCOUNT, CYCLE, interval=60, start_time=datetime(2024, 5, 1, 9, 0))
    assert server.requests == []


def test_409_is_a_conflict_told_in_plain_words(server: ScriptedServer, client: CyclrClient) -> None:
    server.on("PUT", f"{CYCLE_PATH}/activate",
              Reply(409, json={"Message": "Conflict: the cycle state does not allow this operation."}))
    with pytest.raises(CyclrConflict) as info:
        client.activate_cycle(ACCOUNT, CYCLE, interval=60)
    assert info.value.status == 409
    assert info.value.user_message == (
        "Cyclr will not change this cycle while it is running. Pause it first, then try again."
    )
    assert info.value.cyclr_message == "Conflict: the cycle state does not allow this operation."


def test_a_remaining_prerequisite_comes_back_as_cyclrs_reason(
    server: ScriptedServer, client: CyclrClient
) -> None:
    reason = "Cycle 'X' cannot be activated until its prerequisites are met: Missing mapping."
    server.on("PUT", f"{CYCLE_PATH}/activate", Reply(400, json={"Message": reason}))
    with pytest.raises(CyclrBadRequest) as info:
        client.activate_cycle(ACCOUNT, CYCLE, interval=60)
    assert info.value.user_message == reason


@pytest.mark.parametrize(("finish", "sent"), [(True, "true"), (False, "false")])
def test_deactivate_says_whether_queued_transactions_finish(
    server: ScriptedServer, client: CyclrClient, finish: bool, sent: str
) -> None:
    server.on("PUT", f"{CYCLE_PATH}/deactivate", Reply(200))
    client.deactivate_cycle(ACCOUNT, CYCLE, finish_queued=finish)
    (put,) = server.requests_to("PUT", f"{CYCLE_PATH}/deactivate")
    assert put.param("finishQueuedTransactions") == sent
    assert put.json() == {}


# --------------------------------------------------------------------------- connector auth


def test_connector_auth_value_stays_out_of_errors_and_logs(
    server: ScriptedServer, client: CyclrClient, caplog: pytest.LogCaptureFixture
) -> None:
    value = "sk_live_Echoed_Back_9f8e7d"
    path = "/v1.0/account/connectors/51"
    server.on("PUT", path, Reply(400, json={"Message": f"AuthValue '{value}' was refused by Stripe."}))
    with caplog.at_level(logging.DEBUG), pytest.raises(CyclrBadRequest) as info:
        client.set_connector_auth(ACCOUNT, 51, value)

    (put,) = server.requests_to("PUT", path)
    assert put.json() == {"AuthValue": value}
    error = info.value
    texts = [str(error), error.user_message, error.message, repr(error), *map(str, error.args)]
    assert all(value not in text for text in texts)
    assert "was refused by Stripe" in error.user_message
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    assert value not in logged
    assert redact(f"value={value}") == "value=[redacted]"  # registered with the log redaction


def test_connector_auth_answers_the_connector(server: ScriptedServer, client: CyclrClient) -> None:
    path = "/v1.0/account/connectors/52"
    server.on("PUT", path, Reply(json={"Id": 52, "Name": "MailChimp", "Authenticated": True,
                                       "Connector": {"Id": 2582, "Name": "MailChimp", "AuthType": "ApiKey"}}))
    server.on("PUT", f"{path}/deauthenticate",
              Reply(json={"Message": "Connector 'MailChimp' successfully de-authenticated."}))
    assert client.set_connector_auth(ACCOUNT, 52, "us6-0123456789abcdef").authenticated
    confirmed = client.deauthenticate_connector(ACCOUNT, 52)
    assert confirmed == "Connector 'MailChimp' successfully de-authenticated."
    with pytest.raises(ValueError, match="auth_value is empty"):
        client.set_connector_auth(ACCOUNT, 52, "  ")
    assert server.count("PUT", path) == 1


# --------------------------------------------------------------------------- incidents


def test_incidents_ask_oldest_first_after_the_cursor(server: ScriptedServer, client: CyclrClient) -> None:
    path = "/v1.0/cycles/incidents/error"
    server.on("GET", path, Reply(json=incidents(1, 3)))
    found = client.list_incidents(ACCOUNT, after="2024-05-01T09:00:00.0000001Z")
    assert [i.transaction_id for i in found] == ["t-1", "t-2", "t-3"]
    assert found[-1].cursor == "2024-05-01T09:00:03.1234567Z"
    assert "FullMessage" not in repr(found[0]) and "404 Not Found" not in repr(found[0])
    (get,) = server.requests_to("GET", path)
    assert get.query == {"after": ["2024-05-01T09:00:00.0000001Z"], "sortOrderAsc": ["true"],
                         "page": ["1"], "pageSize": ["100"]}

    server.on("GET", "/v1.0/cycles/incidents/warning", Reply(json=[]))
    client.list_incidents(ACCOUNT, IncidentLevel.WARNING, after=datetime(2024, 5, 1, 9, 0, 0, 5, tzinfo=UTC))
    (warning,) = server.requests_to("GET", "/v1.0/cycles/incidents/warning")
    assert warning.param("after") == "2024-05-01T09:00:00.0000050Z"


def test_incidents_limit_stops_paging(server: ScriptedServer, client: CyclrClient) -> None:
    def page(req: Recorded) -> Reply:
        number, size = int(req.param("page") or 1), int(req.param("pageSize") or 100)
        return Reply(json=incidents((number - 1) * size + 1, size))

    server.on("GET", "/v1.0/cycles/incidents/error", page)
    assert len(client.list_incidents(ACCOUNT, "error", page_size=10, limit=15)) == 15
    assert server.count("GET", "/v1.0/cycles/incidents/error") == 2
    with pytest.raises(ValueError):
        client.list_incidents(ACCOUNT, "errors")
    with pytest.raises(ValueError):
        client.list_incidents(ACCOUNT, after=datetime(2024, 5, 1))  # naive


# --------------------------------------------------------------------------- the error webhook


def test_webhook_settings_put_only_the_webhook_fields(server: ScriptedServer, client: CyclrClient) -> None:
    url = "https://bot.example.com/cyclr/webhook/Zq3-secret-path"
    path = f"/v1.0/accounts/{ACCOUNT}"
    server.on("PUT", path, Reply(json={"Id": ACCOUNT, "Name": "Acme", "TransactionErrorWebhookEnabled": True,
                                       "TransactionErrorWebhookUrl": url,
                                       "TransactionErrorWebhookIncludeWarnings": False}))
    settings = client.set_webhook_settings(ACCOUNT, WebhookSettings(enabled=True, url=url))
    assert settings == WebhookSettings(True, url, False)
    assert url not in repr(settings)
    (put,) = server.requests_to("PUT", path)
    assert "x-cyclr-account" not in put.headers
    assert put.json() == {"TransactionErrorWebhookEnabled": True, "TransactionErrorWebhookUrl": url,
                          "TransactionErrorWebhookIncludeWarnings": False}
    with pytest.raises(ValueError, match="URL is needed"):
        client.set_webhook_settings(ACCOUNT, WebhookSettings(enabled=True, url=" "))
    assert server.count("PUT", path) == 1


def test_a_refused_webhook_url_is_not_echoed(server: ScriptedServer, client: CyclrClient) -> None:
    url = "https://bot.example.com/cyclr/webhook/s3cr3t path"
    server.on("PUT", f"/v1.0/accounts/{ACCOUNT}", Reply(400, json={"Message": f"{url} is not a valid URL"}))
    with pytest.raises(CyclrBadRequest) as info:
        client.set_webhook_settings(ACCOUNT, WebhookSettings(enabled=True, url=url))
    assert url not in str(info.value) and url not in info.value.user_message
    assert info.value.user_message == "[redacted] is not a valid URL"
