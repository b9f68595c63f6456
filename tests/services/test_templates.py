"""The template library's matching and its per-process copy."""

from __future__ import annotations

import threading
import time

import pytest

from bot.cyclr.models import Template, TemplateConnector
from bot.services.templates import TemplateLibrary, rank_templates


def template(name: str, *connectors: str) -> Template:
    return Template(
        id=name.casefold().replace(" ", "-"),
        name=name,
        connectors=tuple(TemplateConnector(i, c) for i, c in enumerate(connectors, 1)),
    )


LIBRARY = [
    template("Salesforce > Slack: new opportunities", "Salesforce", "Slack"),
    template("HubSpot > Mailchimp: sync contacts", "HubSpot", "Mailchimp"),
    template("Webhook > HTTP: forward events", "Webhook", "HTTP"),
    template("Google Sheets > HubSpot: import contacts", "Google Sheets", "HubSpot"),
]


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("salesforc", "Salesforce > Slack: new opportunities"),
        ("hubspt mailchimp", "HubSpot > Mailchimp: sync contacts"),
        ("hub spot mailchimp", "HubSpot > Mailchimp: sync contacts"),
        ("webhook http", "Webhook > HTTP: forward events"),
        ("sheets", "Google Sheets > HubSpot: import contacts"),
    ],
)
def test_typos_and_part_words_find_the_template(query: str, best: str) -> None:
    assert rank_templates(LIBRARY, query)[0].name == best


def test_every_word_must_match_and_nothing_matches_nonsense() -> None:
    assert [t.name for t in rank_templates(LIBRARY, "hubspot")] == [
        "HubSpot > Mailchimp: sync contacts",
        "Google Sheets > HubSpot: import contacts",
    ]
    assert rank_templates(LIBRARY, "zzqxv") == []
    assert len(rank_templates(LIBRARY, "", limit=3)) == 3


def test_one_fetch_for_many_callers_and_a_bounded_wait() -> None:
    release = threading.Event()
    calls: list[str] = []

    def fetch(account: str) -> list[Template]:
        calls.append(account)
        release.wait(5)
        return LIBRARY

    library = TemplateLibrary(fetch, ttl=60)
    with pytest.raises(TimeoutError):
        library.get("acc", wait=0.05)
    with pytest.raises(TimeoutError):
        library.get("acc", wait=0.05)
    release.set()
    assert library.get("acc") == tuple(LIBRARY)
    assert library.search("acc", "slack", wait=0.05)[0].name.startswith("Salesforce")
    time.sleep(0.01)
    assert calls == ["acc"]


def test_only_the_most_recently_used_accounts_are_kept() -> None:
    calls: list[str] = []

    def fetch(account: str) -> list[Template]:
        calls.append(account)
        return LIBRARY

    library = TemplateLibrary(fetch, ttl=60, max_accounts=2)
    for account in ("a", "b", "a", "c"):  # "b" is the least recently used when "c" arrives
        library.get(account)
    library.get("a")
    assert calls == ["a", "b", "c"]
    library.get("b")
    assert calls == ["a", "b", "c", "b"]
