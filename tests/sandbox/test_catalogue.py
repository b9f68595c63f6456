"""The connector catalogue: paging, search, lookups and the shipped data."""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from bot.cyclr.models import AuthKind, Connector
from bot.cyclr.sandbox import CyclrSandbox, load_catalogue
from tests.fixtures.sandbox import MakeSandbox
from tests.sandbox.conftest import Http

WELL_KNOWN = (
    "Salesforce",
    "HubSpot",
    "Google Sheets",
    "Google Drive",
    "Google Calendar",
    "Gmail",
    "Slack",
    "Mailchimp",
    "Shopify",
    "Stripe",
    "Xero",
    "QuickBooks Online",
    "Zendesk",
    "Jira",
    "Confluence",
    "Trello",
    "Asana",
    "Monday.com",
    "Microsoft Dynamics 365",
    "Microsoft Teams",
    "Microsoft Outlook",
    "Microsoft OneDrive",
    "SharePoint",
    "Dropbox",
    "Box",
    "Twilio",
    "SendGrid",
    "Intercom",
    "Freshdesk",
    "Pipedrive",
    "Zoho CRM",
    "Marketo",
    "Pardot",
    "ActiveCampaign",
    "Klaviyo",
    "WooCommerce",
    "Magento",
    "BigCommerce",
    "NetSuite",
    "Sage Intacct",
    "FreshBooks",
    "PayPal",
    "Square",
    "Airtable",
    "Notion",
    "GitHub",
    "GitLab",
    "Bitbucket",
    "Zoom",
    "DocuSign",
    "Typeform",
    "SurveyMonkey",
    "Calendly",
    "Eventbrite",
    "LinkedIn",
    "Facebook Lead Ads",
    "Twitter",
    "Instagram",
    "Constant Contact",
    "Campaign Monitor",
    "ServiceNow",
    "Workday",
    "BambooHR",
    "Greenhouse",
    "Okta",
    "Amazon S3",
    "Google BigQuery",
    "Snowflake",
    "PostgreSQL",
    "MySQL",
    "Microsoft SQL Server",
    "Webhook",
    "HTTP",
    "Chargebee",
    "Recurly",
    "Zuora",
    "Gorgias",
    "Help Scout",
    "Front",
    "Copper",
    "Insightly",
    "Keap",
    "Salesloft",
    "Outreach",
    "Gong",
)


