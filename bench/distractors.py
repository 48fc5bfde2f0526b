"""Synthetic but realistic tool definitions, the "company gateway" around the real servers'
tools in the tool-search bench (bench/tool_search.py) and the 5000-tool tests.

Each tool is a verb on a resource of a SaaS service (``zendesk_update_ticket``: "Update a
ticket in Zendesk. ..."), with typical parameters. None of the services is one of the real
servers in bench/data/servers/, but the vocabulary overlaps (messages, files, users, events,
projects...), so they compete with the real tools for every query. Deterministic: the same
``n`` gives the same tools.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["distractors"]

SERVICES = [
    "salesforce",
    "hubspot",
    "zendesk",
    "jira",
    "confluence",
    "asana",
    "trello",
    "linear",
    "stripe",
    "shopify",
    "quickbooks",
    "xero",
    "datadog",
    "pagerduty",
    "twilio",
    "sendgrid",
    "mailchimp",
    "intercom",
    "freshdesk",
    "airtable",
    "monday",
    "clickup",
    "box",
    "dropbox",
    "onedrive",
    "sharepoint",
    "okta",
    "auth0",
    "workday",
    "bamboohr",
    "greenhouse",
    "lever",
    "zoom",
    "webex",
    "discord",
    "telegram",
    "whatsapp",
    "s3",
    "ec2",
    "lambda",
    "gcs",
    "azure_blob",
    "snowflake",
    "bigquery",
    "databricks",
    "mongodb",
    "mysql",
    "elasticsearch",
    "kafka",
    "rabbitmq",
    "circleci",
    "jenkins",
    "vercel",
    "netlify",
    "cloudflare",
    "docusign",
    "calendly",
    "outlook",
    "gmail",
    "youtube",
    "spotify",
    "figma",
    "miro",
    "canva",
    "tableau",
    "looker",
    "mixpanel",
    "amplitude",
    "segment",
    "grafana",
    "prometheus",
    "splunk",
    "newrelic",
    "servicenow",
    "netsuite",
    "sap",
    "bitbucket",
    "todoist",
    "evernote",
    "harvest",
    "toggl",
    "gusto",
    "adp",
    "expensify",
    "brex",
    "ramp",
    "plaid",
    "square",
    "paypal",
]
RESOURCES = [
    "record",
    "contact",
    "deal",
    "ticket",
    "invoice",
    "order",
    "customer",
    "product",
    "user",
    "group",
    "project",
    "task",
    "comment",
    "attachment",
    "report",
    "dashboard",
    "alert",
    "incident",
    "campaign",
    "subscription",
    "payment",
    "refund",
    "shipment",
    "folder",
    "document",
    "event",
    "calendar",
    "meeting",
    "channel",
    "message",
    "webhook",
    "job",
    "pipeline",
    "build",
    "deployment",
    "instance",
    "bucket",
    "table",
    "cluster",
    "note",
    "page",
    "lead",
    "account",
    "opportunity",
    "employee",
    "candidate",
    "expense",
]
VERBS = {
    "list": "List {rs} in {S}, newest first, with paging.",
    "get": "Get one {r} from {S} by its id, with all of its fields.",
    "create": "Create a new {r} in {S}.",
    "update": "Update the fields of an existing {r} in {S}.",
    "delete": "Delete a {r} from {S}. This cannot be undone.",
    "search": "Search {rs} in {S} by keyword or filter.",
    "export": "Export {rs} from {S} as CSV or JSON.",
    "archive": "Archive a {r} in {S} so it no longer shows in lists.",
    "assign": "Assign a {r} in {S} to a user or team.",
    "sync": "Sync {rs} between {S} and the connected workspace.",
}
EXTRAS = (
    "Returns the {r} id, status and timestamps.",
    "Requires the {S} API scope for {rs}.",
    "Use the filter to narrow results by status, owner or date.",
    "Fields not given keep their current values.",
    "Rate limited to 100 requests per minute.",
    "",
)


def _schema(verb: str, resource: str, rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    if verb in ("get", "update", "delete", "archive", "assign"):
        props[f"{resource}_id"] = {"type": "string", "description": f"The {resource}'s id."}
        required.append(f"{resource}_id")
    if verb in ("list", "search", "export", "sync"):
        props["query"] = {"type": "string", "description": "Keywords or a filter expression."}
        props["limit"] = {"type": "integer", "minimum": 1, "maximum": 100, "default": 25}
        if rng.random() < 0.5:
            props["status"] = {"type": "string", "enum": ["open", "closed", "all"], "default": "all"}
    if verb in ("create", "update"):
        props["name"] = {"type": "string", "description": f"Name or title of the {resource}."}
        props["fields"] = {"type": "object", "description": "Other fields, by name."}
        if verb == "create":
            required.append("name")
    if verb == "assign":
        props["assignee"] = {"type": "string", "description": "User or team id."}
        required.append("assignee")
    if verb == "export":
        props["format"] = {"type": "string", "enum": ["csv", "json"], "default": "csv"}
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def distractors(n: int, seed: int = 16) -> list[dict[str, Any]]:
    """``n`` MCP tool definitions (``name``, ``description``, ``inputSchema``)."""
    rng = random.Random(seed)
    combos = [(s, r, v) for s in SERVICES for r in RESOURCES for v in VERBS]
    rng.shuffle(combos)
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} distractors")
    tools = []
    for service, resource, verb in combos[:n]:
        title = service.replace("_", " ").title()
        plural = resource + ("es" if resource.endswith(("s", "ch")) else "s")
        text = f"{VERBS[verb]} {rng.choice(EXTRAS)}".format(r=resource, rs=plural, S=title).strip()
        tools.append(
            {
                "name": f"{service}_{verb}_{resource}",
                "description": text,
                "inputSchema": _schema(verb, resource, rng),
            }
        )
    return tools
