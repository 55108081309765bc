"""The sandbox's validation rules: enforced on 2026-09 writes only, both error forms."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.server import RunningSandbox
from tests.integration.sandbox.helpers import TOKEN

HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _post(sandbox: RunningSandbox, path: str, body: Any) -> requests.Response:
    return requests.post(f"{sandbox.base_url}{path}", json=body, headers=HEADERS, timeout=5)


def _contact(sandbox: RunningSandbox, email: str) -> str:
    created = _post(sandbox, "/crm/v3/objects/contacts", {"properties": {"email": email}})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.parametrize("names_records", [True, False])
def test_a_2026_09_batch_update_breaking_a_rule_is_refused_whole(
    sandbox: RunningSandbox, names_records: bool
) -> None:
    good, bad = _contact(sandbox, "a@example.se"), _contact(sandbox, "b@example.se")
    rules = {"rules": [{"property": "company", "pattern": "[A-Za-z ]+"}]}
    configured = _post(sandbox, "/_sandbox/validation", {**rules, "names_records": names_records})
    assert configured.json()["rules"] == [{"property": "company", "pattern": "[A-Za-z ]+"}]
    inputs = [
        {"id": good, "properties": {"company": "Acme"}},
        {"id": bad, "properties": {"company": "Acme 42"}},
    ]

    refused = _post(sandbox, "/crm/objects/2026-09/contacts/batch/update", {"inputs": inputs})
    legacy = _post(sandbox, "/crm/v3/objects/contacts/batch/update", {"inputs": inputs})

    assert refused.status_code == 400
    body = refused.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["context"]["propertyName"] == ["company"]
    assert body["context"].get("ids") == ([bad] if names_records else None)
    assert legacy.status_code == 200  # the rules bind the 2026-09 paths only


def test_bad_rules_are_refused_and_a_reset_lifts_them(sandbox: RunningSandbox) -> None:
    assert _post(sandbox, "/_sandbox/validation", {"rules": [{"property": "x"}]}).status_code == 400
    bad_pattern = {"rules": [{"property": "x", "pattern": "("}]}
    assert _post(sandbox, "/_sandbox/validation", bad_pattern).status_code == 400
    _post(sandbox, "/_sandbox/validation", {"rules": [{"property": "x", "max_length": 1}]})

    requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=5).raise_for_status()

    shown = requests.get(f"{sandbox.base_url}/_sandbox/validation", timeout=5).json()
    assert shown == {"rules": [], "names_records": True}
