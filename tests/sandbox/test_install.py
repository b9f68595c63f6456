"""Installing connectors into accounts, and the installed (account) connector calls."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from bot.cyclr.sandbox import ApiError, CyclrSandbox
from tests.fixtures.sandbox import MakeSandbox
from tests.sandbox.conftest import Http


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_api_key_install_is_authenticated_and_never_echoes_the_key(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    response = http.install(
        "Stripe", {"Name": "Stripe (Acme)", "Description": "billing", "AuthValue": "sk_live_1"}
    )

    body = response.json()
    assert response.status_code == 200
    assert isinstance(body["Id"], int)
    assert body["Name"] == "Stripe (Acme)" and body["Description"] == "billing"
    assert body["Authenticated"] is True
    assert body["AuthValue"] is None
    assert "sk_live_1" not in response.text
    assert body["Connector"]["Name"] == "Stripe" and body["Connector"]["AuthType"] == "ApiKey"
    received = cyclr_sandbox.auth_received("acme-prod", body["Id"])
    assert (received.kind, received.sha256, received.via) == ("api_key", _sha("sk_live_1"), "install")


def test_install_without_name_uses_the_connector_name_and_ids_increase(http: Http) -> None:
    first = http.install("Stripe").json()
    second = http.install("Webhook").json()

    assert first["Name"] == "Stripe"
    assert first["Authenticated"] is False  # an API key connector without its key
    assert second["Authenticated"] is True  # no auth at all
    assert second["Id"] > first["Id"]


def test_basic_install_checks_base64_user_and_password(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    good = http.install("Jira", {"AuthValue": _b64("ann@example.com:pa:ss")})
    not_base64 = http.install("Jira", {"Name": "Jira 2", "AuthValue": "ann:secret"})
    no_colon = http.install("Jira", {"Name": "Jira 3", "AuthValue": _b64("ann")})

    assert good.status_code == 200 and good.json()["Authenticated"] is True
    received = cyclr_sandbox.auth_received("acme-prod", good.json()["Id"])
    assert (received.kind, received.username) == ("basic", "ann@example.com")
    assert received.sha256 == _sha(_b64("ann@example.com:pa:ss"))
    message = {"Message": "AuthValue must be the base64 encoding of 'username:password'."}
    assert not_base64.status_code == 400 and not_base64.json() == message
    assert no_colon.status_code == 400 and no_colon.json() == message
    assert [c["Name"] for c in cyclr_sandbox.installed("acme-prod")] == ["Jira"]


def test_oauth_install_waits_for_the_sign_in_link(http: Http) -> None:
    plain = http.install("Salesforce").json()
    empty_json = http.install("Salesforce", {"Name": "SF 2", "AuthValue": "{}"}).json()
    tokens = http.install(
        "Salesforce", {"Name": "SF 3", "AuthValue": '{"AccessToken": "a", "RefreshToken": "r"}'}
    )
    key = http.install("Salesforce", {"Name": "SF 4", "AuthValue": "just-a-key"})

    assert plain["Authenticated"] is False
    assert empty_json["Authenticated"] is False
    assert tokens.json()["Authenticated"] is True
    assert key.status_code == 400
    assert "JSON object of tokens" in key.json()["Message"]


def test_client_credentials_connector_authenticates_itself(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    bare = http.install("Zuora").json()
    empty_json = http.install("Zuora", {"Name": "Zuora 2", "AuthValue": "{}"}).json()

    assert bare["Authenticated"] is True and empty_json["Authenticated"] is True
    assert cyclr_sandbox.auth_received("acme-prod", empty_json["Id"]).kind == "empty_json"


def test_unknown_auth_types_install_with_whatever_value_is_given(http: Http) -> None:
    with_value = http.install(
        "Microsoft SQL Server",
        {"AuthValue": "principal", "Properties": [{"Name": "Host", "Value": "db.local"}]},
    )

    assert with_value.status_code == 200
    assert with_value.json()["Authenticated"] is True
    assert with_value.json()["Properties"][0]["Name"] == "Host"


def test_multi_auth_connector_uses_the_chosen_authentication_id(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    methods = cyclr_sandbox.connector_by_name("Pipedrive")["Authentication"]
    oauth, api_key = methods
    by_default = http.install("Pipedrive", {"AuthValue": '{"AccessToken": "t"}'}).json()
    by_key = http.install(
        "Pipedrive", {"Name": "PD key", "AuthenticationId": api_key["Id"], "AuthValue": "k"}
    )
    unknown = http.install("Pipedrive", {"Name": "PD ?", "AuthenticationId": "nope"})

    assert oauth["AuthType"] == "OAuth2" and api_key["AuthType"] == "ApiKey"
    assert by_default["Authenticated"] is True and by_default["AuthenticationId"] == oauth["Id"]
    assert by_key.json()["Authenticated"] is True and by_key.json()["AuthenticationId"] == api_key["Id"]
    assert unknown.status_code == 400
    assert unknown.json() == {"Message": "There is not an authentication method that matches ID 'nope'."}


def test_required_properties_are_checked_and_recorded(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    missing = http.install("Zoho CRM")
    bad_value = http.install("Zoho CRM", {"Properties": [{"Name": "Region", "Value": "mars"}]})
    good = http.install("Zoho CRM", {"Properties": [{"Name": "region", "Value": "eu"}]})

    assert missing.status_code == 400
    assert missing.json() == {"Message": "Account connector property 'Region' is required."}
    assert bad_value.status_code == 400 and "com, eu, in" in bad_value.json()["Message"]
    assert good.status_code == 200
    [prop] = good.json()["Properties"]
    assert (prop["Name"], prop["Value"], prop["AccountConnectorId"]) == ("Region", "eu", good.json()["Id"])


def test_sensitive_property_values_are_not_echoed(http: Http) -> None:
    response = http.install(
        "PayPal",
        {
            "Properties": [
                {"Name": "ClientId", "Value": "id-1"},
                {"Name": "ClientSecret", "Value": "very-secret"},
            ]
        },
    )

    assert response.status_code == 200
    assert "very-secret" not in response.text
    values = {p["Name"]: p["Value"] for p in response.json()["Properties"]}
    assert values == {"ClientId": "id-1", "ClientSecret": None}


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        (
            [{"Name": "Dont exist", "Value": "x"}],
            "There is not a connector property that matches name 'Dont exist'.",
        ),
        (
            [{"Name": "EndpointUrl", "Value": "x"}],
            "Connector property name 'EndpointUrl' is not an account connector property.",
        ),
    ],
)
def test_unknown_and_non_account_properties_are_refused(
    http: Http, properties: list[dict[str, str]], message: str
) -> None:
    response = http.install("HTTP", {"Properties": properties})

    assert response.status_code == 400
    assert response.json() == {"Message": message}


def test_draft_connectors_cannot_be_installed(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    draft = next(c for c in cyclr_sandbox.state.connectors() if c["Status"] == "Draft")

    response = http.post(f"/v1.0/connectors/{draft['Id']}/install", account="acme-prod", json={})

    assert response.status_code == 400
    assert response.json() == {"Message": f"Connector {draft['Id']} is a draft and cannot be installed."}


def test_duplicate_names_are_refused_per_account_ignoring_case(http: Http) -> None:
    assert http.install("Stripe", {"Name": "Billing"}).status_code == 200
    duplicate = http.install("Webhook", {"Name": "billing"})
    other_account = http.install("Stripe", {"Name": "Billing"}, account="globex-eu")

    assert duplicate.status_code == 400
    assert duplicate.json() == {"Message": "Account connector name 'billing' is in use."}
    assert other_account.status_code == 200


def test_null_missing_and_broken_bodies(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    path = f"/v1.0/connectors/{cyclr_sandbox.connector_by_name('Webhook')['Id']}/install"

    missing = http.post(path, account="acme-prod")
    null = http.post(path, account="acme-prod", data="null", headers={"Content-Type": "application/json"})
    broken = http.post(path, account="acme-prod", data="{", headers={"Content-Type": "application/json"})
    array = http.post(path, account="acme-prod", json=[])

    assert missing.status_code == 500 and null.status_code == 500
    assert null.json() == {"Message": "An error has occurred."}
    assert broken.status_code == 400 and array.status_code == 400
    assert cyclr_sandbox.installed("acme-prod") == []
    assert cyclr_sandbox.server_errors == []


def test_install_needs_a_known_account_and_connector(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    stripe = cyclr_sandbox.connector_by_name("Stripe")["Id"]

    no_header = http.post(f"/v1.0/connectors/{stripe}/install", json={})
    unknown_account = http.post(f"/v1.0/connectors/{stripe}/install", account="nobody", json={})
    unknown_connector = http.post("/v1.0/connectors/2/install", account="acme-prod", json={})
    by_name = http.post("/v1.0/connectors/Stripe/install", account="acme-prod", json={})

    assert no_header.status_code == 400
    assert no_header.json() == {"Message": "The X-Cyclr-Account header is required for this request."}
    assert unknown_account.status_code == 404
    assert unknown_connector.status_code == 404
    assert by_name.status_code == 200 and by_name.json()["Connector"]["Id"] == stripe


def test_install_latency_delays_the_answer(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cyclr_sandbox.install_latency = 0.3
    started = time.perf_counter()
    response = http.install("Webhook")
    elapsed = time.perf_counter() - started
    cyclr_sandbox.install_latency = 0

    assert response.status_code == 200
    assert elapsed >= 0.3
    assert cyclr_sandbox.install_latency == 0


def test_api_latency_delays_every_answer(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cyclr_sandbox.api_latency = 0.2
    try:
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            response = http.get("/v1.0/connectors")
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200
    finally:
        cyclr_sandbox.api_latency = -1  # clamped
    assert min(timings) >= 0.2
    assert cyclr_sandbox.api_latency == 0


# -- installed connectors --------------------------------------------------------------------


def test_account_connectors_list_get_and_paging(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    ids = [http.install("Webhook", {"Name": f"Hook {n}"}).json()["Id"] for n in range(3)]
    http.install("Webhook", {"Name": "Elsewhere"}, account="initech")

    listed = http.get("/v1.0/account/connectors", account="acme-prod")
    page_two = http.get("/v1.0/account/connectors", account="acme-prod", params={"pageSize": 2, "page": 2})
    one = http.get(f"/v1.0/account/connectors/{ids[1]}", account="acme-prod")
    other_account = http.get(f"/v1.0/account/connectors/{ids[1]}", account="initech")

    assert [c["Id"] for c in listed.json()] == ids
    assert listed.json()[0]["Connector"]["Name"] == "Webhook"
    assert listed.headers["Total-Records"] == "3"
    assert [c["Id"] for c in page_two.json()] == [ids[2]]
    assert one.json()["Name"] == "Hook 1"
    assert other_account.status_code == 404
    assert cyclr_sandbox.installed("acme-prod") == listed.json()


def test_put_updates_name_description_and_auth_value(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    installed = http.install("Stripe").json()
    http.install("Webhook", {"Name": "Taken"})
    path = f"/v1.0/account/connectors/{installed['Id']}"

    updated = http.call("PUT", path, account="acme-prod", json={"AuthValue": "sk_2", "Description": "d"})
    clash = http.call("PUT", path, account="acme-prod", json={"Name": "Taken"})
    renamed = http.call("PUT", path, account="acme-prod", json={"Name": "Stripe EU"})

    assert updated.json()["Authenticated"] is True and updated.json()["Description"] == "d"
    assert "sk_2" not in updated.text
    assert cyclr_sandbox.auth_received("acme-prod", installed["Id"]).via == "update"
    assert clash.status_code == 400
    assert renamed.json()["Name"] == "Stripe EU"


def test_deauthenticate_and_delete(http: Http) -> None:
    installed = http.install("Stripe", {"AuthValue": "k"}).json()
    path = f"/v1.0/account/connectors/{installed['Id']}"

    deauth = http.call("PUT", f"{path}/deauthenticate", account="acme-prod", json={})
    after = http.get(path, account="acme-prod").json()
    deleted = http.call("DELETE", path, account="acme-prod")
    again = http.call("DELETE", path, account="acme-prod")

    assert deauth.json() == {"Message": "Connector 'Stripe' successfully de-authenticated."}
    assert after["Authenticated"] is False
    assert deleted.status_code == 200 and deleted.content == b""
    assert again.status_code == 404
    assert http.get(path, account="acme-prod").status_code == 404


def test_set_authenticated_helper(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    installed = http.install("Salesforce").json()

    cyclr_sandbox.set_authenticated("acme-prod", installed["Id"], True)

    response = http.get(f"/v1.0/account/connectors/{installed['Id']}", account="acme-prod")
    assert response.json()["Authenticated"] is True


# -- accounts ---------------------------------------------------------------------------------


def test_accounts_list_and_get(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    listed = http.get("/v1.0/accounts").json()
    one = http.get("/v1.0/accounts/globex-eu")
    missing = http.get("/v1.0/accounts/nobody")

    assert [a["Id"] for a in listed] == cyclr_sandbox.account_ids == ["acme-prod", "globex-eu", "initech"]
    assert cyclr_sandbox.default_account_id == "acme-prod"
    assert one.json()["Name"] == "Globex GmbH"
    assert set(one.json()) >= {"Id", "Name", "Description", "CreatedDate", "Timezone"}
    assert missing.status_code == 404 and missing.json() == {"Message": "Account 'nobody' not found."}


def test_custom_accounts_and_add_account(make_cyclr_sandbox: MakeSandbox) -> None:
    sandbox = make_cyclr_sandbox(accounts=[{"Id": "tenant-1", "Name": "Tenant One"}])
    http = Http(sandbox)
    try:
        sandbox.state.add_account("tenant-2", "Tenant Two", timezone="Europe/Paris")
        listed = http.get("/v1.0/accounts").json()
        installed = http.install("Webhook", account="tenant-2")
    finally:
        http.close()

    assert sandbox.default_account_id == "tenant-1"
    assert [(a["Id"], a["Name"]) for a in listed] == [("tenant-1", "Tenant One"), ("tenant-2", "Tenant Two")]
    assert listed[1]["Timezone"] == "Europe/Paris"
    assert installed.status_code == 200 and len(sandbox.installed("tenant-2")) == 1
    with pytest.raises(ApiError, match="ID already in use"):
        sandbox.state.add_account("tenant-1", "Again")
