"""The sandbox's template library: integration templates over the sample connectors.

Each template is a list of steps, ``"Connector name: Step name"``, over connectors of the
shipped catalogue, so that installing one installs real sandbox connectors of every auth
kind: OAuth (sign-in link), API key and Basic (a value entered in Slack), no auth or
client credentials (authenticated at once), and a few that only the Cyclr console could
set up (``AuthFields``). Some templates carry *console-only prerequisites* (a missing
mapping and the like, cyclr-api.md §9.2) that the bot can name but never fix.

The library is deterministic: ids are UUID5s of the names, so a template has the same id in
every sandbox. ``CyclrSandbox(templates=...)`` replaces it with mappings of the same shape
as :data:`TEMPLATE_LIBRARY`'s entries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .apierror import ApiError

__all__ = [
    "CONSOLE_REASONS",
    "TEMPLATE_LIBRARY",
    "ConsolePrerequisite",
    "TemplateRecord",
    "TemplateStep",
    "build_templates",
    "require_installable",
    "template_id",
]

_NAMESPACE = uuid.UUID("6f1b8f0e-3c61-4d2b-9a53-4f1f6d0c2a11")

#: Cyclr's ``Reason`` for each prerequisite code (code 20 is computed from the connectors).
CONSOLE_REASONS: Mapping[int, str] = {
    0: "Unknown",
    10: "Cycle requires at least two steps",
    11: "Steps not connected",
    20: "Unauthenticated connector",
    30: "Missing mapping",
    31: "Missing decision criteria",
    32: "Missing delay period",
    33: "Missing wait until date",
    40: "Missing parameter mapping",
    41: "Missing field mapping",
    42: "Missing collection key",
    43: "Missing webhook key",
    50: "Missing operand",
    51: "Invalid operand",
    60: "Missing delay unit",
    61: "Missing delay interval",
    70: "Invalid wait until date",
}


def _t(
    name: str,
    description: str,
    tags: Sequence[str],
    steps: Sequence[str],
    prerequisites: Sequence[tuple[int, int]] = (),
) -> dict[str, Any]:
    """One library entry; ``prerequisites`` are ``(reason code, step index)`` pairs."""
    return {
        "Name": name,
        "Description": description,
        "Tags": list(tags),
        "Steps": list(steps),
        "Prerequisites": [{"ReasonCode": code, "Step": step} for code, step in prerequisites],
    }


TEMPLATE_LIBRARY: tuple[Mapping[str, Any], ...] = (
    _t(
        "Salesforce > Slack: new opportunities",
        "Post a message to a Slack channel when an opportunity is created in Salesforce.",
        ("Sales", "Alerts"),
        ("Salesforce: Opportunity Created", "Slack: Post Message"),
    ),
    _t(
        "HubSpot > Mailchimp: sync contacts",
        "Add new and updated HubSpot contacts to a Mailchimp audience.",
        ("Marketing",),
        ("HubSpot: Get Updated Contacts", "Mailchimp: Add or Update Subscriber"),
    ),
    _t(
        "Pipedrive > Mailchimp",
        "Subscribe people added in Pipedrive to a Mailchimp list.",
        ("Marketing", "Sales"),
        ("Pipedrive: Person Added", "Mailchimp: Add or Update Subscriber"),
    ),
    _t(
        "Stripe > Xero: invoices",
        "Create Xero invoices from paid Stripe invoices.",
        ("Finance",),
        ("Stripe: Invoice Paid", "Xero: Create Invoice", "Xero: Apply Payment"),
    ),
    _t(
        "Shopify > QuickBooks Online: orders",
        "Record every Shopify order as a sales receipt in QuickBooks Online.",
        ("E-Commerce", "Finance"),
        ("Shopify: Order Created", "QuickBooks Online: Create Sales Receipt"),
    ),
    _t(
        "Zendesk > Jira: escalate tickets",
        "Open a Jira issue when a Zendesk ticket is tagged for engineering.",
        ("Support", "Engineering"),
        ("Zendesk: Ticket Updated", "Jira: Create Issue", "Zendesk: Add Comment"),
    ),
    _t(
        "Webhook > Slack: alerts",
        "Post any JSON sent to a webhook URL into a Slack channel.",
        ("Alerts",),
        ("Webhook: Receive", "Slack: Post Message"),
    ),
    _t(
        "Webhook > HTTP: forward events",
        "Forward webhook events to another HTTP endpoint, unchanged.",
        ("Developer Tools",),
        ("Webhook: Receive", "HTTP: POST Request"),
    ),
    _t(
        "Jira > Slack: issue updates",
        "Tell a Slack channel when a Jira issue changes status.",
        ("Engineering", "Alerts"),
        ("Jira: Issue Updated", "Slack: Post Message"),
    ),
    _t(
        "Stripe > Mailchimp: customers",
        "Add new Stripe customers to a Mailchimp audience.",
        ("Marketing", "Finance"),
        ("Stripe: Customer Created", "Mailchimp: Add or Update Subscriber"),
    ),
    _t(
        "Twilio > Zendesk: SMS to tickets",
        "Turn inbound SMS messages into Zendesk tickets.",
        ("Support",),
        ("Twilio: Incoming Message", "Zendesk: Create Ticket"),
    ),
    _t(
        "Calendly > Salesforce: meetings",
        "Log Calendly bookings as Salesforce events on the matching contact.",
        ("Sales",),
        ("Calendly: Invitee Created", "Salesforce: Find Contact", "Salesforce: Create Event"),
    ),
    _t(
        "Google Sheets > HubSpot: import contacts",
        "Create or update HubSpot contacts from rows added to a Google Sheet.",
        ("Marketing",),
        ("Google Sheets: Row Added", "HubSpot: Create or Update Contact"),
    ),
    _t(
        "Greenhouse > BambooHR: new hires",
        "Create BambooHR employees from candidates hired in Greenhouse.",
        ("HR",),
        ("Greenhouse: Candidate Hired", "BambooHR: Add Employee"),
    ),
    _t(
        "Marketo > Salesforce: leads",
        "Send Marketo leads that reach MQL to Salesforce.",
        ("Marketing", "Sales"),
        ("Marketo: Get Leads by Filter", "Salesforce: Create Lead"),
    ),
    _t(
        "Zuora > NetSuite: invoices",
        "Copy posted Zuora invoices into NetSuite.",
        ("Finance",),
        ("Zuora: Invoice Posted", "NetSuite: Create Invoice"),
    ),
    _t(
        "Amazon S3 > Snowflake: nightly load",
        "Load the CSV files dropped in an S3 bucket into a Snowflake table every night.",
        ("Data",),
        ("Amazon S3: List Objects", "Snowflake: Insert Rows"),
    ),
    _t(
        "SendGrid > Slack: bounced emails",
        "Warn a Slack channel about hard bounces reported by SendGrid.",
        ("Alerts", "Marketing"),
        ("SendGrid: Bounce Event", "Slack: Post Message"),
    ),
    _t(
        "Freshdesk > Slack: urgent tickets",
        "Post urgent Freshdesk tickets to a Slack channel.",
        ("Support", "Alerts"),
        ("Freshdesk: Ticket Created", "Slack: Post Message"),
    ),
    _t(
        "Monday.com > Google Calendar: deadlines",
        "Add monday.com item deadlines to a Google Calendar.",
        ("Productivity",),
        ("Monday.com: Item Updated", "Google Calendar: Create Event"),
    ),
    _t(
        "ActiveCampaign > Salesforce: contacts",
        "Sync ActiveCampaign contacts to Salesforce leads.",
        ("Marketing", "Sales"),
        ("ActiveCampaign: Contact Updated", "Salesforce: Create or Update Lead"),
    ),
    _t(
        "Chargebee > Xero: payments",
        "Record Chargebee payments in Xero.",
        ("Finance",),
        ("Chargebee: Payment Succeeded", "Xero: Create Payment"),
    ),
    _t(
        "Square > QuickBooks Online: daily sales",
        "Summarise each day's Square sales in QuickBooks Online.",
        ("Finance", "E-Commerce"),
        ("Square: List Payments", "QuickBooks Online: Create Journal Entry"),
    ),
    _t(
        "Eventbrite > Mailchimp: attendees",
        "Add Eventbrite attendees to a Mailchimp audience, tagged by event.",
        ("Marketing", "Events"),
        ("Eventbrite: Attendee Registered", "Mailchimp: Add or Update Subscriber", "Mailchimp: Add Tag"),
    ),
    _t(
        "DocuSign > Salesforce: signed contracts",
        "Close the Salesforce opportunity when its DocuSign envelope is completed.",
        ("Sales",),
        ("DocuSign: Envelope Completed", "Salesforce: Update Opportunity"),
    ),
    _t(
        "Zoom > HubSpot: webinar attendees",
        "Create HubSpot contacts for Zoom webinar attendees.",
        ("Marketing", "Events"),
        ("Zoom: Webinar Ended", "Zoom: List Attendees", "HubSpot: Create or Update Contact"),
    ),
    _t(
        "GitHub > Jira: pull requests",
        "Link merged GitHub pull requests to their Jira issues.",
        ("Engineering",),
        ("GitHub: Pull Request Merged", "Jira: Add Comment"),
    ),
    _t(
        "Okta > Slack: new users",
        "Welcome new Okta users in a Slack channel.",
        ("IT", "Alerts"),
        ("Okta: User Created", "Slack: Post Message"),
    ),
    _t(
        "Facebook Lead Ads > HubSpot: leads",
        "Create HubSpot contacts from Facebook lead ad forms.",
        ("Marketing",),
        ("Facebook Lead Ads: New Lead", "HubSpot: Create or Update Contact"),
    ),
    _t(
        "Typeform > Google Sheets: responses",
        "Append each Typeform response to a Google Sheet.",
        ("Productivity",),
        ("Typeform: New Response", "Google Sheets: Append Row"),
    ),
    _t(
        "Intercom > Jira: bug reports",
        "Raise Jira bugs from Intercom conversations tagged 'bug'.",
        ("Support", "Engineering"),
        ("Intercom: Conversation Tagged", "Jira: Create Issue"),
    ),
    _t(
        "Klaviyo > Shopify: customer tags",
        "Tag Shopify customers with their Klaviyo segments.",
        ("E-Commerce", "Marketing"),
        ("Klaviyo: Profile Added to Segment", "Shopify: Update Customer"),
    ),
    _t(
        "Shopify > Xero > Slack: order to invoice",
        "Invoice Shopify orders in Xero and tell a Slack channel about large ones.",
        ("E-Commerce", "Finance", "Alerts"),
        ("Shopify: Order Created", "Xero: Create Invoice", "Slack: Post Message"),
    ),
    _t(
        "Salesforce > Google Sheets: weekly pipeline",
        "Export open Salesforce opportunities to a Google Sheet every week.",
        ("Sales", "Reporting"),
        ("Salesforce: Get Open Opportunities", "Google Sheets: Clear Sheet", "Google Sheets: Append Rows"),
        prerequisites=((30, 2),),
    ),
    _t(
        "HubSpot > Salesforce: two-way contact sync",
        "Keep HubSpot contacts and Salesforce contacts in step, both ways.",
        ("Sales", "Marketing"),
        (
            "HubSpot: Get Updated Contacts",
            "Salesforce: Find Contact",
            "Salesforce: Update Contact",
            "Salesforce: Get Updated Contacts",
            "HubSpot: Update Contact",
        ),
        prerequisites=((31, 1), (41, 4)),
    ),
    _t(
        "Webhook > Stripe: create customers",
        "Create Stripe customers from sign-ups posted to a webhook.",
        ("Finance", "Developer Tools"),
        ("Webhook: Receive", "Stripe: Create Customer"),
        prerequisites=((40, 1),),
    ),
)


@dataclass(frozen=True, slots=True)
class TemplateStep:
    name: str
    connector: Mapping[str, Any]  #: the catalogue entry (shared, read-only)


@dataclass(frozen=True, slots=True)
class ConsolePrerequisite:
    """A prerequisite only the console fixes, on the template's step at ``step`` (0-based)."""

    code: int
    step: int

    @property
    def reason(self) -> str:
        return CONSOLE_REASONS.get(self.code, CONSOLE_REASONS[0])


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    id: str
    name: str
    description: str | None
    tags: tuple[str, ...]
    steps: tuple[TemplateStep, ...]
    console: tuple[ConsolePrerequisite, ...]

    def connectors(self) -> list[tuple[Mapping[str, Any], int]]:
        """Each connector the template uses (in order of first use) and its number of steps."""
        counts: dict[int, int] = {}
        entries: dict[int, Mapping[str, Any]] = {}
        for step in self.steps:
            connector_id = int(step.connector["Id"])
            entries.setdefault(connector_id, step.connector)
            counts[connector_id] = counts.get(connector_id, 0) + 1
        return [(entries[cid], counts[cid]) for cid in entries]

    def to_api(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Name": self.name,
            "Description": self.description,
            "Tags": list(self.tags),
            "Connectors": [
                {
                    "Id": int(connector["Id"]),
                    "Name": connector.get("Name"),
                    "Version": connector.get("Version"),
                    "StepCount": count,
                    "Icon": None,
                }
                for connector, count in self.connectors()
            ],
        }


