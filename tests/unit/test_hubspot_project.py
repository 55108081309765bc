"""The HubSpot developer project: its files, scopes and webhook subscriptions.

The files are those of a project app on platform 2026.09 with static auth
and private distribution (hubspot-2026.md section 1.2). Its scopes are
exactly what the configuration needs plus ``oauth``; its subscriptions are
exactly the events hubsync acts on, with a property change for each mapped
property, whatever the mapping says.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot import project
from connectors.hubspot.scopes import required_scopes
from connectors.hubspot.webhook_payloads import KINDS
from mappings import load_mapping

TARGET = "https://hubsync.example.eu/webhooks/hubspot"
FIXED = {
    ("legacyCrmObjects", "contact.creation"),
    ("legacyCrmObjects", "contact.deletion"),
    ("legacyCrmObjects", "contact.merge"),
    ("legacyCrmObjects", "contact.restore"),
    ("hubEvents", "contact.privacyDeletion"),
}
"""The subscriptions that do not depend on the mapping: (section, type)."""


def _with_oauth(api: str) -> list[str]:
    """The scopes the subscriptions API needs, then ``oauth`` unless it is one of them."""
    return list(dict.fromkeys([*required_scopes(api), "oauth"]))


def _files(
    mapped: list[str] | None = None, api: str = "v4", target: str = TARGET
) -> dict[str, dict[str, Any]]:
    if mapped is None:
        mapped = [m.hubspot for m in load_mapping().fields.values()]
    return project.project_files(
        scopes=required_scopes(api), mapped_properties=mapped, target_url=target
    )


def _subscriptions(files: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every subscription of the webhooks file, with its section added as ``section``."""
    sections = files[project.WEBHOOKS_FILE]["config"]["subscriptions"]
    return [{"section": name, **item} for name, items in sections.items() for item in items]


def _watched(files: dict[str, dict[str, Any]]) -> list[str]:
    """The property names of the ``contact.propertyChange`` subscriptions, in order."""
    return [
        s["propertyName"]
        for s in _subscriptions(files)
        if s["subscriptionType"] == "contact.propertyChange"
    ]


def _mapping(tmp_path: Path, properties: dict[str, str]) -> list[str]:
    """A mapping file of register field -> HubSpot property, loaded: its properties."""
    file = tmp_path / "custom.toml"
    file.write_text(
        "".join(
            f'[fields.{field}]\nhubspot = "{prop}"\ncategory = "user.custom"\nauthority = "both"\n'
            for field, prop in properties.items()
        )
    )
    return [m.hubspot for m in load_mapping(file).fields.values()]


def test_the_files_are_the_2026_09_static_private_project_exactly() -> None:
    files = _files()

    assert list(files) == [
        "hsproject.json",
        "src/app/app-hsmeta.json",
        "src/app/webhooks/webhooks-hsmeta.json",
    ]
    assert json.loads(json.dumps(files)) == files  # plain JSON, nothing Python-only
    assert files["hsproject.json"] == {
        "name": "hubsync",
        "srcDir": "src",
        "platformVersion": "2026.09",
    }
    # No redirectUrls (a static app refuses them); only required scopes.
    assert files["src/app/app-hsmeta.json"] == {
        "uid": "hubsync_app",
        "type": "app",
        "config": {
            "name": "hubsync",
            "description": project.APP_DESCRIPTION,
            "distribution": "private",
            "auth": {
                "type": "static",
                "requiredScopes": _with_oauth("v4"),
                "optionalScopes": [],
                "conditionallyRequiredScopes": [],
            },
            "permittedUrls": {"fetch": ["https://api.hubapi.com"], "iframe": [], "img": []},
        },
    }

    def change(name: str) -> dict[str, Any]:
        return {"subscriptionType": "contact.propertyChange", "propertyName": name, "active": True}

    assert files["src/app/webhooks/webhooks-hsmeta.json"] == {
        "uid": "hubsync_webhooks",
        "type": "webhooks",
        "config": {
            "settings": {"targetUrl": TARGET, "maxConcurrentRequests": 10},
            "subscriptions": {
                "legacyCrmObjects": [
                    {"subscriptionType": "contact.creation", "active": True},
                    {"subscriptionType": "contact.deletion", "active": True},
                    {"subscriptionType": "contact.merge", "active": True},
                    {"subscriptionType": "contact.restore", "active": True},
                    change("firstname"),
                    change("lastname"),
                    change("email"),
                    change("phone"),
                    change("company"),
                    change("hs_email_optout"),
                ],
                "hubEvents": [{"subscriptionType": "contact.privacyDeletion", "active": True}],
            },
        },
    }


@pytest.mark.parametrize("api", ["v4", "v3"])
def test_the_scopes_are_what_the_subscriptions_api_needs_plus_oauth(api: str) -> None:
    scopes = _files(api=api)["src/app/app-hsmeta.json"]["config"]["auth"]["requiredScopes"]

    assert scopes == _with_oauth(api)
    assert Counter(scopes)["oauth"] == 1
    batch = {s for s in scopes if ".statuses.batch." in s}
    assert batch == (
        {
            "communication_preferences.statuses.batch.read",
            "communication_preferences.statuses.batch.write",
        }
        if api == "v4"
        else set()
    )


def test_oauth_already_required_is_not_repeated() -> None:
    assert project.app_scopes(["oauth", "crm.objects.contacts.read"]) == [
        "oauth",
        "crm.objects.contacts.read",
    ]


