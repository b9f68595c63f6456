#!/usr/bin/env python3
"""Write the Cyclr sandbox's sample catalogue, ``bot/cyclr/sandbox/data/catalogue.json``.

Deterministic: the same script always writes the same bytes (a fixed seed, no clock).
The catalogue holds well-known connectors under their exact names (search tests rely on
them) and about a thousand generated SaaS-like ones, spread over every auth type Cyclr
is known to send (cyclr-api.md §4), including multi-auth ``Authentication[]`` entries,
required account-connector properties, drafts and betas. Connectors are shuffled before
Ids are given, so well-known ones land on every page of a paged listing.

    python scripts/make_sandbox_catalogue.py           # write the file
    python scripts/make_sandbox_catalogue.py --check   # exit 1 if the file is out of date
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from pathlib import Path
from typing import Any

SEED = 20_240_601
GENERATED_COUNT = 1_020
FIRST_ID = 5_001
OUTPUT = Path(__file__).resolve().parent.parent / "bot" / "cyclr" / "sandbox" / "data" / "catalogue.json"

# A 1x1 transparent PNG: the one icon shared by the connectors that have one.
ICON = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

# Auth codes: oauth2, apikey, basic, cc (OAuth2 client credentials), oauth1, none, authfields,
# kerberos, netsuite, password (OAuth2 password credentials); "a+b" = Authentication[] of two.
AUTH: dict[str, dict[str, Any]] = {
    "oauth2": {
        "AuthType": "OAuth2",
        "OAuth2Type": "AuthorisationCode",
        "AuthScheme": "Bearer",
        "AuthName": "OAuth 2.0",
        "AuthDescription": "Sign in with your {name} account.",
    },
    "cc": {
        "AuthType": "OAuth2",
        "OAuth2Type": "ClientCredentials",
        "AuthScheme": "Bearer",
        "AuthName": "OAuth 2.0 Client Credentials",
        "AuthDescription": None,
    },
    "password": {
        "AuthType": "OAuth2",
        "OAuth2Type": "PasswordCredentials",
        "AuthScheme": "Bearer",
        "AuthName": "OAuth 2.0 Password",
        "AuthDescription": "Your {name} user name and password.",
    },
    "oauth1": {
        "AuthType": "OAuth1",
        "OAuth2Type": "Unknown",
        "AuthScheme": "Authorization",
        "AuthName": "OAuth 1.0a",
        "AuthDescription": "Sign in with your {name} account.",
    },
    "netsuite": {
        "AuthType": "NetSuiteOAuth1",
        "OAuth2Type": "Unknown",
        "AuthScheme": "Authorization",
        "AuthName": "Token-Based Authentication",
        "AuthDescription": "Sign in with your NetSuite role.",
    },
    "apikey": {
        "AuthType": "ApiKey",
        "OAuth2Type": "Unknown",
        "AuthScheme": "Authorization",
        "AuthName": "API Key",
        "AuthDescription": "Your {name} API key, found under Settings > API.",
    },
    "basic": {
        "AuthType": "Basic",
        "OAuth2Type": "Unknown",
        "AuthScheme": "Basic",
        "AuthName": "Username and Password",
        "AuthDescription": "Your {name} user name and password.",
    },
    "none": {
        "AuthType": "None",
        "OAuth2Type": "Unknown",
        "AuthScheme": None,
        "AuthName": "No Authentication",
        "AuthDescription": None,
    },
    "authfields": {
        "AuthType": "AuthFields",
        "OAuth2Type": "Unknown",
        "AuthScheme": None,
        "AuthName": "Credentials",
        "AuthDescription": "The credentials {name} issues to you.",
    },
    "kerberos": {
        "AuthType": "Kerberos",
        "OAuth2Type": "Unknown",
        "AuthScheme": "Negotiate",
        "AuthName": "Kerberos",
        "AuthDescription": "A Kerberos principal with access to {name}.",
    },
}

# Parameter specs: (Name, TargetName, required, sensitive, values, description).
PARAMS: dict[str, tuple[str, str, bool, bool, tuple[str, ...], str]] = {
    "subdomain": (
        "Subdomain",
        "Subdomain",
        True,
        False,
        (),
        "Your {name} subdomain, e.g. 'acme' in acme.example.com.",
    ),
    "region": (
        "Region",
        "Region",
        True,
        False,
        ("US", "EU", "AU"),
        "The region your {name} account is hosted in.",
    ),
    "zoho_region": (
        "Data Centre",
        "Region",
        True,
        False,
        ("com", "eu", "in", "com.au", "jp"),
        "The Zoho data centre of your account.",
    ),
    "aws_region": (
        "Region",
        "Region",
        True,
        False,
        ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"),
        "The AWS region.",
    ),
    "workday_dc": (
        "Data Center",
        "DataCenter",
        True,
        False,
        ("wd2-impl-services1", "wd3-services1", "wd5-services1"),
        "The Workday data center of your tenant.",
    ),
    "shop": (
        "Shop Name",
        "ShopName",
        True,
        False,
        (),
        "The name of your shop, e.g. 'acme' in acme.myshopify.com.",
    ),
    "instance": (
        "Instance Name",
        "InstanceName",
        True,
        False,
        (),
        "Your instance name, e.g. 'acme' in acme.service-now.com.",
    ),
    "org_url": (
        "Organisation URL",
        "OrganisationUrl",
        True,
        False,
        (),
        "Your Dynamics 365 URL, e.g. https://acme.crm.dynamics.com.",
    ),
    "tenant": ("Tenant", "Tenant", True, False, (), "Your Microsoft 365 tenant name or ID."),
    "munchkin": (
        "Munchkin ID",
        "MunchkinId",
        True,
        False,
        (),
        "Your Marketo Munchkin account ID, e.g. 123-ABC-456.",
    ),
    "business_unit": (
        "Business Unit ID",
        "BusinessUnitId",
        True,
        False,
        (),
        "Your Pardot business unit ID (starts 0Uv).",
    ),
    "account_name": (
        "Account Name",
        "AccountName",
        True,
        False,
        (),
        "Your account name as it appears in your {name} URL.",
    ),
    "store_url": (
        "Store URL",
        "StoreUrl",
        True,
        False,
        (),
        "The base URL of your store, e.g. https://shop.acme.com.",
    ),
    "store_hash": ("Store Hash", "StoreHash", True, False, (), "The store hash from your {name} API path."),
    "account_id": ("Account ID", "AccountId", True, False, (), "Your {name} account ID."),
    "company_id": ("Company ID", "CompanyId", True, False, (), "Your {name} company ID."),
    "okta_domain": ("Okta Domain", "OktaDomain", True, False, (), "Your Okta domain, e.g. acme.okta.com."),
    "project_id": (
        "Project ID",
        "ProjectId",
        True,
        False,
        (),
        "The Google Cloud project that holds your datasets.",
    ),
    "account_identifier": (
        "Account Identifier",
        "AccountIdentifier",
        True,
        False,
        (),
        "Your Snowflake account identifier.",
    ),
    "host": ("Host", "Host", True, False, (), "The database server's host name."),
    "port": ("Port", "Port", False, False, (), "The database server's port, if not the default."),
    "site": ("Site", "Site", True, False, (), "Your {name} site name, e.g. 'acme' in acme.chargebee.com."),
    "user_email": (
        "User Email",
        "UserEmail",
        True,
        False,
        (),
        "The email address of the user the API key belongs to.",
    ),
    "client_id": ("Client ID", "ClientId", True, False, (), "The client ID of your {name} app."),
    "client_secret": (
        "Client Secret",
        "ClientSecret",
        True,
        True,
        (),
        "The client secret of your {name} app.",
    ),
    "environment": (
        "Environment",
        "Environment",
        False,
        False,
        ("Production", "Sandbox"),
        "Which {name} environment to use.",
    ),
    "instance_type": (
        "Instance Type",
        "InstanceType",
        False,
        False,
        ("Production", "Sandbox"),
        "Connect to a production org or a sandbox.",
    ),
    "api_version": ("API Version", "ApiVersion", False, False, (), "Override the {name} API version."),
    "endpoint": (
        "Endpoint URL",
        "EndpointUrl",
        False,
        False,
        (),
        "Set per method; not an account connector property.",
    ),
}
# Parameters that belong to methods, not to the account connector.
NON_ACCOUNT_PARAMS = {"endpoint"}

# name: (version, categories, description, auth, params)
WELL_KNOWN: list[tuple[str, str, tuple[str, ...], str, str, tuple[str, ...]]] = [
    (
        "Salesforce",
        "v2",
        ("CRMs",),
        "Sync accounts, contacts, leads and opportunities with Salesforce Sales Cloud.",
        "oauth2",
        ("instance_type",),
    ),
    (
        "HubSpot",
        "v3",
        ("CRMs", "Marketing Automation"),
        "Manage HubSpot contacts, companies, deals and marketing emails.",
        "oauth2",
        (),
    ),
    (
        "Google Sheets",
        "v4",
        ("Productivity",),
        "Read, append and update rows in Google Sheets spreadsheets.",
        "oauth2",
        (),
    ),
    (
        "Google Drive",
        "v3",
        ("File Storage",),
        "Upload, download and organise files and folders in Google Drive.",
        "oauth2",
        (),
    ),
    (
        "Google Calendar",
        "v3",
        ("Productivity", "Scheduling"),
        "Create, update and watch events on Google Calendar.",
        "oauth2",
        (),
    ),
    ("Gmail", "v1", ("Email",), "Send, read and label email messages in Gmail.", "oauth2", ()),
    (
        "Slack",
        "v2",
        ("Communication",),
        "Post messages, manage channels and react to events in Slack workspaces.",
        "oauth2",
        (),
    ),
    (
        "Mailchimp",
        "v3",
        ("Email Marketing",),
        "Manage Mailchimp audiences, subscribers, tags and campaigns.",
        "apikey",
        (),
    ),
    (
        "Shopify",
        "2024-01",
        ("E-Commerce",),
        "Sync Shopify orders, products, customers and inventory.",
        "oauth2",
        ("shop",),
    ),
    (
        "Stripe",
        "v1",
        ("Payments",),
        "Work with Stripe customers, charges, subscriptions and invoices.",
        "apikey",
        (),
    ),
    (
        "Xero",
        "v2",
        ("Accounting",),
        "Create invoices, contacts and payments in Xero accounting.",
        "oauth2",
        (),
    ),
    (
        "QuickBooks Online",
        "v3",
        ("Accounting",),
        "Sync customers, invoices, bills and payments with QuickBooks Online.",
        "oauth2",
        ("environment",),
    ),
    (
        "Zendesk",
        "v2",
        ("Helpdesk",),
        "Create and update Zendesk Support tickets, users and organisations.",
        "basic",
        ("subdomain",),
    ),
    (
        "Jira",
        "v3",
        ("Project Management", "Developer Tools"),
        "Create, search and transition Jira issues and projects.",
        "basic",
        (),
    ),
    (
        "Confluence",
        "v2",
        ("Productivity",),
        "Create and update Confluence pages, spaces and comments.",
        "basic",
        ("subdomain",),
    ),
    (
        "Trello",
        "v1",
        ("Project Management",),
        "Manage Trello boards, lists, cards and checklists.",
        "oauth1",
        (),
    ),
    (
        "Asana",
        "1.0",
        ("Project Management",),
        "Create and track Asana tasks, projects and sections.",
        "oauth2",
        (),
    ),
    (
        "Monday.com",
        "v2",
        ("Project Management",),
        "Create and update items, boards and updates on monday.com.",
        "apikey",
        (),
    ),
    (
        "Microsoft Dynamics 365",
        "v9.2",
        ("CRMs", "ERP"),
        "Sync accounts, contacts and opportunities with Dynamics 365 Sales.",
        "oauth2",
        ("org_url",),
    ),
    (
        "Microsoft Teams",
        "v1.0",
        ("Communication",),
        "Post messages and cards to Microsoft Teams channels and chats.",
        "oauth2",
        (),
    ),
    (
        "Microsoft Outlook",
        "v1.0",
        ("Email", "Scheduling"),
        "Send email and manage events and contacts in Microsoft Outlook.",
        "oauth2",
        (),
    ),
    (
        "Microsoft OneDrive",
        "v1.0",
        ("File Storage",),
        "Store, share and sync files in Microsoft OneDrive.",
        "oauth2",
        (),
    ),
    (
        "SharePoint",
        "v1.0",
        ("File Storage", "Productivity"),
        "Manage SharePoint sites, document libraries and lists.",
        "oauth2",
        ("tenant",),
    ),
    (
        "Dropbox",
        "v2",
        ("File Storage",),
        "Upload, move and share files and folders in Dropbox.",
        "oauth2",
        (),
    ),
    ("Box", "v2.0", ("File Storage",), "Manage files, folders and collaborations in Box.", "oauth2", ()),
    (
        "Twilio",
        "2010-04-01",
        ("Communication",),
        "Send SMS and WhatsApp messages and manage calls with Twilio.",
        "basic",
        (),
    ),
    (
        "SendGrid",
        "v3",
        ("Email",),
        "Send transactional email and manage contacts with Twilio SendGrid.",
        "apikey",
        (),
    ),
    (
        "Intercom",
        "v2.10",
        ("Customer Support", "Communication"),
        "Manage Intercom contacts, conversations and tags.",
        "apikey+oauth2",
        (),
    ),
    (
        "Freshdesk",
        "v2",
        ("Helpdesk",),
        "Create and update Freshdesk tickets, contacts and companies.",
        "apikey",
        ("subdomain",),
    ),
    (
        "Pipedrive",
        "v1",
        ("CRMs",),
        "Sync Pipedrive deals, persons, organisations and activities.",
        "oauth2+apikey",
        (),
    ),
    (
        "Zoho CRM",
        "v2",
        ("CRMs",),
        "Manage leads, contacts, deals and accounts in Zoho CRM.",
        "oauth2",
        ("zoho_region",),
    ),
    (
        "Marketo",
        "v1",
        ("Marketing Automation",),
        "Sync Marketo leads, static lists and programs.",
        "cc",
        ("munchkin",),
    ),
    (
        "Pardot",
        "v5",
        ("Marketing Automation",),
        "Work with Pardot (Account Engagement) prospects, lists and campaigns.",
        "oauth2",
        ("business_unit",),
    ),
    (
        "ActiveCampaign",
        "v3",
        ("Marketing Automation",),
        "Manage ActiveCampaign contacts, lists, deals and automations.",
        "apikey",
        ("account_name",),
    ),
    (
        "Klaviyo",
        "2024-02-15",
        ("Email Marketing",),
        "Manage Klaviyo profiles, lists, segments and events.",
        "apikey",
        (),
    ),
    (
        "WooCommerce",
        "v3",
        ("E-Commerce",),
        "Sync WooCommerce orders, products and customers.",
        "basic",
        ("store_url",),
    ),
    (
        "Magento",
        "2.4",
        ("E-Commerce",),
        "Sync Adobe Commerce (Magento) orders, products and customers.",
        "apikey",
        ("store_url",),
    ),
    (
        "BigCommerce",
        "v3",
        ("E-Commerce",),
        "Manage BigCommerce products, orders and customers.",
        "apikey",
        ("store_hash",),
    ),
    (
        "NetSuite",
        "2023.1",
        ("ERP", "Accounting"),
        "Work with NetSuite customers, sales orders, items and invoices.",
        "netsuite",
        ("account_id",),
    ),
    (
        "Sage Intacct",
        "3.0",
        ("Accounting",),
        "Post journals, bills and invoices to Sage Intacct.",
        "authfields",
        ("company_id",),
    ),
    (
        "FreshBooks",
        "v1",
        ("Accounting",),
        "Create clients, invoices and expenses in FreshBooks.",
        "oauth2",
        (),
    ),
    (
        "PayPal",
        "v2",
        ("Payments",),
        "Work with PayPal orders, captures, refunds and payouts.",
        "cc",
        ("client_id", "client_secret", "environment"),
    ),
    (
        "Square",
        "v2",
        ("Payments", "E-Commerce"),
        "Manage Square payments, orders, customers and catalog items.",
        "oauth2",
        (),
    ),
    (
        "Airtable",
        "v0",
        ("Databases", "Productivity"),
        "Read and write records in Airtable bases and tables.",
        "apikey+oauth2",
        (),
    ),
    (
        "Notion",
        "2022-06-28",
        ("Productivity",),
        "Create and update Notion pages and database entries.",
        "oauth2",
        (),
    ),
    (
        "GitHub",
        "v3",
        ("Developer Tools",),
        "Work with GitHub repositories, issues and pull requests.",
        "oauth2+apikey",
        (),
    ),
    (
        "GitLab",
        "v4",
        ("Developer Tools",),
        "Manage GitLab projects, issues and merge requests.",
        "apikey",
        (),
    ),
    (
        "Bitbucket",
        "2.0",
        ("Developer Tools",),
        "Work with Bitbucket repositories, pull requests and pipelines.",
        "basic",
        (),
    ),
    (
        "Zoom",
        "v2",
        ("Communication",),
        "Schedule Zoom meetings and webinars and manage registrants.",
        "oauth2",
        (),
    ),
    (
        "DocuSign",
        "v2.1",
        ("Document Management",),
        "Send DocuSign envelopes for signature and track their status.",
        "oauth2",
        (),
    ),
    (
        "Typeform",
        "v1",
        ("Forms & Surveys",),
        "Retrieve Typeform forms and responses as they arrive.",
        "oauth2",
        (),
    ),
    (
        "SurveyMonkey",
        "v3",
        ("Forms & Surveys",),
        "Manage SurveyMonkey surveys, collectors and responses.",
        "oauth2",
        (),
    ),
    ("Calendly", "v2", ("Scheduling",), "Track Calendly scheduled events and invitees.", "apikey", ()),
    ("Eventbrite", "v3", ("Events",), "Manage Eventbrite events, attendees and orders.", "oauth2", ()),
    ("LinkedIn", "v2", ("Social Media",), "Share posts and manage company pages on LinkedIn.", "oauth2", ()),
    (
        "Facebook Lead Ads",
        "v19.0",
        ("Social Media", "Marketing Automation"),
        "Receive new leads from Facebook Lead Ads forms as they are submitted.",
        "oauth2",
        (),
    ),
    (
        "Twitter",
        "v2",
        ("Social Media",),
        "Post tweets and read timelines, mentions and followers on Twitter (X).",
        "oauth1",
        (),
    ),
    (
        "Instagram",
        "v19.0",
        ("Social Media",),
        "Publish media and read insights for Instagram business accounts.",
        "oauth2",
        (),
    ),
    (
        "Constant Contact",
        "v3",
        ("Email Marketing",),
        "Manage Constant Contact contacts, lists and email campaigns.",
        "oauth2",
        (),
    ),
    (
        "Campaign Monitor",
        "v3.3",
        ("Email Marketing",),
        "Manage Campaign Monitor subscribers, lists and campaigns.",
        "apikey",
        (),
    ),
    (
        "ServiceNow",
        "v2",
        ("ITSM", "Helpdesk"),
        "Create and update ServiceNow incidents, requests and table records.",
        "basic",
        ("instance",),
    ),
    (
        "Workday",
        "v40.0",
        ("HR",),
        "Sync Workday workers, organisations and job data.",
        "basic",
        ("tenant", "workday_dc"),
    ),
    (
        "BambooHR",
        "v1",
        ("HR",),
        "Read and update BambooHR employee records and time off.",
        "apikey",
        ("subdomain",),
    ),
    (
        "Greenhouse",
        "v1",
        ("Recruiting", "HR"),
        "Sync Greenhouse candidates, applications and jobs.",
        "basic",
        (),
    ),
    (
        "Okta",
        "v1",
        ("Identity",),
        "Manage Okta users, groups and application assignments.",
        "apikey",
        ("okta_domain",),
    ),
    (
        "Amazon S3",
        "2006-03-01",
        ("File Storage",),
        "Store and retrieve objects in Amazon S3 buckets.",
        "authfields",
        ("aws_region",),
    ),
    (
        "Google BigQuery",
        "v2",
        ("Databases", "Analytics"),
        "Run queries and load rows into Google BigQuery datasets.",
        "oauth2",
        ("project_id",),
    ),
    (
        "Snowflake",
        "v2",
        ("Databases", "Analytics"),
        "Run SQL statements against Snowflake warehouses.",
        "basic",
        ("account_identifier",),
    ),
    (
        "PostgreSQL",
        "1.0",
        ("Databases",),
        "Query and write rows in a PostgreSQL database.",
        "basic",
        ("host", "port"),
    ),
    ("MySQL", "1.0", ("Databases",), "Query and write rows in a MySQL database.", "basic", ("host", "port")),
    (
        "Microsoft SQL Server",
        "1.0",
        ("Databases",),
        "Query and write rows in a Microsoft SQL Server database.",
        "kerberos",
        ("host", "port"),
    ),
    (
        "Webhook",
        "1.0",
        ("Utilities",),
        "Receive data from any system that can send an HTTP webhook.",
        "none",
        (),
    ),
    (
        "HTTP",
        "1.0",
        ("Utilities", "Developer Tools"),
        "Call any REST or HTTP endpoint with custom requests.",
        "none",
        ("endpoint",),
    ),
    (
        "Chargebee",
        "v2",
        ("Billing", "Payments"),
        "Manage Chargebee subscriptions, customers and invoices.",
        "apikey",
        ("site",),
    ),
    (
        "Recurly",
        "v2021-02-25",
        ("Billing",),
        "Manage Recurly accounts, subscriptions and invoices.",
        "apikey",
        (),
    ),
    ("Zuora", "v1", ("Billing",), "Work with Zuora accounts, subscriptions and invoices.", "cc", ()),
    (
        "Gorgias",
        "v1",
        ("Helpdesk", "E-Commerce"),
        "Manage Gorgias tickets, customers and macros.",
        "basic",
        ("subdomain",),
    ),
    (
        "Help Scout",
        "v2",
        ("Helpdesk",),
        "Manage Help Scout conversations, customers and mailboxes.",
        "oauth2",
        (),
    ),
    (
        "Front",
        "v1",
        ("Customer Support", "Communication"),
        "Manage Front conversations, contacts and tags.",
        "apikey",
        (),
    ),
    (
        "Copper",
        "v1",
        ("CRMs",),
        "Sync Copper people, companies and opportunities.",
        "apikey",
        ("user_email",),
    ),
    (
        "Insightly",
        "v3.1",
        ("CRMs",),
        "Manage Insightly contacts, organisations and opportunities.",
        "apikey",
        (),
    ),
    ("Keap", "v1", ("CRMs", "Marketing Automation"), "Manage Keap contacts, orders and tags.", "oauth2", ()),
    (
        "Salesloft",
        "v2",
        ("Sales Engagement",),
        "Manage Salesloft people, cadences and activities.",
        "oauth2",
        (),
    ),
    (
        "Outreach",
        "v2",
        ("Sales Engagement",),
        "Manage Outreach prospects, sequences and mailings.",
        "oauth2",
        (),
    ),
    (
        "Gong",
        "v2",
        ("Sales Engagement", "Analytics"),
        "Retrieve Gong calls, transcripts and user stats.",
        "basic",
        (),
    ),
]

PREFIXES = (
    "Acme",
    "Nimbus",
    "Vertex",
    "Bluebird",
    "Cobalt",
    "Lumen",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tandem",
    "Umbra",
    "Vantage",
    "Willow",
    "Zephyr",
    "Aurora",
    "Beacon",
    "Cascade",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lattice",
    "Meridian",
    "Northwind",
    "Onyx",
    "Pinnacle",
    "Quill",
    "Ripple",
    "Sable",
    "Tidal",
    "Unity",
    "Velvet",
    "Wander",
    "Yonder",
    "Zenith",
    "Alder",
    "Birch",
    "Cedar",
    "Drift",
    "Echo",
    "Fable",
    "Glade",
    "Halo",
    "Indigo",
    "Jasper",
    "Kite",
    "Lark",
    "Maple",
    "Nova",
    "Pebble",
    "Quest",
    "Rune",
    "Slate",
    "Thistle",
    "Upland",
    "Vivid",
    "Wren",
    "Atlas",
    "Crest",
    "Dune",
    "Flint",
    "Grove",
    "Helix",
    "Ionic",
)

# noun: (category, objects handled)
NOUNS: dict[str, tuple[str, str]] = {
    "Ledger": ("Accounting", "ledger accounts, journals and invoices"),
    "Invoicing": ("Accounting", "invoices, credit notes and payments"),
    "Expenses": ("Accounting", "expense claims, receipts and approvals"),
    "Receipts": ("Accounting", "receipts, vendors and bills"),
    "Payroll": ("HR", "pay runs, employees and payslips"),
    "Hiring": ("Recruiting", "candidates, job openings and interviews"),
    "Timesheets": ("HR", "timesheets, projects and approvals"),
    "Onboarding": ("HR", "new hires, checklists and documents"),
    "People": ("HR", "employees, teams and time off"),
    "Forms": ("Forms & Surveys", "forms, fields and submissions"),
    "Polls": ("Forms & Surveys", "polls, questions and votes"),
    "Feedback": ("Forms & Surveys", "feedback requests and scores"),
    "Pipeline": ("CRMs", "deals, stages and activities"),
    "Contacts": ("CRMs", "contacts, companies and notes"),
    "Leads": ("CRMs", "leads, owners and lead scores"),
    "Relations": ("CRMs", "customers, interactions and follow-ups"),
    "Campaigns": ("Marketing Automation", "campaigns, audiences and results"),
    "Newsletter": ("Email Marketing", "subscribers, lists and newsletters"),
    "Mailer": ("Email Marketing", "mailing lists, templates and sends"),
    "Ads": ("Advertising", "ad campaigns, budgets and conversions"),
    "Social": ("Social Media", "posts, schedules and engagement"),
    "Helpdesk": ("Helpdesk", "tickets, agents and SLAs"),
    "Tickets": ("Helpdesk", "tickets, queues and replies"),
    "Support": ("Customer Support", "cases, customers and replies"),
    "Chat": ("Communication", "conversations, visitors and transcripts"),
    "Tasks": ("Project Management", "tasks, assignees and due dates"),
    "Projects": ("Project Management", "projects, milestones and tasks"),
    "Boards": ("Project Management", "boards, columns and cards"),
    "Sprints": ("Project Management", "sprints, stories and estimates"),
    "Roadmap": ("Project Management", "roadmap items, releases and ideas"),
    "Files": ("File Storage", "files, folders and share links"),
    "Vault": ("File Storage", "documents, versions and permissions"),
    "Archive": ("File Storage", "archived records and retention rules"),
    "Analytics": ("Analytics", "events, funnels and reports"),
    "Metrics": ("Analytics", "metrics, goals and alerts"),
    "Insights": ("Analytics", "dashboards, segments and insights"),
    "Reports": ("Analytics", "scheduled reports and exports"),
    "Commerce": ("E-Commerce", "orders, products and customers"),
    "Cart": ("E-Commerce", "carts, checkouts and abandoned carts"),
    "Storefront": ("E-Commerce", "products, collections and orders"),
    "Orders": ("E-Commerce", "orders, fulfilments and returns"),
    "Inventory": ("Inventory", "stock levels, locations and transfers"),
    "Shipping": ("Logistics", "shipments, labels and tracking events"),
    "Pay": ("Payments", "payments, refunds and payouts"),
    "Checkout": ("Payments", "checkout sessions and transactions"),
    "Wallet": ("Payments", "wallets, balances and transfers"),
    "Billing": ("Billing", "plans, subscriptions and invoices"),
    "Messenger": ("Communication", "messages, channels and contacts"),
    "Voice": ("Communication", "calls, recordings and voicemails"),
    "SMS": ("Communication", "text messages and delivery receipts"),
    "Meet": ("Communication", "meetings, participants and recordings"),
    "DB": ("Databases", "tables, rows and queries"),
    "Warehouse": ("Databases", "datasets, tables and loads"),
    "Deploy": ("Developer Tools", "deployments, environments and releases"),
    "Monitor": ("Developer Tools", "monitors, incidents and uptime checks"),
    "Logs": ("Developer Tools", "log streams, searches and alerts"),
    "Scheduler": ("Scheduling", "bookings, availability and reminders"),
    "Bookings": ("Scheduling", "appointments, services and staff"),
    "Events": ("Events", "events, tickets and attendees"),
    "Docs": ("Document Management", "documents, templates and folders"),
    "Contracts": ("Document Management", "contracts, signers and renewals"),
    "Identity": ("Identity", "users, groups and access policies"),
    "Guard": ("Security", "alerts, assets and vulnerabilities"),
    "Freight": ("Logistics", "loads, carriers and rates"),
    "Fleet": ("Logistics", "vehicles, drivers and trips"),
    "Learning": ("Education", "courses, learners and completions"),
    "Assets": ("ITSM", "assets, owners and warranties"),
    "Property": ("Real Estate", "properties, tenants and leases"),
}

SUFFIXES = ("Pro", "Cloud", "HQ", "360", "One", "Plus", "Suite", "Go")
VERSIONS = ("v1", "v2", "v3", "1.0", "2.0", "2.1", "3.0", "v1.1", "v4", "1.2")
TEMPLATES = (
    "Sync {objects} with {name}.",
    "Create and update {objects} in {name}.",
    "Automate {objects} workflows in {name}.",
    "Read and write {objects} through the {name} API.",
    "Keep {objects} in step with {name}.",
)
# Weighted auth spread for generated connectors.
GENERATED_AUTH = (
    ("apikey", 33),
    ("oauth2", 24),
    ("basic", 14),
    ("none", 6),
    ("cc", 5),
    ("oauth1", 3),
    ("authfields", 3),
    ("kerberos", 1),
    ("password", 2),
    ("oauth2+apikey", 5),
    ("apikey+oauth2", 2),
    ("netsuite", 1),
)
GENERATED_PARAMS = (
    ((), 55),
    (("subdomain",), 12),
    (("region",), 8),
    (("account_id",), 5),
    (("environment",), 6),
    (("subdomain", "environment"), 3),
    (("client_id", "client_secret"), 3),
    (("endpoint",), 4),
    (("api_version",), 4),
)
DRAFTS = 8
BETAS = 3


def _weighted(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([item for item, _ in table], weights=[w for _, w in table])[0]


def _auth_fields(code: str, name: str, rng: random.Random) -> dict[str, Any]:
    """Top-level auth fields, plus ``Authentication[]`` for multi-auth codes ``a+b``."""
    codes = code.split("+")
    methods = []
    for part in codes:
        spec = AUTH[part]
        methods.append(
            {
                "Id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "AuthName": spec["AuthName"],
                "AuthDescription": spec["AuthDescription"].format(name=name)
                if spec["AuthDescription"]
                else None,
                "AuthType": spec["AuthType"],
                "OAuth2Type": spec["OAuth2Type"],
                "AuthScheme": spec["AuthScheme"],
            }
        )
    first = methods[0]
    return {
        "AuthDescription": first["AuthDescription"],
        "AuthType": first["AuthType"],
        "OAuth2Type": first["OAuth2Type"],
        "AuthScheme": first["AuthScheme"],
        "Authentication": methods if len(methods) > 1 else [],
    }


def _parameters(keys: tuple[str, ...], name: str, next_id: list[int]) -> list[dict[str, Any]]:
    out = []
    for key in keys:
        label, target, required, sensitive, values, description = PARAMS[key]
        next_id[0] += 1
        out.append(
            {
                "Id": next_id[0],
                "Name": label,
                "Description": description.format(name=name),
                "TargetType": "MergeField"
                if key in NON_ACCOUNT_PARAMS
                else "HttpHeader"
                if sensitive
                else "MergeField",
                "TargetName": target,
                "IsAccountConnectorProperty": key not in NON_ACCOUNT_PARAMS,
                "IsSensitive": sensitive,
                "IsOptional": not required,
                "DataType": "Text",
                "TriggerName": None,
                "Values": list(values),
            }
        )
    return out


def _generated_names(rng: random.Random, count: int, taken: set[str]) -> list[tuple[str, str]]:
    """Unique ``(name, noun)`` pairs whose words never overlap a well-known name's words."""
    known_words = {w.casefold() for name in taken for w in name.replace(".", " ").split()}
    known_compact = [name.casefold().replace(" ", "") for name in taken]

    def clashes(word: str) -> bool:
        w = word.casefold()
        return (
            w in known_words
            or any(len(w) >= 3 and w in compact for compact in known_compact)
            or any(len(k) >= 3 and k in w for k in known_words)
        )

    prefixes = [p for p in PREFIXES if not clashes(p)]
    nouns = [n for n in NOUNS if not clashes(n)]
    seen = {name.casefold() for name in taken}
    out: list[tuple[str, str]] = []
    while len(out) < count:
        prefix, noun = rng.choice(prefixes), rng.choice(nouns)
        name = f"{prefix} {noun}"
        if rng.random() < 0.15:
            name = f"{name} {rng.choice(SUFFIXES)}"
        if name.casefold() not in seen:
            seen.add(name.casefold())
            out.append((name, noun))
    return out