def _script() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "make_sandbox_catalogue.py"
    spec = importlib.util.spec_from_file_location("make_sandbox_catalogue", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_list_is_a_bare_array_paged_with_total_headers(http: Http) -> None:
    total = len(load_catalogue())
    first = http.get("/v1.0/connectors", params={"page": 1, "pageSize": 100})
    last_page = math.ceil(total / 100)
    last = http.get("/v1.0/connectors", params={"page": last_page, "pageSize": 100})
    beyond = http.get("/v1.0/connectors", params={"page": last_page + 1, "pageSize": 100})

    assert first.status_code == 200 and isinstance(first.json(), list) and len(first.json()) == 100
    assert first.headers["Total-Records"] == str(total)
    assert first.headers["Total-Pages"] == str(last_page)
    assert len(last.json()) == total - 100 * (last_page - 1)
    assert beyond.json() == []


def test_paging_walks_the_whole_catalogue_once(http: Http) -> None:
    seen: list[int] = []
    page = 1
    while True:
        items = http.get("/v1.0/connectors", params={"page": page, "pageSize": 100}).json()
        seen.extend(item["Id"] for item in items)
        if len(items) < 100:
            break
        page += 1

    assert len(seen) == len(set(seen)) == len(load_catalogue())
    assert seen == sorted(seen)


def test_default_page_size_is_50_and_page_size_is_clamped_to_100(http: Http) -> None:
    default = http.get("/v1.0/connectors")
    huge = http.get("/v1.0/connectors", params={"pageSize": 1000})
    lower_case = http.get("/v1.0/connectors", params={"pagesize": 7, "PAGE": 2})

    assert len(default.json()) == 50
    assert len(huge.json()) == 100
    assert len(lower_case.json()) == 7
    assert lower_case.json()[0]["Id"] == default.json()[7]["Id"]


def test_page_headers_can_be_switched_off_at_any_time(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cyclr_sandbox.page_headers = False
    off = http.get("/v1.0/connectors", params={"pageSize": 10})
    cyclr_sandbox.page_headers = True
    on = http.get("/v1.0/connectors", params={"pageSize": 10})

    assert "Total-Pages" not in off.headers and "Total-Records" not in off.headers
    assert len(off.json()) == 10
    assert on.headers["Total-Pages"] == str(math.ceil(len(load_catalogue()) / 10))


def test_page_headers_off_from_the_constructor(make_cyclr_sandbox: MakeSandbox) -> None:
    sandbox = make_cyclr_sandbox(page_headers=False)
    http = Http(sandbox)
    try:
        for path in ("/v1.0/connectors", "/v1.0/accounts"):
            assert "Total-Records" not in http.get(path).headers
    finally:
        http.close()


def test_bad_paging_values_are_refused(http: Http) -> None:
    response = http.get("/v1.0/connectors", params={"page": "two"})

    assert response.status_code == 400
    assert response.json() == {"Message": "The request is invalid."}


def test_query_is_a_case_insensitive_name_substring(http: Http) -> None:
    response = http.get("/v1.0/connectors", params={"query": "google", "pageSize": 100})
    names = {item["Name"] for item in response.json()}

    assert {"Google Sheets", "Google Drive", "Google Calendar", "Google BigQuery"} <= names
    assert all("google" in name.lower() for name in names)
    assert response.headers["Total-Records"] == str(len(names))


def test_category_filter_and_name_ordering(http: Http) -> None:
    items = http.get(
        "/v1.0/connectors", params={"category": "crms", "orderBy": "Name", "pageSize": 100}
    ).json()
    names = [item["Name"] for item in items]

    assert "Salesforce" in names and "Stripe" not in names
    assert all("CRMs" in item["Categories"] for item in items)
    assert names == sorted(names, key=str.casefold)


def test_list_works_at_partner_level_and_checks_a_given_account(http: Http) -> None:
    assert http.get("/v1.0/connectors", params={"pageSize": 1}).status_code == 200
    assert http.get("/v1.0/connectors", account="globex-eu", params={"pageSize": 1}).status_code == 200
    unknown = http.get("/v1.0/connectors", account="nobody")
    assert unknown.status_code == 404
    assert unknown.json() == {"Message": "Account 'nobody' not found."}


def test_get_connector_by_id_and_by_name(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    stripe = cyclr_sandbox.connector_by_name("Stripe")

    by_id = http.get(f"/v1.0/connectors/{stripe['Id']}")
    by_name = http.get("/v1.0/connectors/stripe")
    by_version = http.get(f"/v1.0/connectors/Stripe/{stripe['Version']}")
    missing = http.get("/v1.0/connectors/1")

    assert by_id.status_code == 200 and by_id.json() == stripe
    assert by_name.json() == [stripe]
    assert by_version.json() == [stripe]
    assert missing.status_code == 404 and missing.json() == {"Message": "Connector 1 not found."}


def test_connector_by_name_returns_a_copy(cyclr_sandbox: CyclrSandbox) -> None:
    copy = cyclr_sandbox.connector_by_name("Slack")
    copy["Name"] = "Changed"
    copy["Parameters"].append({"oops": True})

    assert cyclr_sandbox.connector_by_name("Slack")["Parameters"] == []
    with pytest.raises(KeyError):
        cyclr_sandbox.connector_by_name("Changed")


def test_update_connector_changes_this_sandbox_only(make_cyclr_sandbox: MakeSandbox) -> None:
    first, second = make_cyclr_sandbox(), make_cyclr_sandbox()
    stripe_id = first.connector_by_name("Stripe")["Id"]

    first.state.update_connector(stripe_id, Status="Draft")

    assert first.connector_by_name("Stripe")["Status"] == "Draft"
    assert second.connector_by_name("Stripe")["Status"] == "Approved"
    assert load_catalogue()[0] is load_catalogue()[0]


def test_a_custom_catalogue_replaces_the_shipped_one(make_cyclr_sandbox: MakeSandbox) -> None:
    sandbox = make_cyclr_sandbox(catalogue=[{"Name": "Only One", "AuthType": "None", "Status": "Approved"}])
    http = Http(sandbox)
    try:
        items = http.get("/v1.0/connectors").json()
        assert [item["Name"] for item in items] == ["Only One"]
        assert items[0]["Id"] == 1
    finally:
        http.close()


# -- the shipped data ------------------------------------------------------------------------


def test_shipped_catalogue_has_every_well_known_name_and_many_more() -> None:
    names = [item["Name"] for item in load_catalogue()]

    assert len(names) >= 1000
    assert len(names) == len(set(names))
    assert set(WELL_KNOWN) <= set(names)


def test_shipped_catalogue_parses_into_models_with_every_auth_kind() -> None:
    connectors = [Connector.from_api(item) for item in load_catalogue()]
    kinds = Counter(c.auth_kind for c in connectors)
    types = Counter(c.auth_type for c in connectors)
    statuses = Counter(c.status for c in connectors)

    assert set(kinds) == set(AuthKind)
    assert {"ApiKey", "Basic", "OAuth2", "OAuth1", "None", "AuthFields", "Kerberos"} <= set(types)
    assert statuses["Draft"] >= 5 and statuses["Beta"] >= 2
    assert sum(1 for c in connectors if len(c.authentications) == 2) >= 10
    assert sum(1 for c in connectors if c.required_properties) >= 50
    assert any(p.values for c in connectors for p in c.required_properties)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Stripe", AuthKind.API_KEY),
        ("Jira", AuthKind.BASIC),
        ("Salesforce", AuthKind.OAUTH),
        ("Webhook", AuthKind.NONE),
    ],
)
def test_plain_install_connectors_have_no_required_properties(name: str, kind: AuthKind) -> None:
    connector = Connector.from_api(next(item for item in load_catalogue() if item["Name"] == name))

    assert connector.auth_kind is kind
    assert connector.required_properties == ()
    assert connector.is_installable


def test_shipped_catalogue_is_compact_and_matches_its_generator() -> None:
    script = _script()
    path = Path(script.OUTPUT)

    assert path.stat().st_size < 1_500_000
    assert path.read_text(encoding="utf-8") == script.render(script.build_catalogue())
