"""Communication preferences end to end: status writes, legal bases, opting out of all email.

Each test drives the worker against the sandbox, on both ledger backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.events import Source
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.sandbox.subscriptions import Definition
from sync import bootstrap
from tests.integration.conftest import TOKEN
from tests.integration.worker.conftest import System, build_system

EMAIL = "greta.holm@example.se"
BASIS = {"legal_basis": "LEGITIMATE_INTEREST_OTHER", "legal_basis_explanation": "Art. 21 objection"}


@pytest.fixture
def sandbox(sandbox_server: RunningSandbox) -> RunningSandbox:
    """The module's sandbox, reset."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    return sandbox_server


@pytest.fixture
def v3_system(sandbox: RunningSandbox, ledger_settings: dict[str, Any]) -> Iterator[System]:
    """hubsync without the batch scopes: ``subscriptions_api = "v3"``, no legal basis set."""
    built = build_system(sandbox.base_url, ledger_settings, subscriptions_api="v3")
    yield built
    built.operator.ledger.close()
    built.worker.close()


def _subscribe(sandbox: RunningSandbox, email: str, subscription_id: str) -> None:
    """The address subscribed inside HubSpot (a form with consent)."""
    sandbox.sandbox.state.v4_set(
        email,
        subscription_id,
        "SUBSCRIBED",
        legal_basis="CONSENT_WITH_NOTICE",
        explanation="signed up",
        source=Source.form(),
    )


def _status(system: System, email: str, subscription_id: str) -> str | None:
    statuses = system.state()["subscriptions"].get(email, {}).get("statuses", {})
    status = statuses.get(subscription_id)
    return None if status is None else str(status["status"])


def _error_code(system: System, event_id: str) -> str | None:
    event = system.event(event_id)
    return event.last_error.code if event.last_error else None


# -- a 400 is "already done" only when a read-back says so -------------------------------


def test_a_400_for_an_unknown_subscription_is_not_recorded_done(v3_system: System) -> None:
    v3_system.contact(EMAIL)
    v3_system.submit("marketing_opt_out", "C-1", "o1", email=EMAIL, subscription_ids=["9999"])
    v3_system.worker.run_until_idle()
    event = v3_system.event("o1")
    assert event.state.value == "failed"
    reads = [r for r in v3_system.api_requests() if r["method"] == "GET"]
    assert any(r["path"].endswith("/statuses/" + EMAIL) for r in reads)  # it read back


def test_a_400_for_a_missing_legal_basis_is_not_recorded_done(
    sandbox: RunningSandbox, v3_system: System
) -> None:
    """The account is GDPR-enabled and no legal basis is configured: HubSpot refuses."""
    v3_system.contact(EMAIL)
    _subscribe(sandbox, EMAIL, "1001")
    v3_system.submit("marketing_opt_out", "C-2", "o2", email=EMAIL, subscription_ids=["1001"])
    v3_system.worker.run_until_idle()
    assert v3_system.event("o2").state.value == "failed"
    assert _status(v3_system, EMAIL, "1001") == "SUBSCRIBED"


