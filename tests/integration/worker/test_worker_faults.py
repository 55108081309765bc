"""Faults: 5xx, timeouts and 429 bursts lose nothing and never reorder an erasure."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from sync import bootstrap
from sync.clock import FixedClock
from sync.model import EventState
from tests.integration.worker.conftest import PSEUDONYM_KEY, TOKEN, System, build_system

SUBJECTS = 400
EVENTS = 2000
FINISHED = {EventState.DONE, EventState.SUPERSEDED, EventState.SKIPPED}


@pytest.fixture
def faulty_sandbox() -> Iterator[RunningSandbox]:
    """A sandbox with a one-second rate-limit window (bursts of 429) and a long request log."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=40,
        rate_limit_interval_ms=1000,
        search_limit_per_s=1000,
        timeout_hold_s=1.0,
        request_log_size=200_000,
        seed=7,
    )
    with running_sandbox(config) as running:
        yield running


def _email(n: int) -> str:
    return f"person{n}@example.se"


def _mixed_events(rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    """2,000 events over 400 subjects: rectifications, opt-outs, restrictions, erasures."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    for n in range(EVENTS):
        subject = rng.randrange(SUBJECTS)
        roll = rng.random()
        fields: dict[str, Any] = {"email": _email(subject)}
        if roll < 0.55:
            kind = "rectification"
            fields["changes"] = {"first_name": f"Name{n}", "company": f"Co{n}"}
        elif roll < 0.75:
            kind = "marketing_opt_out"
        elif roll < 0.85:
            kind = "restriction"
        elif roll < 0.92:
            kind = "restriction_lifted"
        else:
            kind = "erasure"
        events.append((kind, f"S-{subject}", fields))
    return events


def _run_worker_until(system: System, done: threading.Event, deadline: float) -> None:
    while not done.is_set() and time.monotonic() < deadline:
        if system.worker.run_once() == 0:
            time.sleep(0.02)


def _bursts_of_other_traffic(base_url: str, stop: threading.Event) -> None:
    """Another client on the same token spends the window now and then: hubsync gets 429s."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    while not stop.wait(2.0):
        for _ in range(60):
            session.get(f"{base_url}/account-info/2026-09/details", timeout=5)


def _writes_after_erasure(calls: list[dict[str, Any]], erased: dict[str, str]) -> list[int]:
    """Request seqs that wrote to a contact or address after its successful GDPR delete."""
    gone_ids: set[str] = set()
    gone_emails: set[str] = set()
    bad: list[int] = []
    for call in calls:
        body = call.get("body") or {}
        if call["path"].endswith("gdpr-delete") and call["status"] == 204:
            key = str(body.get("objectId"))
            if body.get("idProperty") == "email":
                gone_emails.add(key)
            else:
                gone_ids.add(key)
                if key in erased:
                    gone_emails.add(erased[key])
            continue
        if call["method"] == "GET":
            continue
        inputs = body.get("inputs") or []
        touched = {str(i.get("id")) for i in inputs if isinstance(i, dict)}
        touched |= {i for i in inputs if isinstance(i, str)}
        if touched & (gone_ids | gone_emails) and not call["path"].endswith("batch/read"):
            bad.append(call["seq"])
    return bad


@pytest.mark.slow
def test_two_thousand_mixed_events_survive_faults_and_none_is_applied_after_erasure(
    faulty_sandbox: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    system = build_system(
        faulty_sandbox.base_url, ledger_settings, timeout_seconds=0.3, rate_limit_per_10s=10_000
    )
    try:
        contact_emails: dict[str, str] = {}
        for subject in range(SUBJECTS):
            contact_emails[system.contact(_email(subject), firstname="First")] = _email(subject)
        system.submit("marketing_opt_out", "warm-up", "warm-up", email="warm@example.se")
        system.worker.run_until_idle()  # the residency verdict is read before the faults start
        system.control("POST", "/_sandbox/faults", {"error_rate": 0.15, "error_status": 503,
                                                     "timeout_rate": 0.05, "seed": 11})  # fmt: skip

        done = threading.Event()
        worker = threading.Thread(
            target=_run_worker_until, args=(system, done, time.monotonic() + 240), daemon=True
        )
        worker.start()
        bursts = threading.Thread(
            target=_bursts_of_other_traffic, args=(faulty_sandbox.base_url, done), daemon=True
        )
        bursts.start()
        rng = random.Random(2026)
        for n, (kind, subject, fields) in enumerate(_mixed_events(rng)):
            system.submit(kind, subject, f"ev-{n}", **fields)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            events = system.operator.events(limit=None)
            if len(events) == EVENTS + 1 and all(e.state in FINISHED for e in events):
                break
            time.sleep(0.5)
        done.set()
        worker.join(30)
        bursts.join(30)

        events = system.operator.events(limit=None)
        states = {e.event_id: e.state for e in events}
        assert len(states) == EVENTS + 1  # none lost
        unfinished = {
            e.event_id: (
                e.state.value,
                e.kind.value,
                e.last_error.as_dict() if e.last_error else None,
            )
            for e in events
            if e.state not in FINISHED
        }
        assert unfinished == {}, (
            f"{len(unfinished)} unfinished, e.g. {list(unfinished.items())[:3]}"
        )
        counters = system.state()["counters"]
        assert counters["faults"] > 50
        rate_limited_codes = {e.last_error.code for e in events if e.last_error}
        assert "rate_limited_ten_secondly_rolling" in rate_limited_codes  # hubsync met 429s
        assert any(e.attempts > 1 for e in events)  # and 5xx or timeouts cost attempts
        calls = system.api_requests()
        assert _writes_after_erasure(calls, contact_emails) == []
    finally:  # a failed assertion must not leave connections for the next test
        system.operator.ledger.close()
        system.worker.close()


def test_a_permanent_403_dead_letters_and_replay_all_completes_after_the_fault(
    faulty_sandbox: RunningSandbox, ledger_settings: dict[str, Any], tmp_path: Path
) -> None:
    system = build_system(faulty_sandbox.base_url, ledger_settings)
    for n in range(5):
        system.contact(_email(n), firstname="First")
    system.submit("marketing_opt_out", "warm-up", "warm-up", email="warm@example.se")
    system.worker.run_until_idle()
    system.control("POST", "/_sandbox/faults", {"error_rate": 1.0, "error_status": 403})
    for n in range(5):
        system.submit("rectification", f"S-{n}", f"r{n}", email=_email(n),
                      changes={"last_name": "Replayed"})  # fmt: skip
    system.worker.run_until_idle()
    failed = system.operator.events(state=EventState.FAILED)
    assert sorted(e.event_id for e in failed) == [f"r{n}" for n in range(5)]
    assert {e.last_error.http_status for e in failed if e.last_error} == {403}

    system.control("POST", "/_sandbox/faults", {"error_rate": 0.0})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    env["HUBSYNC_AUDIT__PSEUDONYM_KEY"] = PSEUDONYM_KEY
    env["HUBSYNC_LEDGER__URL"] = ledger_settings["url"]
    if "schema" in ledger_settings:
        env["HUBSYNC_LEDGER__SCHEMA"] = ledger_settings["schema"]
    hubsync = str(Path(sys.executable).with_name("hubsync"))
    replay = subprocess.run([hubsync, "replay", "--all", "--json"], env=env, check=False,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    system.worker.run_until_idle()
    states = {e.event_id: e.state.value for e in system.operator.events(limit=None)}
    assert all(states[f"r{n}"] == "done" for n in range(5))
    names = {
        c["properties"].get("lastname") for c in system.state()["contacts"]
        if c["properties"].get("email") != "warm@example.se"
    }  # fmt: skip
    assert names == {"Replayed"}
    requests.post(f"{faulty_sandbox.base_url}/_sandbox/reset", timeout=10)
    system.operator.ledger.close()
    system.worker.close()


def test_a_worker_started_during_an_outage_applies_events_within_a_minute_of_recovery(
    system: System,
) -> None:
    """Issue 10: a residency check that failed at start is not kept as the verdict for an hour."""
    for n in range(3):
        system.contact(_email(n), firstname="First")
    system.worker.close()  # replaced below by one on a clock the test moves
    system.control("POST", "/_sandbox/faults", {"error_rate": 1.0, "error_status": 503})
    try:
        for n in range(3):
            system.submit("rectification", f"S-{n}", f"out-{n}", email=_email(n),
                          changes={"last_name": "Recovered"})  # fmt: skip
        started = datetime.now(UTC)
        clock = FixedClock(started)
        system.worker = bootstrap.build_worker(system.settings, clock=clock)
        with structlog.testing.capture_logs() as logs:
            system.worker.run_once()  # HubSpot answers 503 to account details
        deferred = [system.event(f"out-{n}") for n in range(3)]

        system.control("POST", "/_sandbox/faults", {"error_rate": 0.0})  # HubSpot recovers
        recovered = len(system.api_requests())
        clock.advance(10)  # well under a minute
        system.worker.run_until_idle()
    finally:
        system.control("POST", "/_sandbox/faults", {"error_rate": 0.0})

    states = {f"out-{n}": system.event(f"out-{n}").state for n in range(3)}
    assert states == dict.fromkeys(states, EventState.DONE)
    after = [c["path"] for c in system.api_requests()[recovered:]]
    assert after[0] == "/account-info/2026-09/details"
    lastnames = {c["properties"].get("lastname") for c in system.state()["contacts"]}
    assert lastnames == {"Recovered"}

    for event in deferred:
        assert (event.state, event.attempts) == (EventState.PENDING, 0)
        assert event.last_error is not None
        assert event.last_error.code == "residency_unverified"
        assert "HubSpot answered 503 to account details" in (event.last_error.detail or "")
        assert started < event.next_attempt_at < started + timedelta(seconds=10)
    names = [entry["event"] for entry in logs]
    assert "residency_check_failed" in names
    assert "residency_refused" not in names
    failed = next(entry for entry in logs if entry["event"] == "residency_check_failed")
    assert (failed["code"], failed["http_status"]) == ("http_503", 503)
