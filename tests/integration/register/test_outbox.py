"""The register's outbox into the ledger: stored first, acknowledged after, never twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from connectors.register.sql import SqlRegister
from sync.audit import Pseudonymizer
from sync.clock import FixedClock
from sync.handlers.outbox import RegisterOutbox
from sync.ledger.sql import SqlLedger
from sync.model import Direction, EventKind, NewEvent, Origin
from tests.conftest import T0
from tests.integration.register.events import register_side

KEY = Pseudonymizer(b"outbox-test-pseudonym-key")


@pytest.fixture
def register(tmp_path: Path) -> Iterator[SqlRegister]:
    """The demo kind of register (SQLite), with Anna (C-1) in it."""
    sql = SqlRegister(f"sqlite:///{tmp_path / 'register.db'}", now=FixedClock(T0).now)
    sql.create_schema()
    sql.add_customer("C-1", email="anna@example.se", first_name="Anna")
    yield sql
    sql.close()


def outbox_of(register: SqlRegister, ledger: SqlLedger) -> RegisterOutbox:
    return RegisterOutbox(register=register, ledger=ledger, pseudonymizer=KEY, clock=FixedClock(T0))


def test_outbox_entries_are_stored_once_and_acknowledged_even_after_a_crash_between(
    ledger: SqlLedger, register: SqlRegister
) -> None:
    register.record_change(
        register_side("r-1", EventKind.RECTIFICATION, "C-1", changes={"first_name": "Annika"})
    )
    register.record_change(register_side("r-2", EventKind.MARKETING_OPT_OUT, "C-1"))
    outbox = outbox_of(register, ledger)

    # A first run stored the entries and died before it acknowledged them.
    polled = register.poll_outbox(10)
    ledger.submit([NewEvent(e, Origin.REGISTER, Direction.TO_HUBSPOT) for _, e in polled], T0)

    assert outbox.run_once() == 2
    assert outbox.run_once() == 0  # acknowledged now
    stored = ledger.list_events(limit=None)
    assert [(e.event_id, e.origin, e.direction) for e in stored] == [
        ("r-1", Origin.REGISTER, Direction.TO_HUBSPOT),
        ("r-2", Origin.REGISTER, Direction.TO_HUBSPOT),
    ]
    assert stored[0].envelope().changes == {"first_name": "Annika"}


def test_a_register_row_that_is_not_an_event_is_left_unacknowledged_and_the_rest_flow(
    ledger: SqlLedger, register: SqlRegister
) -> None:
    with register.db.transaction() as cur:
        cur.execute(
            "INSERT INTO dsr_outbox (event_id, kind, subject_id, payload, created_at) "
            "VALUES ('bad-1', 'no_such_right', 'C-1', '{}', ?)",
            (register.db.time_param(T0),),
        )
    register.record_change(register_side("r-1", EventKind.MARKETING_OPT_OUT, "C-1"))
    outbox = outbox_of(register, ledger)

    assert outbox.run_once() == 1
    assert [e.event_id for e in ledger.list_events(limit=None)] == ["r-1"]
    with register.db.transaction() as cur:
        waiting = cur.execute(
            "SELECT event_id FROM dsr_outbox WHERE acknowledged_at IS NULL"
        ).fetchall()
    assert [w[0] for w in waiting] == ["bad-1"]


def _raw_row(register: SqlRegister, event_id: str, subject_sql: str, payload: str) -> None:
    """An outbox row as the register's application might write it, ``subject_sql`` as SQL."""
    with register.db.transaction() as cur:
        cur.execute(
            "INSERT INTO dsr_outbox (event_id, kind, subject_id, payload, created_at) "
            f"VALUES (?, 'marketing_opt_out', {subject_sql}, ?, ?)",
            (event_id, payload, register.db.time_param(T0)),
        )


def test_rows_hubsync_cannot_store_wait_in_the_outbox_logged_once_by_field(
    ledger: SqlLedger, register: SqlRegister
) -> None:
    _raw_row(register, "bad-bytes", "CAST(x'432DEDA080' AS TEXT)", "{}")  # C- + ED A0 80
    _raw_row(register, "bad-nul", "'C-1' || char(0)", "{}")
    _raw_row(register, "bad-email", "'C-1'", '{"email": "a@' + "." * 5000 + ' "}')
    _raw_row(register, "bad-value", "'C-1'", '{"changes": {"first_name": "Anna\\u0000"}}')
    register.record_change(register_side("r-1", EventKind.MARKETING_OPT_OUT, "C-1"))
    outbox = outbox_of(register, ledger)

    with structlog.testing.capture_logs() as logs:
        assert outbox.run_once() == 1
        assert outbox.run_once() == 0

    assert [e.event_id for e in ledger.list_events(limit=None)] == ["r-1"]
    invalid = [entry for entry in logs if entry["event"] == "outbox_row_invalid"]
    assert [entry["outbox_id"] for entry in invalid] == ["1", "2", "3", "4"]  # once each
    assert invalid[0]["problems"] == [
        "subject_id: must hold printable characters only (no control characters or lone surrogates)"
    ]
    assert "Anna" not in repr(logs)
    with register.db.transaction() as cur:
        waiting = cur.execute(
            "SELECT event_id FROM dsr_outbox WHERE acknowledged_at IS NULL ORDER BY id"
        ).fetchall()
    assert [w[0] for w in waiting] == ["bad-bytes", "bad-nul", "bad-email", "bad-value"]


def test_valid_rows_behind_a_page_of_invalid_ones_still_flow(
    ledger: SqlLedger, register: SqlRegister
) -> None:
    for n in range(250):
        _raw_row(register, f"bad-{n}", "'C-1 '", "{}")  # a trailing space: not a usable id
    register.record_change(register_side("r-1", EventKind.MARKETING_OPT_OUT, "C-1"))

    assert outbox_of(register, ledger).run_once() == 1

    assert [e.event_id for e in ledger.list_events(limit=None)] == ["r-1"]
