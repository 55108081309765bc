"""Brands (HubSpot business units): an unsubscribe-all per brand, on both ledger backends.

The sandbox account has two brands, the default (0) and 7; hubsync is
configured with both (``[hubspot] business_unit_ids``). Opt-outs and
restrictions must reach every brand, and the periodic check must tell an
opt-out from all email from one brand's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.register.sql import SqlRegister
from connectors.register.wire import event_from_json, event_to_json, register_envelope
from sync import bootstrap
from sync.audit import Pseudonymizer
from sync.clock import FixedClock
from sync.handlers.subscription_check import SubscriptionCheck
from sync.model import EventKind
from tests.integration.conftest import TOKEN
from tests.integration.worker.conftest import PSEUDONYM_KEY, System, build_system

EMAIL = "greta.holm@example.se"
BRANDS = (0, 7)
BASIS = {"legal_basis": "LEGITIMATE_INTEREST_OTHER", "legal_basis_explanation": "Art. 21 objection"}


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningSandbox]:
    """One sandbox per module whose account has two brands; tests reset it."""
    config = SandboxConfig(
        port=0, access_token=TOKEN, rate_limit_per_10s=100_000, business_unit_ids=BRANDS
    )
    with running_sandbox(config) as running:
        yield running


@pytest.fixture(params=["v4", "v3"])
def branded(
    request: pytest.FixtureRequest, sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]
) -> Iterator[System]:
    """hubsync configured with both brands, with the batch scopes (v4) and without (v3)."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    built = build_system(
        sandbox_server.base_url,
        ledger_settings,
        business_unit_ids=list(BRANDS),
        subscriptions_api=request.param,
        **BASIS,
    )
    yield built
    built.operator.ledger.close()
    built.worker.close()


def _brands_opted_out(system: System, email: str) -> list[int]:
    held = system.state()["subscriptions"].get(email, {})
    return list(held.get("unsubscribed_brands", []))


def test_an_opt_out_from_all_unsubscribes_the_address_in_every_brand(branded: System) -> None:
    branded.contact(EMAIL)
    branded.submit("marketing_opt_out", "C-1", "o1", email=EMAIL)
    branded.worker.run_until_idle()
    assert branded.event("o1").state.value == "done"
    assert _brands_opted_out(branded, EMAIL) == [0, 7]
    wide = [r for r in branded.api_requests() if r["path"].endswith("unsubscribe-all")]
    assert any("businessUnitId=7" in r["query"] for r in wide)


def test_a_restriction_unsubscribes_the_address_in_every_brand(branded: System) -> None:
    branded.contact(EMAIL)
    branded.submit("restriction", "C-2", "r1", email=EMAIL)
    branded.worker.run_until_idle()
    assert branded.event("r1").state.value == "done"
    assert _brands_opted_out(branded, EMAIL) == [0, 7]


def test_check_names_the_configured_brands(branded: System) -> None:
    brands = bootstrap.check(branded.settings)["checks"]["brands"]
    assert brands["business_unit_ids"] == [0, 7]
    assert brands["ok"] is True


# -- the periodic check: one brand's opt-out is not an opt-out from all ------------------


@pytest.fixture
def ledger_and_register(
    branded: System,
) -> Iterator[tuple[Any, SqlRegister, FixedClock]]:
    """The branded system's ledger and register, opened for the check."""
    clock = FixedClock(datetime.now(UTC))
    ledger = bootstrap.open_ledger_of(branded.settings, clock)
    register = SqlRegister(branded.settings.register.url)
    try:
        yield ledger, register, clock
    finally:
        register.close()
        ledger.close()


def test_an_opt_out_of_one_brand_is_recorded_for_that_brand_only(
    branded: System, ledger_and_register: tuple[Any, SqlRegister, FixedClock]
) -> None:
    """Anna left brand 7, Bo brand 0, Cleo both: only Cleo opted out from all email."""
    ledger, register, clock = ledger_and_register
    people = {"C-1": ("anna@example.se", [7]), "C-2": ("bo@example.se", [0])}
    people["C-3"] = ("cleo@example.se", [0, 7])
    for subject, (email, brands) in people.items():
        register.add_customer(subject, email=email)
        ledger.remember_subject(subject, clock.now(), email=email)
        for brand in brands:  # each brand's "unsubscribe from all" link, inside HubSpot
            branded.control(
                "POST",
                "/_sandbox/actions/unsubscribe",
                {"email": email, "business_unit_id": brand},
            )
    check = SubscriptionCheck(
        ledger=ledger,
        hubspot=bootstrap.build_hubspot(branded.settings, ledger, clock),
        register=register,
        clock=clock,
        pseudonymizer=Pseudonymizer(PSEUDONYM_KEY.encode()),
        every=timedelta(minutes=15),
        cycle=timedelta(minutes=15),  # every subject in one turn
    )

    assert check.run_once() == 3

    found = {
        e.subject_id: e.envelope().business_unit_id
        for e in ledger.list_events(kind=EventKind.MARKETING_OPT_OUT, limit=None)
    }
    assert found == {"C-1": 7, "C-2": 0, "C-3": None}
    # The register is told which brand: the brand travels on the wire, and back.
    [anna] = ledger.list_events(subject_id="C-1", kind=EventKind.MARKETING_OPT_OUT)
    sent = event_to_json(anna, register_envelope(anna))
    assert sent["business_unit_id"] == 7
    assert event_from_json(sent)[0].business_unit_id == 7
    [cleo] = ledger.list_events(subject_id="C-3", kind=EventKind.MARKETING_OPT_OUT)
    assert "business_unit_id" not in event_to_json(cleo, register_envelope(cleo))