def test_the_default_mapping_is_watched_property_by_property_and_nothing_else() -> None:
    mapped = [m.hubspot for m in load_mapping().fields.values()]
    files = _files(mapped)
    subscribed = _subscriptions(files)

    watched = _watched(files)
    assert set(mapped) <= set(watched)
    assert set(watched) == {*mapped, "email", "hs_email_optout"}
    others = {
        (s["section"], s["subscriptionType"])
        for s in subscribed
        if s["subscriptionType"] != "contact.propertyChange"
    }
    assert others == FIXED
    assert all(s["active"] is True for s in subscribed)
    assert {s["section"] for s in subscribed if "propertyName" in s} == {"legacyCrmObjects"}


def test_a_custom_mapping_is_watched_and_email_and_the_opt_out_still_are(tmp_path: Path) -> None:
    mapped = _mapping(tmp_path, {"nickname": "nickname_custom", "language": "hs_language"})
    files = _files(mapped)

    assert mapped == ["nickname_custom", "hs_language"]
    assert _watched(files) == ["nickname_custom", "hs_language", "email", "hs_email_optout"]
    assert {
        (s["section"], s["subscriptionType"])
        for s in _subscriptions(files)
        if s["subscriptionType"] != "contact.propertyChange"
    } == FIXED


def test_email_or_the_opt_out_in_the_mapping_is_subscribed_once(tmp_path: Path) -> None:
    mapped = _mapping(tmp_path, {"email": "email", "opted_out": "hs_email_optout", "city": "city"})
    files = _files(mapped)

    assert _watched(files) == ["email", "hs_email_optout", "city"]
    keys = [(s["subscriptionType"], s.get("propertyName")) for s in _subscriptions(files)]
    assert len(keys) == len(set(keys)) == 4 + 1 + 3


def test_no_subscription_is_repeated_even_when_properties_are() -> None:
    subscribed = project.subscriptions(["email", "phone", "email", "phone"])
    keys = [
        (section, s["subscriptionType"], s.get("propertyName"))
        for section, items in subscribed.items()
        for s in items
    ]

    assert len(keys) == len(set(keys))
    assert [k[2] for k in keys if k[2]] == ["email", "phone"]


def test_every_event_hubsync_acts_on_is_subscribed_and_restore_besides() -> None:
    types = {s["subscriptionType"] for s in _subscriptions(_files())}

    assert set(KINDS) <= types  # hubsync acts on each of these (connectors.hubspot)
    assert types - set(KINDS) <= {"contact.restore"}  # the issue asks for restore as well


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "is not set"),
        ("   ", "is not set"),
        ("hubsync.example.eu", "must be an absolute https:// URL"),
        ("ftp://hubsync.example.eu", "must be an absolute https:// URL"),
        ("https://", "must be an absolute https:// URL"),
        ("https://hubsync.example.eu/?x=1", "must not carry a query or a fragment"),
        ("https://hubsync.example.eu/#x", "must not carry a query or a fragment"),
        ("https://hubsync.example.eu", None),
        ("http://hubsync.example.eu/hubsync", None),
    ],
)
def test_a_target_must_be_an_absolute_http_url(url: str, problem: str | None) -> None:
    assert project.target_problem(url) == problem


NOT_HTTPS = "is not https: HubSpot requires an https target URL for webhooks"
LOOPBACK = "names this machine (loopback): HubSpot cannot reach it"


@pytest.mark.parametrize(
    ("url", "warnings"),
    [
        ("https://hubsync.example.eu/webhooks/hubspot", []),
        ("https://10.0.0.8:8443/webhooks/hubspot", []),
        ("http://hubsync.example.eu/webhooks/hubspot", [NOT_HTTPS]),
        ("HTTP://hubsync.example.eu/webhooks/hubspot", [NOT_HTTPS]),
        ("https://localhost:8443/webhooks/hubspot", [LOOPBACK]),
        ("https://app.localhost/webhooks/hubspot", [LOOPBACK]),
        ("https://[::1]/webhooks/hubspot", [LOOPBACK]),
        ("http://127.0.0.1:8080/webhooks/hubspot", [NOT_HTTPS, LOOPBACK]),
    ],
)
def test_a_target_hubspot_refuses_or_cannot_reach_is_warned_about(
    url: str, warnings: list[str]
) -> None:
    assert project.target_warnings(url) == warnings


def test_the_files_are_written_as_json_and_existing_ones_are_found(tmp_path: Path) -> None:
    files = _files()
    out = tmp_path / "hubspot-project"

    assert project.existing(out) == []
    written = project.write_project(out, files)

    assert written == [out / name for name in project.FILES]
    assert {p.relative_to(out).as_posix(): json.loads(p.read_text()) for p in written} == files
    assert project.existing(out) == written


def test_the_next_steps_upload_install_copy_the_secrets_and_check() -> None:
    steps = project.next_steps("my project")

    assert steps[0].startswith("cd 'my project' && hs project upload")
    assert "Distribution tab" in steps[1]
    assert "HUBSYNC_HUBSPOT__ACCESS_TOKEN" in steps[2]
    assert "HUBSYNC_HUBSPOT__CLIENT_SECRET" in steps[2]
    assert "Auth tab" in steps[2]
    assert steps[3] == "run hubsync check"
