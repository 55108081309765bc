"""The HubSpot developer project that gives hubsync its credentials and webhooks.

HubSpot no longer lets anyone create a legacy private app. A company that
needs webhooks creates a project-based app instead: ``static`` auth,
``private`` distribution, platform 2026.09, uploaded with HubSpot's CLI
(``hs project upload``). Its scopes and webhook subscriptions are declared
in files, not clicked together (hubspot-2026.md sections 1.2 and 1.3).

``project_files`` builds those files from plain inputs: the scopes the
configuration needs, the mapped HubSpot properties and the webhook target
URL. It returns each file's JSON by its path relative to the project's
directory, and does no I/O; ``existing`` and ``write_project`` are the
separate file side. The subscriptions are the events hubsync acts on
(``webhook_payloads.KINDS``) and a contact's restore: a property change of
each mapped property, of ``email`` and of ``hs_email_optout``; creation,
deletion, merge and restore of a contact; and ``contact.privacyDeletion``,
which HubSpot files under ``hubEvents``. ``target_problem`` and
``target_warnings`` judge the webhook target URL.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.hubspot.webhook_payloads import EMAIL_PROPERTY, OPT_OUT_PROPERTY

PROJECT_NAME = "hubsync"
PLATFORM_VERSION = "2026.09"
APP_UID = "hubsync_app"
WEBHOOKS_UID = "hubsync_webhooks"
APP_DESCRIPTION = "Keeps HubSpot consistent with the customer register for GDPR rights."
API_ORIGIN = "https://api.hubapi.com"
MAX_CONCURRENT_REQUESTS = 10

ACCOUNT_INFO_SCOPE = "oauth"
"""Account info on 2026-09 (the residency check) needs the ``oauth`` scope (section 4.4)."""

PROJECT_FILE = "hsproject.json"
APP_FILE = "src/app/app-hsmeta.json"
WEBHOOKS_FILE = "src/app/webhooks/webhooks-hsmeta.json"
FILES = (PROJECT_FILE, APP_FILE, WEBHOOKS_FILE)
"""The files of the project, relative to its directory."""

PROPERTY_CHANGE = "contact.propertyChange"
CONTACT_EVENTS = ("contact.creation", "contact.deletion", "contact.merge", "contact.restore")
"""The classic contact events subscribed besides property changes (``legacyCrmObjects``)."""

HUB_EVENTS = ("contact.privacyDeletion",)
"""The events HubSpot files under ``hubEvents``: a GDPR delete."""

LEGACY_CRM_OBJECTS = "legacyCrmObjects"
HUB_EVENTS_KEY = "hubEvents"

Subscriptions = dict[str, list[dict[str, Any]]]
"""Subscriptions by the section of ``webhooks-hsmeta.json`` they go in."""


def app_scopes(required: Sequence[str]) -> list[str]:
    """The app's ``requiredScopes``: ``required`` in its order, then ``oauth``; no repeats."""
    return list(dict.fromkeys([*required, ACCOUNT_INFO_SCOPE]))


def watched_properties(mapped: Iterable[str], subscription_types: Iterable[str] = ()) -> list[str]:
    """The contact properties whose changes hubsync reads, each once.

    The mapped properties in the mapping's order, then ``email`` (a changed
    address may be a suppressed person's) and ``hs_email_optout`` (an
    unsubscribe from all email), unless they are mapped already, then
    ``hs_email_optout_<id>`` for each subscription type named (an
    unsubscribe from that one type; the ids are the account's own).
    """
    per_type = [f"{OPT_OUT_PROPERTY}_{t}" for t in subscription_types]
    return list(dict.fromkeys([*mapped, EMAIL_PROPERTY, OPT_OUT_PROPERTY, *per_type]))


def subscriptions(properties: Iterable[str]) -> Subscriptions:
    """The webhook subscriptions for the watched ``properties`` (see ``watched_properties``)."""
    events = [{"subscriptionType": kind, "active": True} for kind in CONTACT_EVENTS]
    changes = [
        {"subscriptionType": PROPERTY_CHANGE, "propertyName": name, "active": True}
        for name in dict.fromkeys(properties)
    ]
    return {
        LEGACY_CRM_OBJECTS: events + changes,
        HUB_EVENTS_KEY: [{"subscriptionType": kind, "active": True} for kind in HUB_EVENTS],
    }


def project_files(
    *,
    scopes: Sequence[str],
    mapped_properties: Iterable[str],
    target_url: str,
    subscription_types: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Each file of the project by its relative path (``FILES``), as JSON-able dicts.

    ``scopes`` are the scopes the configuration needs (``oauth`` is added);
    ``mapped_properties`` the HubSpot properties of the field mapping;
    ``target_url`` the URL hubsync checks webhook signatures against;
    ``subscription_types`` the account's subscription type ids whose
    single opt-outs hubsync should hear of.
    """
    app = {
        "uid": APP_UID,
        "type": "app",
        "config": {
            "name": PROJECT_NAME,
            "description": APP_DESCRIPTION,
            "distribution": "private",
            "auth": {
                "type": "static",
                "requiredScopes": app_scopes(scopes),
                "optionalScopes": [],
                "conditionallyRequiredScopes": [],
            },
            "permittedUrls": {"fetch": [API_ORIGIN], "iframe": [], "img": []},
        },
    }
    webhooks = {
        "uid": WEBHOOKS_UID,
        "type": "webhooks",
        "config": {
            "settings": {
                "targetUrl": target_url,
                "maxConcurrentRequests": MAX_CONCURRENT_REQUESTS,
            },
            "subscriptions": subscriptions(
                watched_properties(mapped_properties, subscription_types)
            ),
        },
    }
    project = {"name": PROJECT_NAME, "srcDir": "src", "platformVersion": PLATFORM_VERSION}
    return {PROJECT_FILE: project, APP_FILE: app, WEBHOOKS_FILE: webhooks}


def target_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook target at all (None: it can)."""
    if not url.strip():
        return "is not set"
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.query or parts.fragment:
        return "must not carry a query or a fragment"
    return None


def target_warnings(url: str) -> list[str]:
    """What is wrong with a target HubSpot would refuse or never reach (empty: nothing)."""
    parts = urlsplit(url)
    found = []
    if parts.scheme != "https":
        found.append("is not https: HubSpot requires an https target URL for webhooks")
    if _loopback(parts.hostname or ""):
        found.append("names this machine (loopback): HubSpot cannot reach it")
    return found


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def next_steps(directory: str) -> list[str]:
    """What to do with the written project, in order, for ``directory``."""
    return [
        f"cd {shlex.quote(directory)} && hs project upload  (HubSpot's CLI: "
        "npm install -g @hubspot/cli@latest, then hs account auth)",
        "install the app in your account: Development > Projects > hubsync > the app > "
        "Distribution tab > Install now",
        "copy the access token (Distribution tab > Show) into HUBSYNC_HUBSPOT__ACCESS_TOKEN, "
        "the client secret (Auth tab) into HUBSYNC_HUBSPOT__CLIENT_SECRET, "
        "and the app's id (on its page in HubSpot) into [hubspot] app_id",
        "run hubsync check",
        "when the mapping changes, generate again with --force and upload again",
    ]


def existing(out_dir: Path, files: Iterable[str] = FILES) -> list[Path]:
    """Those of ``files`` already present under ``out_dir``."""
    return [out_dir / name for name in files if (out_dir / name).exists()]


def write_project(out_dir: Path, files: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Write each file under ``out_dir`` as indented JSON (directories created); the paths."""
    written = []
    for name, document in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
