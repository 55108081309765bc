"""The periodic subscription check against the sandbox, on both ledger backends.

Opt-outs are made inside HubSpot (an email's unsubscribe link) for subjects
with no recent activity; the check must find them over a cycle, 100
addresses a call, past an address HubSpot refuses, within its share of the
daily limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import structlog

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.events import Source
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.audit import Pseudonymizer
from sync.clock import FixedClock
from sync.errors import LinkDown
from sync.handlers.subscription_check import SubscriptionCheck
from sync.ledger.sql import SqlLedger
from sync.model import EventKind
from sync.status import read_report
from tests.integration.conftest import TOKEN
from tests.integration.worker.conftest import PSEUDONYM_KEY, build_system

PERIOD = timedelta(minutes=15)
BATCH_READ = "/communication-preferences/2026-09/statuses/batch/read"


@dataclass
class Parts:
    """A ledger, a register and HubSpot, and checks built over them."""

    sandbox: RunningSandbox
    ledger: SqlLedger
    register: SqlRegister
    clock: FixedClock
    settings: Any

    def subjects(self, count: int, *, opted_out: bool = True, bad: tuple[int, ...] = ()) -> None:
        """``count`` linked subjects with no recent events, opted out inside HubSpot."""
        for n in range(count):
            subject, email = f"C-{n:04d}", f"person{n:04d}@example.se"
            if n in bad:
                email = f"not an address {n}"
            self.register.add_customer(subject, email=email)
            self.ledger.remember_subject(subject, self.clock.now(), email=email)
            if opted_out and n not in bad:
                self.sandbox.sandbox.state.v4_unsubscribe_all(email, Source.email_link())

    def check(self, *, cycle: timedelta = PERIOD, **options: Any) -> SubscriptionCheck:
        """A check as a worker builds it (its own HubSpot client), with these options."""
        return SubscriptionCheck(
            ledger=self.ledger,
            hubspot=bootstrap.build_hubspot(self.settings, self.ledger, self.clock),
            register=self.register,
            clock=self.clock,
            pseudonymizer=Pseudonymizer(PSEUDONYM_KEY.encode()),
            every=PERIOD,
            cycle=cycle,
            **options,
        )

    def batch_reads(self) -> list[list[str]]:
        """The addresses of each batch status read, in order."""
        log = self.sandbox.sandbox.requests.entries()
        return [e["body"]["inputs"] for e in log if e["path"] == BATCH_READ]

    def opted_out_subjects(self) -> set[str]:
        """Subjects the check stored an opt-out for the register for."""
        return {
            e.subject_id
            for e in self.ledger.list_events(kind=EventKind.MARKETING_OPT_OUT, limit=None)
        }


def _parts(sandbox: RunningSandbox, ledger_settings: dict[str, Any]) -> Iterator[Parts]:
    system = build_system(sandbox.base_url, ledger_settings)
    clock = FixedClock(datetime.now(UTC))
    ledger = bootstrap.open_ledger_of(system.settings, clock)
    register = SqlRegister(system.settings.register.url)
    try:
        yield Parts(sandbox, ledger, register, clock, system.settings)
    finally:
        register.close()
        ledger.close()
        system.operator.ledger.close()
        system.worker.close()


@pytest.fixture
def parts(sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]) -> Iterator[Parts]:
    """The parts over the module's sandbox, reset."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    yield from _parts(sandbox_server, ledger_settings)


def test_every_linked_subject_is_checked_over_the_cycle(parts: Parts) -> None:
    """Subjects without recent events too: 250 over a cycle of four periods, each once."""
    parts.subjects(250)
    check = parts.check(cycle=4 * PERIOD)
    for _ in range(4):
        check.run_once()
        parts.clock.advance(PERIOD.total_seconds())
    assert parts.opted_out_subjects() == {f"C-{n:04d}" for n in range(250)}
    read = [email for call in parts.batch_reads() for email in call]
    assert sorted(read) == sorted(f"person{n:04d}@example.se" for n in range(250))
    assert [len(call) for call in parts.batch_reads()] == [63, 63, 63, 61]


def test_statuses_are_read_100_addresses_a_call(parts: Parts) -> None:
    parts.subjects(250, opted_out=False)
    parts.check().run_once()  # a cycle of one period: every subject in one turn
    assert [len(call) for call in parts.batch_reads()] == [100, 100, 50]
    wide = [e for e in parts.sandbox.sandbox.requests.entries() if e["path"].endswith("all/read")]
    assert [len(e["body"]["inputs"]) for e in wide] == [100, 100, 50]


@pytest.mark.parametrize("names_inputs", [True, False])
def test_one_failing_address_does_not_end_the_round(
    ledger_settings: dict[str, Any], names_inputs: bool
) -> None:
    """HubSpot refuses one address; the others are read (the batch halved when unnamed)."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        batch_errors_name_inputs=names_inputs,
    )
    with running_sandbox(config) as sandbox:
        for parts in _parts(sandbox, ledger_settings):
            parts.subjects(5, bad=(1,))
            with structlog.testing.capture_logs() as logs:
                parts.check().run_once()
            assert parts.opted_out_subjects() == {"C-0000", "C-0002", "C-0003", "C-0004"}
            (unread,) = [e for e in logs if e["event"] == "subscription_status_unread"]
            assert unread["subject"] == Pseudonymizer(PSEUDONYM_KEY.encode()).subject("C-0001")
            assert "address" not in json.dumps(logs, default=str)
            assert "example.se" not in json.dumps(logs, default=str)
            # Next cycle the refused address is read again.
            before = sum("not an address 1" in call for call in parts.batch_reads())
            parts.clock.advance(PERIOD.total_seconds())
            parts.check().run_once()
            assert sum("not an address 1" in call for call in parts.batch_reads()) > before


def test_workers_share_the_walk(parts: Parts) -> None:
    """Two workers taking turns continue one walk: no subject twice, none left out."""
    parts.subjects(40)
    first, second = parts.check(cycle=4 * PERIOD), parts.check(cycle=4 * PERIOD)
    for check in (first, second, first, second):
        check.run_once()
        parts.clock.advance(PERIOD.total_seconds())
    read = [email for call in parts.batch_reads() for email in call]
    assert len(read) == len(set(read)) == 40


def test_the_check_keeps_within_its_share_of_the_daily_limit(parts: Parts) -> None:
    """9,600 calls a day at 5 %: 480 a day, 5 a period, so 200 addresses (4 calls) a turn."""
    parts.subjects(500, opted_out=False)
    check = parts.check(daily_share=0.05, daily_limit=9_600)
    assert check.affordable() == 200
    check.run_once()
    assert [len(call) for call in parts.batch_reads()] == [100, 100]
    cost = read_report(parts.ledger, parts.clock.now()).as_dict()["subscription_check"]
    assert cost == {"calls_counted": 4, "calls_per_day_estimate": 4 * 96, "position": 200}
    assert 4 * 96 <= 0.05 * 9_600


def test_a_removed_read_scope_stops_the_round_at_its_first_call(parts: Parts) -> None:
    """A 403 MISSING_SCOPES is the link's, not an address's: no halving into 100 single reads."""
    parts.subjects(100)
    url = f"{parts.sandbox.base_url}/_sandbox/auth"
    scope = "communication_preferences.statuses.batch.read"
    requests.post(url, json={"remove_scopes": [scope]}, timeout=10).raise_for_status()
    try:
        with pytest.raises(LinkDown):
            parts.check().run_once()
    finally:
        requests.post(url, json={"restore": True}, timeout=10).raise_for_status()
    assert len(parts.batch_reads()) == 1
    assert parts.opted_out_subjects() == set()