def build_catalogue() -> list[dict[str, Any]]:
    """The catalogue as a list of connector objects ordered by Id."""
    rng = random.Random(SEED)
    next_param_id = [0]
    entries: list[dict[str, Any]] = []
    for index, (name, version, categories, description, auth, params) in enumerate(WELL_KNOWN):
        entries.append(
            {
                "Name": name,
                "Description": description,
                "Status": "Approved",
                "Version": version,
                "Icon": ICON if index % 2 == 0 else None,
                "_auth": auth,
                "_params": params,
                "Categories": list(categories),
            }
        )
    names = _generated_names(rng, GENERATED_COUNT, {e["Name"] for e in entries})
    for name, noun in names:
        category, objects = NOUNS[noun]
        entries.append(
            {
                "Name": name,
                "Description": rng.choice(TEMPLATES).format(objects=objects, name=name),
                "Status": "Approved",
                "Version": rng.choice(VERSIONS),
                "Icon": ICON if rng.random() < 0.12 else None,
                "_auth": _weighted(rng, GENERATED_AUTH),
                "_params": _weighted(rng, GENERATED_PARAMS),
                "Categories": [category],
            }
        )
    generated = entries[len(WELL_KNOWN) :]
    for entry in rng.sample(generated, DRAFTS + BETAS)[:DRAFTS]:
        entry["Status"] = "Draft"
    betas = [e for e in generated if e["Status"] == "Approved"]
    for entry in rng.sample(betas, BETAS):
        entry["Status"] = "Beta"

    rng.shuffle(entries)
    connector_id = FIRST_ID
    out = []
    for entry in entries:
        name = entry["Name"]
        connector = {
            "Id": connector_id,
            "Name": name,
            "Description": entry["Description"],
            "Status": entry["Status"],
            "Version": entry["Version"],
            "Icon": entry["Icon"],
            **_auth_fields(entry["_auth"], name, rng),
            "Parameters": _parameters(entry["_params"], name, next_param_id),
            "Categories": entry["Categories"],
            "IsSystemConnector": name in ("Webhook", "HTTP"),
        }
        out.append(connector)
        connector_id += rng.randint(1, 4)
    return out


def render(catalogue: list[dict[str, Any]]) -> str:
    return json.dumps(catalogue, separators=(",", ":"), ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the data file is out of date")
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="where to write (default: the shipped file)"
    )
    args = parser.parse_args(argv)
    text = render(build_catalogue())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run scripts/make_sandbox_catalogue.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
