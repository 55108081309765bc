"""Access exports hold Sensitive Data the token may read, and say what it may not (issue 13).

HubSpot lists only non-sensitive properties unless ``dataSensitivity`` asks
for another level, and reading the values of a Sensitive or Highly Sensitive
property needs that level's scope (sensitive-data guide). Each test runs
against a sandbox granting both sensitive scopes, one, or none, and on both
ledger backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.scopes import REQUIRED_SCOPES, SENSITIVITY_SCOPE, optional_scopes
from sync import bootstrap
from sync.handlers.access import AccessExporter
from sync.ledger.sql import SqlLedger
from sync.settings import Settings
from tests.integration.access.conftest import EMAIL, FIRST_NAME, Hub, validate
from tests.integration.conftest import TOKEN

NOW = datetime.now(UTC)
PASSPORT = "PX9981230"
DIAGNOSIS = "Condition-Zq77"
GRANTS = {
    "both": frozenset(SENSITIVITY_SCOPE.values()),
    "sensitive_only": frozenset({SENSITIVITY_SCOPE["sensitive"]}),
    "none": frozenset(),
}


@pytest.fixture(scope="module", params=sorted(GRANTS))
def sandbox_server(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    """This module's sandbox: every needed scope, plus the sensitive ones of the param."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        search_limit_per_s=100_000,
        scopes=frozenset(REQUIRED_SCOPES) | GRANTS[request.param],
    )
    with running_sandbox(config) as running:
        yield running


def _granted_levels(hub: Hub) -> set[str]:
    scopes = hub.running.config.scopes
    return {level for level, scope in SENSITIVITY_SCOPE.items() if scope in scopes}


def _add_sensitive_properties(hub: Hub) -> None:
    """A passport number (Sensitive) and a diagnosis (Highly Sensitive), as an admin adds them."""
    for name, level in (("passport_number", "sensitive"), ("diagnosis", "highly_sensitive")):
        body = {
            "name": name,
            "label": name,
            "type": "string",
            "fieldType": "text",
            "groupName": "contactinformation",
            "dataSensitivity": level,
        }
        hub.running.sandbox.state.property_call(
            lambda schema, body=body: schema.create(body, "2026-01-01T00:00:00.000Z")
        )


def _only_contact(document: dict[str, Any]) -> dict[str, Any]:
    (contact,) = document["hubspot"]["contacts"]
    return dict(contact)


def test_the_sandbox_lists_sensitive_properties_only_when_asked(hub: Hub) -> None:
    _add_sensitive_properties(hub)
    url = f"{hub.base_url}/crm/properties/2026-09/contacts"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def names(**query: str) -> set[str]:
        answer = requests.get(url, params=query, headers=headers, timeout=10)
        answer.raise_for_status()
        return {p["name"] for p in answer.json()["results"]}

    assert {"passport_number", "diagnosis"}.isdisjoint(names())
    assert "firstname" in names()
    assert names(dataSensitivity="sensitive") == {"passport_number"}
    assert names(dataSensitivity="highly_sensitive") == {"diagnosis"}


def test_export_holds_every_sensitivity_level_the_token_may_read_and_names_the_rest(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    _add_sensitive_properties(hub)
    contact_id = hub.form(
        EMAIL, firstname=FIRST_NAME, passport_number=PASSPORT, diagnosis=DIAGNOSIS
    )
    ledger.remember_subject("C-1", NOW, email=EMAIL, contact_ids=[contact_id])

    document = exporter.document("C-1")

    validate(document)
    granted = _granted_levels(hub)
    contact = _only_contact(document)
    assert contact["properties"]["firstname"] == FIRST_NAME  # the rest is always exported
    assert contact["properties"]["email"] == EMAIL
    assert (contact["properties"].get("passport_number") == PASSPORT) == ("sensitive" in granted)
    assert (contact["properties"].get("diagnosis") == DIAGNOSIS) == ("highly_sensitive" in granted)
    if "sensitive" in granted:
        assert [v["value"] for v in contact["history"]["passport_number"]] == [PASSPORT]
    withheld = sorted({"sensitive", "highly_sensitive"} - granted)
    assert document["hubspot"].get("sensitive_data_withheld", []) == withheld


def test_check_warns_without_failing_when_the_sensitive_scopes_are_missing(
    hub: Hub, settings: Settings, ledger: SqlLedger
) -> None:
    quiet = bootstrap.check(settings)["checks"]["scopes"]
    _add_sensitive_properties(hub)  # from here on, the account stores Sensitive Data

    scopes = bootstrap.check(settings)["checks"]["scopes"]

    lacking = [s for s in optional_scopes() if s not in hub.running.config.scopes]
    assert quiet["ok"] is True
    assert quiet["optional_missing"] == []  # no Sensitive Data yet: nothing to lose
    assert scopes["ok"] is True  # a warning, never a failed check
    assert scopes["missing"] == []
    assert scopes["optional_missing"] == lacking
    if lacking:
        assert "warning" in scopes["detail"]
        assert all(scope in scopes["detail"] for scope in lacking)
    else:
        assert "warning" not in scopes
