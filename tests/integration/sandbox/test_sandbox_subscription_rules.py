"""The sandbox's communication-preference rules: legal bases and portal-wide opt-outs."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.sandbox.subscriptions import Definition
from tests.integration.sandbox.helpers import action

PREFIX = "/communication-preferences/2026-09"
EMAIL = "anna@example.se"
AUTH = {"Authorization": "Bearer any-token"}
BASIS = {"legalBasis": "LEGITIMATE_INTEREST_OTHER", "legalBasisExplanation": "Objection"}


def _post(running: RunningSandbox, path: str, body: Any, **query: str) -> requests.Response:
    return requests.post(
        f"{running.base_url}{PREFIX}{path}", json=body, params=query, headers=AUTH, timeout=5
    )


def _statuses(running: RunningSandbox, email: str) -> dict[int, str]:
    answer = requests.get(
        f"{running.base_url}{PREFIX}/statuses/{email}",
        params={"channel": "EMAIL"},
        headers=AUTH,
        timeout=5,
    )
    return {s["subscriptionId"]: s["status"] for s in answer.json()["results"]}


def _batch_unsubscribe(running: RunningSandbox, **extra: str) -> requests.Response:
    item = {
        "subscriberIdString": EMAIL,
        "channel": "EMAIL",
        "statusState": "UNSUBSCRIBED",
        "subscriptionId": 1001,
        **extra,
    }
    return _post(running, "/statuses/batch/write", {"inputs": [item]})


def test_a_single_unsubscribe_needs_a_legal_basis_in_a_gdpr_account(
    sandbox: RunningSandbox,
) -> None:
    refused = _post(sandbox, "/unsubscribe", {"emailAddress": EMAIL, "subscriptionId": "1001"})
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    assert _statuses(sandbox, EMAIL)[1001] == "NOT_SPECIFIED"
    done = _post(
        sandbox, "/unsubscribe", {"emailAddress": EMAIL, "subscriptionId": "1001", **BASIS}
    )
    assert done.status_code == 200
    assert _statuses(sandbox, EMAIL)[1001] == "UNSUBSCRIBED"


def test_an_unsubscribe_through_an_email_link_needs_no_legal_basis(
    sandbox: RunningSandbox,
) -> None:
    action(sandbox, "unsubscribe", email=EMAIL, subscription_id="1001")
    assert _statuses(sandbox, EMAIL)[1001] == "UNSUBSCRIBED"


@pytest.mark.parametrize(
    ("options", "enforced"),
    [
        ({}, True),
        ({"gdpr_enabled": False}, False),
        ({"legal_basis_to_unsubscribe": False}, False),
    ],
)
def test_the_legal_basis_rule_follows_the_account(options: dict[str, Any], enforced: bool) -> None:
    with running_sandbox(SandboxConfig(port=0, **options)) as running:
        answer = _post(running, "/unsubscribe", {"emailAddress": EMAIL, "subscriptionId": "1001"})
        assert (answer.status_code == 400) is enforced


@pytest.mark.parametrize("enforced", [False, True])
def test_the_batch_write_enforces_a_legal_basis_on_unsubscribes_only_as_configured(
    enforced: bool,
) -> None:
    config = SandboxConfig(port=0, legal_basis_to_unsubscribe_batch=enforced)
    with running_sandbox(config) as running:
        bare = _batch_unsubscribe(running).json()
        assert bool(bare.get("numErrors")) is enforced
        based = _batch_unsubscribe(running, **BASIS).json()
        assert not based.get("numErrors")
        assert _statuses(running, EMAIL)[1001] == "UNSUBSCRIBED"


def test_an_opt_out_from_all_covers_a_subscription_type_created_later(
    sandbox: RunningSandbox,
) -> None:
    answer = _post(sandbox, f"/statuses/{EMAIL}/unsubscribe-all", None, channel="EMAIL")
    assert answer.status_code == 200
    sandbox.sandbox.state.subscriptions.add_definition(Definition("1004", "Events", "Events."))
    assert _statuses(sandbox, EMAIL) == {
        1001: "UNSUBSCRIBED",
        1002: "UNSUBSCRIBED",
        1003: "UNSUBSCRIBED",
        1004: "UNSUBSCRIBED",
    }
    requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=5).raise_for_status()
    assert 1004 not in _statuses(sandbox, EMAIL)  # a reset forgets the added type
