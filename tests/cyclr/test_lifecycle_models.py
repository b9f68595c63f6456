"""The lifecycle models: Cyclr's dates, intervals, prerequisites, incidents and webhook settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.cyclr import (
    CYCLE_INTERVALS,
    Account,
    Cycle,
    CycleStatus,
    Incident,
    IncidentLevel,
    Prerequisite,
    Template,
    WebhookSettings,
    check_interval,
    interval_label,
    parse_cyclr_date,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2017-12-08T11:02:48.7436471Z", datetime(2017, 12, 8, 11, 2, 48, 743647, tzinfo=UTC)),
        ("2017-12-08T11:02:48.7436471", datetime(2017, 12, 8, 11, 2, 48, 743647, tzinfo=UTC)),
        ("2017-12-08T12:02:48+01:00", datetime(2017, 12, 8, 11, 2, 48, tzinfo=UTC)),
        ("2020-01-01", datetime(2020, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00", None),
        ("0001-01-01T00:00:00.0000000Z", None),
        ("", None),
        (None, None),
        ("yesterday", None),
        (12, None),
    ],
)
def test_cyclr_dates(text: object, expected: datetime | None) -> None:
    assert parse_cyclr_date(text) == expected


def test_every_valid_interval_has_a_label() -> None:
    labels = {minutes: interval_label(minutes) for minutes in CYCLE_INTERVALS}
    assert labels == {
        1: "Every minute", 5: "Every 5 minutes", 15: "Every 15 minutes", 30: "Every 30 minutes",
        60: "Every hour", 120: "Every 2 hours", 180: "Every 3 hours", 240: "Every 4 hours",
        360: "Every 6 hours", 480: "Every 8 hours", 720: "Every 12 hours", 1440: "Every day",
        10080: "Every week",
    }
    assert all(check_interval(minutes) == minutes for minutes in CYCLE_INTERVALS)


def test_cycle_from_a_loose_object() -> None:
    cycle = Cycle.from_api({"Id": "c-1", "Status": "Stopping", "ErrorCount": "3",
                            "Connectors": [{"Id": 1, "Name": "Slack"}, "junk"]})
    assert (cycle.state, cycle.is_active, cycle.error_count) == (CycleStatus.STOPPING, False, 3)
    assert cycle.connectors[0].account_connector_id is None
    assert cycle.unauthenticated == cycle.connectors
    assert Cycle.from_api({"Id": "c-2", "Status": "Running backwards"}).state is CycleStatus.UNKNOWN
    assert Cycle.from_api({"Id": "c-3", "Status": "active"}).is_active


def test_template_lists_its_connectors() -> None:
    template = Template.from_api({"Id": "t", "Name": "Pipedrive > MailChimp", "Connectors": [
        {"Id": 2550, "Name": "Pipedrive", "Version": "1.0", "StepCount": 1},
        {"Id": 2582, "Name": "MailChimp", "Version": "v3", "StepCount": 2},
    ]})
    assert template.connector_names == ("Pipedrive", "MailChimp")
    assert [c.label for c in template.connectors] == ["Pipedrive 1.0", "MailChimp v3"]


def test_only_an_unauthenticated_connector_is_fixable_in_slack() -> None:
    codes = [0, 10, 11, 20, 30, 31, 32, 33, 40, 41, 42, 43, 50, 51, 60, 61, 70]
    fixable = [code for code in codes if Prerequisite(code, "").fixable_in_slack]
    assert fixable == [20]
    assert all(Prerequisite(code, "").description for code in codes)
    not_a_connector = Prerequisite(20, "Unauthenticated connector", "Action", "not-a-number")
    assert not_a_connector.account_connector_id is None


def test_webhook_payload_and_incident_agree() -> None:
    """The documented webhook body (cyclr-api.md §9.3) and an incident of the same failure."""
    payload = {
        "Timestamp": "2019-08-08T11:25:34.0412055Z",
        "AccountId": "a2b35322-c966-4a29-95d7-065aaf12b127",
        "AccountExternalId": "account-id-in-your-application",
        "CycleId": "15643129-a29d-4957-865c-0495099fbbec",
        "StepId": "519713ff-57cf-49ef-9c00-f3a3e1569268",
        "TransactionId": "1564aae4-b82e-4712-a078-30a4e53c40d0",
        "Message": "Failed to call the method",
        "Detail": "404 Item not found\r\n\r\nHTTP Request:\r\nGET https://someapi.com/x\r\nApiKey: k",
    }
    pushed = Incident.from_webhook(payload)
    assert (pushed.level, pushed.account_id, pushed.cursor) == (
        IncidentLevel.ERROR, "account-id-in-your-application", "2019-08-08T11:25:34.0412055Z"
    )
    assert pushed.occurred_at == datetime(2019, 8, 8, 11, 25, 34, 41205, tzinfo=UTC)
    assert "ApiKey" not in repr(pushed)
    pulled = Incident.from_api({"CycleId": payload["CycleId"], "IncidentLevel": "Warning",
                                "ShortMessage": "Failed to authenticate the connector",
                                "TransactionId": payload["TransactionId"]})
    assert pulled.transaction_id == pushed.transaction_id
    assert (pulled.level, pulled.is_auth_failure) == (IncidentLevel.WARNING, True)
    assert not pushed.is_auth_failure
    assert Incident.from_webhook({**payload, "AccountExternalId": None}).account_id == payload["AccountId"]


def test_account_reads_its_webhook_settings_and_hides_the_url() -> None:
    url = "https://bot.example.com/cyclr/webhook/secret-part"
    account = Account.from_api({"Id": "acme", "Name": "Acme", "TransactionErrorWebhookEnabled": True,
                                "TransactionErrorWebhookUrl": url,
                                "TransactionErrorWebhookIncludeWarnings": "true"})
    assert account.webhook == WebhookSettings(True, url, True)
    assert "secret-part" not in repr(account)
    assert Account.from_api({"Id": "bare"}).webhook == WebhookSettings()
