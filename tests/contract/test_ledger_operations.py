"""Operators' actions and reads (replay, skip, retention, status, deadlines), both backends.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.audit import AuditAction
from sync.clock import FixedClock
from sync.errors import EventNotFound, InvalidTransition
from sync.ledger.sql import SqlLedger
from sync.model import (
    Direction,
    EventKind,
    EventState,
    Origin,
)
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    LEASE,
    at,
    audit_of,
    dead_letter,
    event,
    finish,
    get,
    ids,
    record_failure,
    retryable,
    seq_of,
    stored,
    submit,
)

# -- replay and skip -----------------------------------------------------------


def test_replay_returns_a_failed_event_to_pending_with_no_attempts_and_audits_it(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("reg-1"))
    seq = dead_letter(ledger, "reg-1", T0)

    (replayed,) = ledger.replay([seq], at(100), audit_of(AuditAction.EVENT_REPLAYED, at(100)))

    assert (replayed.state, replayed.attempts) == (EventState.PENDING, 0)
    assert replayed.next_attempt_at == at(100)
    assert replayed.finished_at is None
    assert get(ledger, seq) == replayed
    (row,) = ledger.audit_rows()
    assert (row.entry.action, row.entry.event_id, row.entry.outcome) == (
        "event_replayed",
        "reg-1",
        "pending",
    )
    (again,) = ledger.claim("worker-b", 10, at(100), LEASE)
    assert (again.seq, again.attempts) == (seq, 1)


def test_replay_of_an_event_that_is_not_failed_raises_invalid_transition(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("pending", "A"), event("done", "B"))
    finish(ledger, "done")
    replay_audit = audit_of(AuditAction.EVENT_REPLAYED)

    for event_id in ("pending", "done"):
        with pytest.raises(InvalidTransition):
            ledger.replay([seq_of(ledger, event_id)], at(1), replay_audit)

    assert list(ledger.audit_rows()) == []


def test_replay_of_several_events_changes_none_if_one_is_not_failed(ledger: SqlLedger) -> None:
    submit(ledger, event("failed", "A"), event("pending", "B"))
    failed = dead_letter(ledger, "failed")

    with pytest.raises(InvalidTransition):
        ledger.replay(
            [failed, seq_of(ledger, "pending")], at(1), audit_of(AuditAction.EVENT_REPLAYED)
        )

    assert get(ledger, failed).state is EventState.FAILED
    assert list(ledger.audit_rows()) == []


def test_replay_of_an_unknown_event_raises_event_not_found(ledger: SqlLedger) -> None:
    with pytest.raises(EventNotFound):
        ledger.replay([424242], T0, audit_of(AuditAction.EVENT_REPLAYED))


def test_skip_closes_a_failed_event_with_its_reason_and_audits_it(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    seq = dead_letter(ledger, "reg-1")

    (skipped,) = ledger.skip(
        [seq], "duplicate of ticket-41", at(5), audit_of(AuditAction.EVENT_SKIPPED, at(5))
    )

    assert (skipped.state, skipped.note, skipped.finished_at) == (
        EventState.SKIPPED,
        "duplicate of ticket-41",
        at(5),
    )
    (row,) = ledger.audit_rows()
    assert (row.entry.action, row.entry.event_id, row.entry.outcome) == (
        "event_skipped",
        "reg-1",
        "skipped",
    )
    with pytest.raises(InvalidTransition):
        ledger.replay([seq], at(6), audit_of(AuditAction.EVENT_REPLAYED))


def test_skip_closes_a_pending_event_and_unblocks_its_subject(ledger: SqlLedger) -> None:
    submit(ledger, event("a1", "A", occurred=at(1)), event("a2", "A", occurred=at(2)))

    ledger.skip([seq_of(ledger, "a1")], "sent twice", at(3), audit_of(AuditAction.EVENT_SKIPPED))

    assert stored(ledger, "a1").state is EventState.SKIPPED
    assert ids(ledger.claim("worker-a", 10, at(4), LEASE)) == ["a2"]


def test_skip_of_an_event_in_flight_or_done_raises_invalid_transition(ledger: SqlLedger) -> None:
    submit(ledger, event("done", "A"), event("held", "B"))
    finish(ledger, "done")
    ledger.claim("worker-a", 10, at(1), LEASE)

    for event_id in ("done", "held"):
        with pytest.raises(InvalidTransition):
            ledger.skip([seq_of(ledger, event_id)], "no", at(2), audit_of("event_skipped"))

    assert stored(ledger, "held").state is EventState.IN_PROGRESS
    assert list(ledger.audit_rows()) == []


# -- retention -----------------------------------------------------------------


def test_scrub_finished_scrubs_only_finished_events_older_than_the_cut_off(
    ledger: SqlLedger,
) -> None:
    day = 86400
    submit(
        ledger,
        event("old-done", "A"),
        event("new-done", "B"),
        event("old-skipped", "C"),
        event("pending", "D"),
        event("failed", "E"),
        event("held", "F"),
    )
    finish(ledger, "old-done", at(1 * day))
    ledger.skip([seq_of(ledger, "old-skipped")], "not needed", at(1 * day), audit_of("skip"))
    finish(ledger, "new-done", at(20 * day))
    dead_letter(ledger, "failed", at(1 * day))
    ledger.claim("worker-z", 10, at(1 * day), timedelta(days=60))

    scrubbed = ledger.scrub_finished(older_than=at(10 * day), now=at(31 * day))

    assert scrubbed == 2
    for event_id in ("old-done", "old-skipped"):
        ev = stored(ledger, event_id)
        assert (ev.payload, ev.scrubbed_at) == (None, at(31 * day)), event_id
    for event_id in ("new-done", "pending", "failed", "held"):
        assert stored(ledger, event_id).payload is not None, event_id
    assert ledger.scrub_finished(older_than=at(10 * day), now=at(32 * day)) == 0


# -- status --------------------------------------------------------------------


def test_status_counts_events_by_state_and_kind(ledger: SqlLedger) -> None:
    submit(
        ledger,
        event("done", "A"),
        event("held", "B"),
        event("failed", "C"),
        event("pending", "D", kind=EventKind.ACCESS),
        event("erase", "E", kind=EventKind.ERASURE),
    )
    finish(ledger, "done")
    dead_letter(ledger, "failed")
    submit(ledger, event("skipped", "E"), now=at(1))
    ledger.claim("worker-a", 1, at(1), LEASE)  # the oldest ready: "held"

    report = ledger.status(at(2))

    assert report.by_state == {
        "pending": 2,
        "in_progress": 1,
        "done": 1,
        "failed": 1,
        "superseded": 0,
        "skipped": 1,
    }
    assert report.by_kind["access"] == {"pending": 1}
    assert report.by_kind["rectification"] == {
        "done": 1,
        "in_progress": 1,
        "failed": 1,
        "skipped": 1,
    }
    assert report.as_dict()["by_state"] == report.by_state


def test_status_counts_open_events_overdue_and_due_within_7_days(ledger: SqlLedger) -> None:
    # Due 27 Dec 2026 10:00.
    submit(ledger, event("open", "A"), event("done", "B"), event("failed", "C"))
    finish(ledger, "done")
    dead_letter(ledger, "failed")

    far = ledger.status(datetime(2026, 12, 1, tzinfo=UTC))
    soon = ledger.status(datetime(2026, 12, 21, tzinfo=UTC))
    late = ledger.status(datetime(2026, 12, 28, tzinfo=UTC))

    assert (far.overdue, far.due_within_7_days) == (0, 0)
    assert (soon.overdue, soon.due_within_7_days) == (0, 2)
    assert (late.overdue, late.due_within_7_days) == (2, 0)


def test_status_oldest_ready_age_follows_the_clock(ledger: SqlLedger, clock: FixedClock) -> None:
    assert ledger.status(clock.now()).oldest_ready_age_s is None

    submit(ledger, event("first", "A"), now=clock.now())
    clock.advance(30)
    submit(ledger, event("second", "B"), now=clock.now())
    clock.advance(60)
    assert ledger.status(clock.now()).oldest_ready_age_s == 90.0

    (held,) = ledger.claim("worker-a", 1, clock.now(), LEASE)
    assert held.event_id == "first"
    assert ledger.status(clock.now()).oldest_ready_age_s == 60.0

    # An event waiting for its backoff is not ready.
    record_failure(ledger, "worker-a", held.seq, retryable(), clock.now(), clock.now() + LEASE)
    finish(ledger, "second", clock.now())
    assert ledger.status(clock.now()).oldest_ready_age_s is None
    clock.advance(LEASE.total_seconds())
    assert ledger.status(clock.now()).oldest_ready_age_s == 90.0 + LEASE.total_seconds()


# -- deadlines -----------------------------------------------------------------


def test_an_event_is_due_one_calendar_month_after_receipt(ledger: SqlLedger) -> None:
    jan31 = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    leap_jan31 = datetime(2028, 1, 31, 12, 0, tzinfo=UTC)
    submit(ledger, event("jan", "A", occurred=jan31 - timedelta(days=3)), now=jan31)
    submit(ledger, event("leap", "B", occurred=leap_jan31), now=leap_jan31)
    submit(ledger, event("mar", "C"), now=datetime(2027, 3, 15, 8, 30, tzinfo=UTC))

    assert stored(ledger, "jan").due_at == datetime(2027, 2, 28, 12, 0, tzinfo=UTC)
    assert stored(ledger, "leap").due_at == datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert stored(ledger, "mar").due_at == datetime(2027, 4, 15, 8, 30, tzinfo=UTC)


def test_extend_deadline_adds_days_and_audits_the_extension(ledger: SqlLedger) -> None:
    jan31 = datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    submit(ledger, event("reg-1"), now=jan31)
    seq = seq_of(ledger, "reg-1")

    first = ledger.extend_deadline(seq, 10, jan31, audit_of(AuditAction.DEADLINE_EXTENDED))
    second = ledger.extend_deadline(seq, 52, jan31, audit_of(AuditAction.DEADLINE_EXTENDED))

    assert first.due_at == datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
    assert (second.due_extended_days, second.due_at) == (
        62,
        datetime(2027, 5, 1, 12, 0, tzinfo=UTC),
    )
    assert get(ledger, seq) == second
    assert [r.entry.action for r in ledger.audit_rows()] == ["deadline_extended"] * 2


def test_extend_deadline_refuses_more_than_62_days_in_all(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    seq = seq_of(ledger, "reg-1")
    ledger.extend_deadline(seq, 40, T0, audit_of(AuditAction.DEADLINE_EXTENDED))

    with pytest.raises(InvalidTransition):
        ledger.extend_deadline(seq, 23, T0, audit_of(AuditAction.DEADLINE_EXTENDED))
    with pytest.raises(InvalidTransition):
        ledger.extend_deadline(seq, 0, T0, audit_of(AuditAction.DEADLINE_EXTENDED))

    ev = get(ledger, seq)
    assert ev.due_extended_days == 40
    assert ev.due_at == datetime(2026, 12, 27, 10, 0, tzinfo=UTC) + timedelta(days=40)
    assert len(list(ledger.audit_rows())) == 1


def test_extend_deadline_refuses_a_finished_event(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    seq = finish(ledger, "reg-1")

    with pytest.raises(InvalidTransition):
        ledger.extend_deadline(seq, 10, at(1), audit_of(AuditAction.DEADLINE_EXTENDED))


# -- the last change of each field -----------------------------------------------


def test_last_rectified_names_each_fields_latest_change_per_subject_and_direction(
    ledger: SqlLedger,
) -> None:
    submit(
        ledger,
        event("r1", "C-1", occurred=at(10), changes={"first_name": "A"}, email=None),
        event("r2", "C-1", occurred=at(30), changes={"first_name": "B", "phone": "1"}),
        event("r3", "C-1", occurred=at(20), changes={"first_name": "C"}, email=None),
        event("r4", "C-2", occurred=at(40), changes={"phone": "2"}, email=None),
        event("o1", "C-1", EventKind.MARKETING_OPT_OUT, occurred=at(90)),  # not a rectification
        event(
            "h1",
            "C-1",
            occurred=at(99),
            origin=Origin.HUBSPOT,
            direction=Direction.TO_REGISTER,
            changes={"first_name": "D"},
            email=None,
        ),
    )

    found = ledger.last_rectified(["C-1", "C-2", "C-3"], Direction.TO_HUBSPOT)

    assert found == {
        ("C-1", "first_name"): at(30),
        ("C-1", "phone"): at(30),
        ("C-1", "email"): at(30),  # r2 carries the address
        ("C-2", "phone"): at(40),
    }
    assert ledger.last_rectified(["C-1"], Direction.TO_REGISTER) == {("C-1", "first_name"): at(99)}
    assert ledger.last_rectified([], Direction.TO_HUBSPOT) == {}


def test_last_rectified_leaves_out_changes_that_never_take_effect(ledger: SqlLedger) -> None:
    submit(ledger, event("r1", "C-1", occurred=at(10), email=None))
    skipped = seq_of(ledger, "r1")
    ledger.skip([skipped], "duplicate", at(11), audit_of(AuditAction.EVENT_SKIPPED, at(11)))
    submit(ledger, event("r2", "C-1", occurred=at(5), email=None))
    submit(ledger, event("e1", "C-1", EventKind.ERASURE, occurred=at(20)))  # supersedes r2

    assert ledger.last_rectified(["C-1"], Direction.TO_HUBSPOT) == {}
