"""Search quality, ranking and robustness of :class:`Catalogue` search."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.search_bench import REAL_NAMES, SANDBOX_CATALOGUE, generated_catalogue
from bot.cyclr.models import Connector
from bot.services.catalogue import Catalogue
from bot.services.search import MAX_QUERY_LENGTH, POPULAR, MatchKind, compact, normalise

#: Misspelt, partial, spaced, abbreviated queries and the connector each one means.
QUERIES: list[tuple[str, str]] = [
    ("salesforc", "Salesforce"),
    ("salesfroce", "Salesforce"),
    ("slaesforce", "Salesforce"),
    ("hub spot", "HubSpot"),
    ("hubspt", "HubSpot"),
    ("hubsopt", "HubSpot"),
    ("gsheets", "Google Sheets"),
    ("g sheets", "Google Sheets"),
    ("google sheet", "Google Sheets"),
    ("gogle sheets", "Google Sheets"),
    ("quickbooks", "QuickBooks Online"),
    ("quikbooks", "QuickBooks Online"),
    ("qbo", "QuickBooks Online"),
    ("ms teams", "Microsoft Teams"),
    ("msteams", "Microsoft Teams"),
    ("microsft teams", "Microsoft Teams"),
    ("dynamics", "Microsoft Dynamics 365"),
    ("ms dynamics", "Microsoft Dynamics 365"),
    ("mail chimp", "Mailchimp"),
    ("mailchimp", "Mailchimp"),
    ("zen desk", "Zendesk"),
    ("zendsk", "Zendesk"),
    ("sharepoint online", "SharePoint"),
    ("monday", "Monday.com"),
    ("big query", "Google BigQuery"),
    ("bigqeury", "Google BigQuery"),
    ("s3", "Amazon S3"),
    ("aws s3", "Amazon S3"),
    ("docusgn", "DocuSign"),
    ("gcal", "Google Calendar"),
    ("gdrive", "Google Drive"),
    ("one drive", "Microsoft OneDrive"),
    ("outlok", "Microsoft Outlook"),
    ("shopfy", "Shopify"),
    ("strpe", "Stripe"),
    ("confluense", "Confluence"),
    ("jria", "Jira"),
    ("woocomerce", "WooCommerce"),
    ("activecampain", "ActiveCampaign"),
    ("net suite", "NetSuite"),
    ("sage intact", "Sage Intacct"),
    ("githbu", "GitHub"),
    ("survey monkey", "SurveyMonkey"),
    ("facebook leads", "Facebook Lead Ads"),
    ("constant contct", "Constant Contact"),
    ("bamboo hr", "BambooHR"),
    ("postgres", "PostgreSQL"),
    ("sql server", "Microsoft SQL Server"),
    ("help scout", "Help Scout"),
    ("twillio", "Twilio"),
    ("intercomm", "Intercom"),
    ("sfdc", "Salesforce"),
    ("Sálesforce", "Salesforce"),
    ("HUBSPOT!!", "HubSpot"),
    ("  Zen-Desk  ", "Zendesk"),
]


def _build(data: list[dict[str, Any]]) -> Catalogue:
    return Catalogue(Connector.from_api(item) for item in data)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return _build(generated_catalogue())


@pytest.fixture(scope="module")
def sandbox_catalogue() -> Catalogue:
    if not SANDBOX_CATALOGUE.is_file():
        pytest.skip(f"the sandbox catalogue {SANDBOX_CATALOGUE} does not exist yet")
    return _build(json.loads(SANDBOX_CATALOGUE.read_text(encoding="utf-8")))


def _top(catalogue: Catalogue, query: str, n: int = 3) -> list[str]:
    return [c.name for c in catalogue.search(query, limit=n)]


def test_fixture_catalogue_is_realistic(catalogue: Catalogue) -> None:
    names = {c.name for c in catalogue}
    assert len(catalogue) > 1000
    assert set(REAL_NAMES) <= names
    # Look-alikes that share parts with the real names make the queries below hard.
    assert {"Sales Pilot", "Hub Forms", "Sheet Sync"} & names


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_misspelt_and_partial_queries_find_the_connector(catalogue: Catalogue, query: str,
                                                         expected: str) -> None:
    assert expected in _top(catalogue, query), _top(catalogue, query, 5)


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_same_queries_against_the_sandbox_catalogue(sandbox_catalogue: Catalogue, query: str,
                                                    expected: str) -> None:
    assert expected in _top(sandbox_catalogue, query), _top(sandbox_catalogue, query, 5)


def test_the_sandbox_catalogue_has_the_real_names(sandbox_catalogue: Catalogue) -> None:
    assert set(REAL_NAMES) <= {c.name for c in sandbox_catalogue}
    assert len(sandbox_catalogue) >= 1000


# -- ranking ------------------------------------------------------------------------------

def _catalogue(*names: str, drafts: tuple[str, ...] = ()) -> Catalogue:
    items = [{"Id": i + 1, "Name": n, "Version": "1.0", "Status": "Approved"} for i, n in enumerate(names)]
    items += [{"Id": 100 + i, "Name": n, "Version": "2.0", "Status": "Draft"} for i, n in enumerate(drafts)]
    return _build(items)


def test_exact_beats_prefix_beats_word_prefix_beats_substring_beats_fuzzy() -> None:
    cat = _catalogue("Mail Forms Extra", "Mail", "Mailbox", "Gmail Mail", "Acme Mailing", "Mial")
    matches = cat.matches("mail", limit=10)
    kinds = {m.connector.name: m.kind for m in matches}
    assert [m.connector.name for m in matches[:3]] == ["Mail", "Mailbox", "Mail Forms Extra"]
    assert kinds["Mail"] is MatchKind.EXACT
    assert kinds["Mailbox"] is MatchKind.PREFIX
    assert kinds["Gmail Mail"] is MatchKind.WORD_PREFIX
    assert kinds["Acme Mailing"] is MatchKind.WORD_PREFIX
    assert kinds["Mial"] is MatchKind.FUZZY
    assert matches[-1].connector.name == "Mial"
    assert [m.kind for m in matches] == sorted(m.kind for m in matches)


def test_substring_matches_rank_after_word_prefixes() -> None:
    cat = _catalogue("Gmail", "Acme Mail")
    assert [(m.connector.name, m.kind) for m in cat.matches("mail")] == [
        ("Acme Mail", MatchKind.WORD_PREFIX), ("Gmail", MatchKind.SUBSTRING)]


def test_ties_go_to_the_shorter_name_then_alphabetical() -> None:
    cat = _catalogue("Sales Pilot Pro", "Sales Hub", "Sales Box", "Salesforce")
    assert _top(cat, "sales", 4) == ["Sales Box", "Sales Hub", "Salesforce", "Sales Pilot Pro"]


def test_fuzzy_matches_are_ordered_by_score() -> None:
    matches = _catalogue("Docusign", "Dokusine", "Zendesk").matches("docusgn")
    assert [m.connector.name for m in matches][:1] == ["Docusign"]
    assert all(m.kind is MatchKind.FUZZY for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert "Zendesk" not in [m.connector.name for m in matches]


def test_drafts_are_left_out_unless_asked_for() -> None:
    cat = _catalogue("Salesforce", drafts=("Salesforce", "Sales Draft"))
    assert [c.version for c in cat.search("salesforce")] == ["1.0"]
    everything = cat.search("salesforce", installable_only=False)
    assert [c.version for c in everything] == ["2.0", "1.0"]  # newest version first
    assert _top(cat, "sales draft") == []
    assert [c.name for c in cat.search("sales draft", installable_only=False)] == ["Sales Draft"]


def test_limit_is_respected(catalogue: Catalogue) -> None:
    assert len(catalogue.search("s", limit=5)) == 5
    assert len(catalogue.search("sales", limit=100)) > 10
    assert catalogue.search("sales", limit=0) == []
    assert catalogue.search("", limit=0) == []


def test_nonsense_finds_nothing(catalogue: Catalogue) -> None:
    assert catalogue.search("qqqqxzzzjjj") == []
    assert catalogue.best_match("qqqqxzzzjjj") is None


# -- empty query --------------------------------------------------------------------------

def test_empty_query_lists_popular_connectors_first(catalogue: Catalogue) -> None:
    for query in ("", "   ", "!!", "\x00\x1b"):
        matches = catalogue.matches(query, limit=12)
        assert [m.connector.name for m in matches] == list(POPULAR[:12])
        assert {m.kind for m in matches} == {MatchKind.DEFAULT}


def test_empty_query_lists_each_name_once_without_drafts() -> None:
    cat = _catalogue("Zeta", "Alpha", "Salesforce", drafts=("Salesforce", "Beta"))
    assert [(c.name, c.version) for c in cat.search("")] == [
        ("Salesforce", "1.0"), ("Alpha", "1.0"), ("Zeta", "1.0")]
    assert [(c.name, c.version) for c in cat.search("", installable_only=False)] == [
        ("Salesforce", "2.0"), ("Alpha", "1.0"), ("Beta", "2.0"), ("Zeta", "1.0")]


# -- lookups -------------------------------------------------------------------------------

def test_get_by_id_accepts_ints_and_the_text_slack_sends_back(catalogue: Catalogue) -> None:
    hubspot = catalogue.by_name("HubSpot")
    assert hubspot is not None
    assert catalogue.get(hubspot.id) is hubspot
    assert catalogue.get(str(hubspot.id)) is hubspot
    assert catalogue.get(999_999) is None
    assert catalogue.get("not-a-number") is None


def test_by_name_ignores_case_and_punctuation_and_prefers_installable_newest() -> None:
    items = [
        {"Id": 1, "Name": "Salesforce", "Version": "1.9", "Status": "Approved"},
        {"Id": 2, "Name": "Salesforce", "Version": "1.10", "Status": "Approved"},
        {"Id": 3, "Name": "Salesforce", "Version": "3.0", "Status": "Draft"},
        {"Id": 4, "Name": "Monday.com"},
    ]
    cat = _build(items)
    found = cat.by_name(" salesFORCE ")
    assert found is not None and found.id == 2
    monday = cat.by_name("monday com")
    assert monday is not None and monday.id == 4
    assert cat.by_name("sales") is None
    assert cat.by_name("") is None


def test_best_match_preselects_only_a_confident_match(catalogue: Catalogue) -> None:
    assert _name(catalogue.best_match("hubspt")) == "HubSpot"
    assert _name(catalogue.best_match("quickbooks")) == "QuickBooks Online"
    assert _name(catalogue.best_match("Google Sheets")) == "Google Sheets"
    assert catalogue.best_match("") is None
    assert catalogue.best_match("   ") is None


def _name(connector: Connector | None) -> str | None:
    return connector.name if connector else None


# -- normalisation and robustness -------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Monday.com", "monday com"),
    ("  Zen--Desk!! ", "zen desk"),
    ("Sálesförce", "salesforce"),
    ("STRASSE Straße", "strasse strasse"),
    ("ﬁle_sync", "file sync"),
    ("tab\tnew\nline\x00nul", "tab new line nul"),
    ("", ""),
])
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected
    assert compact(text) == expected.replace(" ", "")


def test_a_huge_query_is_truncated_and_still_answers(catalogue: Catalogue) -> None:
    assert _top(catalogue, "hubspot" + "x" * 100_000) == []  # no real name is 100 characters long
    assert _top(catalogue, "HubSpot" + " " * 100_000)[:1] == ["HubSpot"]
    long_name = "a" * (MAX_QUERY_LENGTH + 50)
    assert _build([{"Id": 1, "Name": long_name}]).search(long_name + "zzz")[0].name == long_name


def test_lone_surrogates_and_combining_marks_do_not_raise(catalogue: Catalogue) -> None:
    assert catalogue.search("\ud800hubspot\udfff")[0].name == "HubSpot"
    assert catalogue.search("\u0301\u0301\u0301") == catalogue.search("")
    assert catalogue.search("ﷺ" * 500) is not None


_SMALL = _catalogue(*REAL_NAMES, drafts=("Salesforce", "Draft Thing"))


@settings(max_examples=200, deadline=None)
@given(query=st.text(max_size=300), limit=st.integers(min_value=-5, max_value=60),
       installable_only=st.booleans())
def test_any_text_gets_an_answer(query: str, limit: int, installable_only: bool) -> None:
    cat = _SMALL
    results = cat.search(query, limit=limit, installable_only=installable_only)
    assert len(results) <= max(limit, 0)
    assert len({id(c) for c in results}) == len(results)
    if installable_only:
        assert all(c.is_installable for c in results)


def test_connectors_with_empty_or_odd_names_are_searchable_or_ignored() -> None:
    cat = _build([{"Id": 1, "Name": "!!!"}, {"Id": 2, "Name": "日本語 Connector"}, {"Id": 3}])
    assert _top(cat, "日本語") == ["日本語 Connector"]
    assert _top(cat, "connector") == ["Connector 3", "日本語 Connector"]  # prefix, then word prefix
    assert len(cat.search("")) == 3
