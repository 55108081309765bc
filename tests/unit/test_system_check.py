"""What ``hubsync check`` concludes from the answers of its parts, without a system to ask."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from sync.errors import ConfigurationError, LedgerError, RateLimited
from sync.model import RegisterReadiness
from sync.system_check import CheckParts, HubSpotProbe, run_checks

NEEDED = ["crm.objects.contacts.read", "crm.objects.contacts.write"]
READY = RegisterReadiness(())


@dataclass
class Ledger:
    """A ledger that is open at schema 6 until closed."""

    closed: bool = False

    def schema_version(self) -> int:
        return 6

    def close(self) -> None:
        self.closed = True


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    location: str | None
    reason: str


def probe(
    verdict: Verdict = Verdict(True, "eu1", "hosted in eu1"),
    granted: Iterable[str] | Exception = tuple(NEEDED),
) -> HubSpotProbe:
    def missing_scopes() -> list[str]:
        if isinstance(granted, Exception):
            raise granted
        have = set(granted)
        return [s for s in NEEDED if s not in have]

    return HubSpotProbe(
        base_url="https://api.hubapi.com",
        allowed_locations=["eu1"],
        residency=lambda: verdict,
        missing_scopes=missing_scopes,
        needed_scopes=len(NEEDED),
    )


def parts(
    ledger: Ledger | Exception,
    hubspot: HubSpotProbe | Exception,
    register: RegisterReadiness = READY,
) -> CheckParts:
    def open_ledger() -> Any:
        if isinstance(ledger, Exception):
            raise ledger
        return ledger

    def build_hubspot(_: Any) -> HubSpotProbe:
        if isinstance(hubspot, Exception):
            raise hubspot
        return hubspot

    return CheckParts(open_ledger, "sql", lambda: register, build_hubspot)


def test_everything_in_order_is_ok_and_the_ledger_is_closed() -> None:
    ledger = Ledger()

    report = run_checks(parts(ledger, probe()))

    assert report["ok"] is True
    assert list(report["checks"]) == [
        "settings", "ledger", "register", "hubspot", "scopes", "webhooks", "residency",
        "legal_basis", "brands",
    ]  # fmt: skip
    assert report["checks"]["ledger"]["detail"] == "schema version 6"
    assert report["checks"]["scopes"]["detail"] == "all 2 needed scopes granted"
    assert report["checks"]["residency"]["allowed"] == ["eu1"]
    assert ledger.closed


def test_a_ledger_that_does_not_open_ends_the_report() -> None:
    report = run_checks(parts(LedgerError("the ledger cannot be reached"), probe()))

    assert report == {
        "ok": False,
        "checks": {
            "settings": {"ok": True, "detail": "valid"},
            "ledger": {"ok": False, "detail": "the ledger cannot be reached"},
        },
    }


def test_unusable_hubspot_settings_end_the_report_and_the_ledger_is_closed() -> None:
    ledger = Ledger()

    report = run_checks(parts(ledger, ConfigurationError("[hubspot] access_token is not set")))

    assert report["ok"] is False
    assert list(report["checks"]) == ["settings", "ledger", "register", "hubspot"]
    assert report["checks"]["hubspot"]["detail"] == "[hubspot] access_token is not set"
    assert ledger.closed


def test_scopes_are_not_asked_of_a_hubspot_that_was_not_reached() -> None:
    unreached = Verdict(False, None, "residency not verified (HubSpotUnavailable)")

    checks = run_checks(parts(Ledger(), probe(verdict=unreached)))["checks"]

    assert checks["hubspot"] == {"ok": False, "detail": unreached.reason}
    assert checks["scopes"] == {
        "ok": False,
        "detail": "not checked: HubSpot was not reached",
        "missing": None,
    }


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        (NEEDED[:1], {"ok": False, "detail": f"missing: {NEEDED[1]}", "missing": NEEDED[1:]}),
        (RateLimited("HubSpot is rate limiting"), {"ok": False, "missing": None}),
    ],
)
def test_missing_or_unlearned_scopes_fail_the_check(granted: Any, expected: dict[str, Any]) -> None:
    report = run_checks(parts(Ledger(), probe(granted=granted)))

    assert report["ok"] is False
    assert expected.items() <= report["checks"]["scopes"].items()


def test_a_register_not_set_up_is_named_with_the_way_to_set_it_up() -> None:
    missing = RegisterReadiness(("table customers is missing",))

    checks = run_checks(parts(Ledger(), probe(), register=missing))["checks"]

    assert checks["register"]["ok"] is False
    assert checks["register"]["problems"] == ["table customers is missing"]
    assert "`hubsync register init`" in checks["register"]["detail"]


def test_a_service_key_passes_and_says_what_receiving_no_webhooks_means() -> None:
    service_key = replace(probe(), credential="service_key")

    report = run_checks(parts(Ledger(), service_key))

    webhooks = report["checks"]["webhooks"]
    assert report["ok"] is True
    assert (webhooks["ok"], webhooks["received"]) == (True, False)
    assert "receives no webhooks" in webhooks["detail"]
    assert "subscription check" in webhooks["detail"]
    assert run_checks(parts(Ledger(), probe()))["checks"]["webhooks"]["received"] is True
