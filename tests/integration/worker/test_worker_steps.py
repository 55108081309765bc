"""The worker's steps (webhook inbox, register outbox, subscription check) fail loudly, rarely.

A register that is not set up is named once, with what is missing, and again
only when that changes or is fixed; any other failure of a step is logged
each time the step is tried, after a rest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.clock import FixedClock
from sync.ledger.sqlite import SqliteLedger
from sync.model import (
    Direction,
    Envelope,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    SubjectId,
)
from sync.settings import load_settings
from sync.worker import Worker
from tests.conftest import T0
from tests.integration.worker.conftest import PSEUDONYM_KEY, TOKEN

NOT_SET_UP = "the register is not set up: "


@pytest.fixture
def register_path(tmp_path: Path) -> Path:
    """Where the register's SQLite file goes (not created)."""
    return tmp_path / "register.db"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def worker(tmp_path: Path, register_path: Path, clock: FixedClock) -> Iterator[Worker]:
    """A worker whose HubSpot is never reached (nothing is ready) on the given register."""
    settings = load_settings(
        None,
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        hubspot={"base_url": "http://127.0.0.1:9", "access_token": TOKEN},
        audit={"pseudonym_key": PSEUDONYM_KEY},
        register={"url": f"sqlite:///{register_path}"},
    )
    built = bootstrap.build_worker(settings, clock=clock)
    yield built
    built.close()


def _rounds(worker: Worker, clock: FixedClock, count: int) -> None:
    """``count`` rounds, each after the step's rest has passed."""
    for _ in range(count):
        worker.run_once()
        clock.advance(31)


def _create_tables(path: Path) -> None:
    """What ``hubsync register init`` does."""
    register = SqlRegister(f"sqlite:///{path}")
    register.create_schema()
    register.close()


def _register_lines(logs: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [
        (e["event"], e["step"], e.get("reason"))
        for e in logs
        if e["event"] in ("register_not_set_up", "register_ready", "worker_step_failed")
    ]


def test_a_register_not_set_up_is_named_once_again_when_it_changes_and_when_fixed(
    worker: Worker, clock: FixedClock, register_path: Path
) -> None:
    with structlog.testing.capture_logs() as logs:
        _rounds(worker, clock, 4)  # no database file at all
        _create_tables(register_path)
        with sqlite3.connect(register_path) as conn:
            conn.execute("DROP TABLE dsr_outbox")
        _rounds(worker, clock, 3)  # one table missing
        _create_tables(register_path)
        _rounds(worker, clock, 3)  # set up

    assert _register_lines(logs) == [
        (
            "register_not_set_up",
            "RegisterOutbox",
            NOT_SET_UP + "the SQLite file named by [register] url does not exist",
        ),
        (
            "register_not_set_up",
            "RegisterOutbox",
            NOT_SET_UP + "table dsr_outbox is missing ([register] outbox_table)",
        ),
        ("register_ready", "RegisterOutbox", None),
    ]
    first = next(e for e in logs if e["event"] == "register_not_set_up")
    assert (first["log_level"], first["code"]) == ("error", "register_not_set_up")


def test_a_register_not_set_up_rests_between_tries_like_any_failing_step(
    worker: Worker, clock: FixedClock, register_path: Path
) -> None:
    with structlog.testing.capture_logs() as logs:
        worker.run_once()
        _create_tables(register_path)
        clock.advance(29)
        worker.run_once()  # the step rests: the fix is not seen yet
        clock.advance(2)
        worker.run_once()

    assert [line[0] for line in _register_lines(logs)] == [
        "register_not_set_up",
        "register_ready",
    ]
    ready = next(e for e in logs if e["event"] == "register_ready")
    assert ready["log_level"] == "info"


def test_a_broken_register_outbox_is_logged_each_time_after_a_rest(
    worker: Worker, clock: FixedClock, register_path: Path
) -> None:
    _create_tables(register_path)
    with sqlite3.connect(register_path) as conn:  # broken, not missing: a column renamed
        conn.execute("ALTER TABLE dsr_outbox RENAME COLUMN acknowledged_at TO taken_at")

    with structlog.testing.capture_logs() as logs:
        worker.run_once()
        worker.run_once()
        clock.advance(29)
        worker.run_once()
        clock.advance(2)
        worker.run_once()

    failures = [e for e in logs if e["event"] == "worker_step_failed"]
    assert [(e["step"], e["code"]) for e in failures] == [
        ("RegisterOutbox", "register_db_error"),
        ("RegisterOutbox", "register_db_error"),
    ]
    assert not [e for e in logs if e["event"] == "register_not_set_up"]


def test_register_bound_events_wait_for_the_setup_without_spending_their_attempts(
    worker: Worker, clock: FixedClock, tmp_path: Path, register_path: Path
) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    customer = SqlRegister(f"sqlite:///{register_path}")
    envelope = Envelope(EventId("hs-1"), EventKind.MARKETING_OPT_OUT, SubjectId("C-1"), T0)
    ledger.submit([NewEvent(envelope, Origin.HUBSPOT, Direction.TO_REGISTER)], T0)

    for _ in range(12):  # more rounds than the default attempts, each after the wait
        worker.run_once()
        clock.advance(301)
    [waiting] = ledger.find("hs-1")
    assert (waiting.state, waiting.attempts) == (EventState.PENDING, 0)
    assert waiting.last_error is not None
    assert waiting.last_error.code == "register_not_set_up"

    customer.create_schema()
    customer.add_customer("C-1", email="anna@example.se")
    worker.run_once()

    [done] = ledger.find("hs-1")
    assert done.state is EventState.DONE
    assert customer.record("C-1")["marketing_opt_out"] is True  # type: ignore[index]
    customer.close()
    ledger.close()