def test_a_400_for_an_address_already_unsubscribed_is_done(
    sandbox: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    system = build_system(sandbox.base_url, ledger_settings, subscriptions_api="v3", **BASIS)
    try:
        system.contact(EMAIL)
        for n in (1, 2):  # the second unsubscribe is answered 400, "already unsubscribed"
            system.submit(
                "marketing_opt_out", "C-3", f"o3-{n}", email=EMAIL, subscription_ids=["1001"]
            )
            system.worker.run_until_idle()
            assert system.event(f"o3-{n}").state.value == "done"
        writes = [r for r in system.api_requests() if r["path"].endswith("/unsubscribe")]
        assert [r["status"] for r in writes] == [200, 400]
    finally:
        system.operator.ledger.close()
        system.worker.close()


# -- the legal basis a GDPR-enabled account requires --------------------------------------


def test_the_configured_legal_basis_goes_with_a_single_unsubscribe(
    sandbox: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    system = build_system(sandbox.base_url, ledger_settings, subscriptions_api="v3", **BASIS)
    try:
        system.contact(EMAIL)
        _subscribe(sandbox, EMAIL, "1001")
        system.submit("marketing_opt_out", "C-4", "o4", email=EMAIL, subscription_ids=["1001"])
        system.worker.run_until_idle()
        assert system.event("o4").state.value == "done"
        assert _status(system, EMAIL, "1001") == "UNSUBSCRIBED"
        (write,) = [r for r in system.api_requests() if r["path"].endswith("/unsubscribe")]
        assert write["body"]["legalBasis"] == "LEGITIMATE_INTEREST_OTHER"
        assert write["body"]["legalBasisExplanation"] == "Art. 21 objection"
    finally:
        system.operator.ledger.close()
        system.worker.close()


@pytest.mark.parametrize("batch_enforced", [False, True])
def test_the_batch_write_carries_the_configured_legal_basis(
    ledger_settings: dict[str, Any], batch_enforced: bool
) -> None:
    """Whether HubSpot's batch write demands it for an unsubscribe is unknown: both ways."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        legal_basis_to_unsubscribe_batch=batch_enforced,
    )
    with running_sandbox(config) as running:
        system = build_system(running.base_url, ledger_settings, **BASIS)
        try:
            system.contact(EMAIL)
            _subscribe(running, EMAIL, "1002")
            system.submit("marketing_opt_out", "C-5", "o5", email=EMAIL, subscription_ids=["1002"])
            system.worker.run_until_idle()
            assert system.event("o5").state.value == "done"
            assert _status(system, EMAIL, "1002") == "UNSUBSCRIBED"
            (write,) = [r for r in system.api_requests() if r["path"].endswith("/batch/write")]
            (item,) = write["body"]["inputs"]
            assert (item["legalBasis"], item["legalBasisExplanation"]) == (
                "LEGITIMATE_INTEREST_OTHER",
                "Art. 21 objection",
            )
        finally:
            system.operator.ledger.close()
            system.worker.close()


def test_an_opt_out_without_a_legal_basis_sends_no_lone_explanation(system: System) -> None:
    system.contact(EMAIL)
    system.submit("marketing_opt_out", "C-6", "o6", email=EMAIL, subscription_ids=["1001"])
    system.worker.run_until_idle()
    assert system.event("o6").state.value == "done"
    (write,) = [r for r in system.api_requests() if r["path"].endswith("/batch/write")]
    (item,) = write["body"]["inputs"]
    assert "legalBasis" not in item
    assert "legalBasisExplanation" not in item


def test_check_says_when_no_legal_basis_is_configured(
    sandbox: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    bare = build_system(sandbox.base_url, ledger_settings)
    based = build_system(sandbox.base_url, ledger_settings, **BASIS)
    off = build_system(sandbox.base_url, ledger_settings, gdpr_enabled=False)
    try:
        missing = bootstrap.check(bare.settings)["checks"]["legal_basis"]
        assert missing["configured"] is False
        assert "no [hubspot] legal_basis" in missing["detail"]
        assert bootstrap.check(based.settings)["checks"]["legal_basis"]["configured"] is True
        assert (
            "not GDPR-enabled" in bootstrap.check(off.settings)["checks"]["legal_basis"]["detail"]
        )
    finally:
        for built in (bare, based, off):
            built.operator.ledger.close()
            built.worker.close()


# -- opting out of all email is portal-wide ------------------------------------------------


def test_an_opt_out_from_all_without_batch_scopes_covers_types_created_later(
    sandbox: RunningSandbox, v3_system: System
) -> None:
    v3_system.contact(EMAIL)
    v3_system.submit("marketing_opt_out", "C-7", "o7", email=EMAIL)
    v3_system.worker.run_until_idle()
    assert v3_system.event("o7").state.value == "done"
    writes = [r for r in v3_system.api_requests() if r["method"] == "POST"]
    assert [r["path"] for r in writes if "/communication-preferences/" in r["path"]] == [
        f"/communication-preferences/2026-09/statuses/{EMAIL}/unsubscribe-all"
    ]
    sandbox.sandbox.state.subscriptions.add_definition(
        Definition("1004", "Events", "Invitations to events.")
    )
    assert v3_system.state()["subscriptions"][EMAIL]["unsubscribed_from_all"] is True
    later = requests.get(
        f"{sandbox.base_url}/communication-preferences/2026-09/statuses/{EMAIL}",
        params={"channel": "EMAIL"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    ).json()["results"]
    assert {s["subscriptionId"]: s["status"] for s in later}[1004] == "UNSUBSCRIBED"