def template_id(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, name))


def _steps(
    name: str, entry: Mapping[str, Any], find_connector: Callable[[str], Mapping[str, Any] | None]
) -> list[TemplateStep] | None:
    """The entry's steps; ``None`` when one names a connector the catalogue lacks."""
    steps: list[TemplateStep] = []
    for text in entry.get("Steps") or []:
        connector_name, sep, _step = str(text).partition(": ")
        if not sep:
            raise ValueError(f"template {name!r}: a step must read 'Connector: Step', not {text!r}")
        connector = find_connector(connector_name.strip())
        if connector is None:
            return None
        steps.append(TemplateStep(str(text), connector))
    if not steps:
        raise ValueError(f"template {name!r} has no steps")
    return steps


def build_templates(
    entries: Iterable[Mapping[str, Any]],
    find_connector: Callable[[str], Mapping[str, Any] | None],
    *,
    skip_unresolved: bool = False,
) -> list[TemplateRecord]:
    """Resolve library entries against a catalogue; ValueError for a malformed entry.

    A template with a step whose connector the catalogue lacks is left out with
    ``skip_unresolved``, else it is a ValueError too.
    """
    out: list[TemplateRecord] = []
    for entry in entries:
        name = str(entry["Name"])
        steps = _steps(name, entry, find_connector)
        if steps is None:
            if skip_unresolved:
                continue
            raise ValueError(f"template {name!r} uses a connector that is not in the catalogue")
        console = []
        for item in entry.get("Prerequisites") or []:
            prerequisite = ConsolePrerequisite(int(item["ReasonCode"]), int(item.get("Step") or 0))
            if prerequisite.code == 20 or not 0 <= prerequisite.step < len(steps):
                raise ValueError(f"template {name!r}: bad prerequisite {item!r}")
            console.append(prerequisite)
        out.append(
            TemplateRecord(
                id=str(entry.get("Id") or template_id(name)),
                name=name,
                description=entry.get("Description"),
                tags=tuple(str(t) for t in entry.get("Tags") or ()),
                steps=tuple(steps),
                console=tuple(console),
            )
        )
    return out


def require_installable(template: TemplateRecord) -> None:
    """Cyclr refuses a template whose connectors include a draft (nothing is installed)."""
    for connector, _count in template.connectors():
        if str(connector.get("Status") or "").strip().lower() == "draft":
            raise ApiError(400, f"Connector {int(connector['Id'])} is a draft and cannot be installed.")
