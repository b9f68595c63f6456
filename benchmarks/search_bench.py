"""Benchmark connector search: ``python -m benchmarks.search_bench [--rounds N] [--file PATH | --generated]``.

Loads the sandbox catalogue (``bot/cyclr/sandbox/data/catalogue.json``) when it exists, else
:func:`generated_catalogue` (about 85 real connector names among 1,000 look-alike names).
Prints the build time of one :class:`~bot.services.catalogue.Catalogue` snapshot and the
latency percentiles of a varied query mix (typos, prefixes, empty, long, junk), and the
cost of a cache hit.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from bot.cyclr.models import Connector
from bot.services.catalogue import Catalogue, CatalogueCache

__all__ = ["DISTRACTOR_WORDS", "REAL_NAMES", "SANDBOX_CATALOGUE", "generated_catalogue",
           "load_catalogue_data", "query_mix", "main"]

SANDBOX_CATALOGUE = Path(__file__).resolve().parent.parent / "bot/cyclr/sandbox/data/catalogue.json"

#: Real connector names every catalogue used for search quality must contain.
REAL_NAMES: tuple[str, ...] = (
    "Salesforce", "HubSpot", "Google Sheets", "Google Drive", "Google Calendar", "Gmail", "Slack",
    "Mailchimp", "Shopify", "Stripe", "Xero", "QuickBooks Online", "Zendesk", "Jira", "Confluence",
    "Trello", "Asana", "Monday.com", "Microsoft Dynamics 365", "Microsoft Teams", "Microsoft Outlook",
    "Microsoft OneDrive", "SharePoint", "Dropbox", "Box", "Twilio", "SendGrid", "Intercom", "Freshdesk",
    "Pipedrive", "Zoho CRM", "Marketo", "Pardot", "ActiveCampaign", "Klaviyo", "WooCommerce", "Magento",
    "BigCommerce", "NetSuite", "Sage Intacct", "FreshBooks", "PayPal", "Square", "Airtable", "Notion",
    "GitHub", "GitLab", "Bitbucket", "Zoom", "DocuSign", "Typeform", "SurveyMonkey", "Calendly",
    "Eventbrite", "LinkedIn", "Facebook Lead Ads", "Twitter", "Instagram", "Constant Contact",
    "Campaign Monitor", "ServiceNow", "Workday", "BambooHR", "Greenhouse", "Okta", "Amazon S3",
    "Google BigQuery", "Snowflake", "PostgreSQL", "MySQL", "Microsoft SQL Server", "Webhook", "HTTP",
    "Chargebee", "Recurly", "Zuora", "Gorgias", "Help Scout", "Front", "Copper", "Insightly", "Keap",
    "Salesloft", "Outreach", "Gong",
)

#: Word lists for look-alike names; chosen to collide with the real names' parts
#: ("Sales Pilot", "Hub Forms", "Sheet Sync", "Google Forms"...).
DISTRACTOR_WORDS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("Acme", "Nimbus", "Sales", "Hub", "Sheet", "Mail", "Zen", "Quick", "Cloud", "Data", "Team", "Box",
     "Pipe", "Lead", "Ledger", "Form", "Survey", "Task", "Flow", "Sync", "Pay", "Shop", "Doc", "Sign",
     "Point", "Stack", "Bright", "Swift", "Blue", "Green", "Micro", "Google", "Big", "Fresh", "Help",
     "Service", "Zoho", "Campaign", "Git", "Drop", "Monday", "Smart", "Open", "Net", "Event", "Chat"),
    ("Forms", "Ledger", "Sync", "Pilot", "Desk", "Hub", "Books", "Sheets", "Drive", "Mail", "Cloud",
     "Connect", "CRM", "Teams", "Query", "Force", "Point", "Flow", "Pay", "Box", "Chat", "Track", "Base",
     "Signal", "Spot", "Scout", "Suite", "Commerce", "Calendar", "Monitor", "Lab", "Metrics", "Ads",
     "Notes", "Tickets", "Portal", "Insights", "Works", "Stream", "Vault"),
)


def _connector_json(connector_id: int, name: str, *, status: str = "Approved", version: str = "1.0",
                    auth_type: str = "OAuth2") -> dict[str, Any]:
    return {"Id": connector_id, "Name": name, "Description": f"{name} connector", "Version": version,
            "Status": status, "AuthType": auth_type}


def generated_catalogue(distractors: int = 1000, *, seed: int = 7) -> list[dict[str, Any]]:
    """A deterministic Cyclr-shaped catalogue: the real names, a few drafts and old versions,
    and ``distractors`` two-word names (three words for some) that share their parts."""
    real_compact = {n.lower().replace(" ", "").replace(".", "") for n in REAL_NAMES}
    rng = random.Random(seed)
    firsts, seconds = DISTRACTOR_WORDS
    pool = [f"{a} {b}" for a in firsts for b in seconds if a != b]
    pool += [f"{a} {b} {c}" for a in firsts[:12] for b in firsts[12:24] for c in seconds[:10]]
    rng.shuffle(pool)
    names = [n for n in pool if n.lower().replace(" ", "") not in real_compact][:distractors]
    data = [_connector_json(1000 + i, name) for i, name in enumerate(REAL_NAMES)]
    # Old versions and drafts of real connectors: searches must not list the drafts by default.
    data.append(_connector_json(900, "Salesforce", version="0.9"))
    data.append(_connector_json(901, "Salesforce", status="Draft", version="3.0"))
    data.append(_connector_json(902, "HubSpot Beta", status="Draft"))
    auth_types = ("OAuth2", "ApiKey", "Basic", "None")
    for i, name in enumerate(names):
        status = "Draft" if i % 25 == 0 else "Approved"
        data.append(_connector_json(5000 + i, name, status=status, auth_type=auth_types[i % 4]))
    return data


def load_catalogue_data(path: Path | None = None) -> tuple[list[dict[str, Any]], str]:
    """The sandbox catalogue JSON if present (or ``path``), else the generated one; and its origin."""
    source = path or SANDBOX_CATALOGUE
    if source.is_file():
        raw = json.loads(source.read_text(encoding="utf-8"))
        items = raw.get("Connectors", raw) if isinstance(raw, dict) else raw
        return [item for item in items if isinstance(item, dict)], str(source)
    return generated_catalogue(), "generated"


def query_mix(count: int = 200, *, seed: int = 11) -> list[str]:
    """Typos, prefixes as typed, spaced and compact forms, empty, long and junk queries."""
    rng = random.Random(seed)
    fixed = ["", " ", "salesforc", "hub spot", "hubspt", "gsheets", "g sheets", "google sheet",
             "quickbooks", "ms teams", "dynamics", "mail chimp", "zen desk", "sharepoint online",
             "monday", "big query", "s3", "docusgn", "salesfroce", "x" * 5000, "🙂 émoji ünïcode",
             "\x00\x1b[31m", "a", "zz", "connector", "google", "microsoft", "sync forms hub"]
    queries = list(fixed)
    while len(queries) < count:
        name = rng.choice(REAL_NAMES + DISTRACTOR_WORDS[0] + DISTRACTOR_WORDS[1]).lower()
        style = rng.randrange(4)
        if style == 0:  # a prefix, as typed
            queries.append(name[: rng.randint(1, len(name))])
        elif style == 1 and len(name) > 3:  # one dropped letter
            cut = rng.randrange(len(name))
            queries.append(name[:cut] + name[cut + 1:])
        elif style == 2 and len(name) > 3:  # one swapped pair
            cut = rng.randrange(len(name) - 1)
            queries.append(name[:cut] + name[cut + 1] + name[cut] + name[cut + 2:])
        else:
            queries.append(name.replace(" ", ""))
    return queries[:count]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10, help="passes over the query mix")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--file", type=Path, default=None, help="a catalogue JSON list to load")
    parser.add_argument("--generated", action="store_true", help="use the generated catalogue")
    args = parser.parse_args(argv)

    data, origin = (generated_catalogue(), "generated") if args.generated else load_catalogue_data(args.file)
    connectors = [Connector.from_api(item) for item in data]
    builds = []
    for _ in range(5):
        started = time.perf_counter()
        catalogue = Catalogue(connectors)
        builds.append(time.perf_counter() - started)
    queries = query_mix(args.queries)
    for query in queries:  # warm-up
        catalogue.search(query)
    samples: list[float] = []
    started = time.perf_counter()
    for _ in range(args.rounds):
        for query in queries:
            t0 = time.perf_counter()
            catalogue.search(query)
            samples.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started

    cache = CatalogueCache(lambda account_id: connectors)
    cache.get("bench")
    gets = 100_000
    t0 = time.perf_counter()
    for _ in range(gets):
        cache.get("bench")
    per_get = (time.perf_counter() - t0) / gets
    ms = [s * 1000 for s in samples]
    print(f"catalogue: {len(catalogue)} connectors ({origin})")
    print(f"build: {statistics.median(builds) * 1000:.1f} ms (median of {len(builds)})")
    print(f"search: {len(samples)} queries ({len(queries)} x {args.rounds} rounds)")
    print(f"  p50 {_percentile(ms, 0.50):.3f} ms  p95 {_percentile(ms, 0.95):.3f} ms  "
          f"p99 {_percentile(ms, 0.99):.3f} ms  max {max(ms):.3f} ms")
    print(f"  {len(samples) / elapsed:,.0f} queries/s (one thread)")
    print(f"cache.get() of a fresh snapshot: {per_get * 1e6:.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
