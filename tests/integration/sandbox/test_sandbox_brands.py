"""The sandbox's brands (business units): one unsubscribe-all per brand, chosen by query."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.sandbox.subscriptions import Definition
from tests.integration.conftest import TOKEN

EMAIL = "anna@example.se"
PREFIX = "/communication-preferences/2026-09/statuses"


@pytest.fixture(scope="module")
def branded() -> Iterator[RunningSandbox]:
    config = SandboxConfig(port=0, access_token=TOKEN, business_unit_ids=(0, 7))
    with running_sandbox(config) as running:
        yield running


def _call(sandbox: RunningSandbox, method: str, path: str, **params: Any) -> requests.Response:
    return requests.request(
        method,
        f"{sandbox.base_url}{PREFIX}{path}",
        params={"channel": "EMAIL", **params},
        json={"inputs": [EMAIL]} if "batch" in path else None,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )


def _wide(sandbox: RunningSandbox, **params: Any) -> list[dict[str, Any]]:
    answer = _call(sandbox, "POST", "/batch/unsubscribe-all/read", **params)
    assert answer.status_code == 200
    [item] = answer.json()["results"]
    return list(item["wideStatuses"])


def test_a_brands_unsubscribe_all_holds_for_that_brand_only(branded: RunningSandbox) -> None:
    requests.post(f"{branded.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    branded.sandbox.state.subscriptions.add_definition(
        Definition("7001", "Brand 7 news", "News of brand 7.", business_unit_id=7)
    )
    assert _call(branded, "POST", "/batch/unsubscribe-all", businessUnitId=7).status_code == 200

    [wide] = _wide(branded, businessUnitId=7)
    assert (wide["wideStatusType"], wide["businessUnitId"]) == ("BUSINESS_UNIT_WIDE", 7)
    assert _wide(branded) == []  # the default brand: still subscribed
    [own] = _call(branded, "GET", f"/{EMAIL}", businessUnitId=7).json()["results"]
    assert (own["subscriptionId"], own["status"]) == (7001, "UNSUBSCRIBED")
    default = _call(branded, "GET", f"/{EMAIL}").json()["results"]
    assert {s["status"] for s in default} == {"NOT_SPECIFIED"}
    assert branded.sandbox.state.snapshot()["subscriptions"][EMAIL]["unsubscribed_brands"] == [7]


def test_an_unknown_brand_is_refused(branded: RunningSandbox) -> None:
    answer = _call(branded, "POST", "/batch/unsubscribe-all", businessUnitId=8)
    assert answer.status_code == 400
    assert "businessUnitId" in answer.text
