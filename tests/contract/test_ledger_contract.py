"""The ledger's contract: every test runs on SQLite and on PostgreSQL.

The ``ledger`` fixture is parametrized over both backends; time is always
passed in, so leases, backoff and deadlines are exercised without sleeping.
Tests that reach behind the ledger (tampering with the audit log, building
a first-schema database) use plain sqlite3 / psycopg through ``rawdb``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sync.audit import AuditAction, AuditEntry, chain_hash
from sync.clock import FixedClock
from sync.errors import EventNotFound, InvalidTransition, LeaseLost, SchemaOutdated
from sync.ledger.schema import LATEST_VERSION, MIGRATIONS, SCHEMA_VERSION_TABLE
from sync.ledger.sql import SqlLedger
from sync.model import (
    Direction,
    Envelope,
    ErrorClass,
    ErrorInfo,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    Outcome,
    StoredEvent,
    SubjectId,
    SubmitResult,
)
from sync.rules.erasure import REFUSED_NOTE
from sync.rules.retry import RetryPolicy, no_jitter
from tests.conftest import T0
from tests.contract.rawdb import Target, raw_db, target_of

LEASE = timedelta(minutes=5)
EMAIL = "anna.svensson@example.se"


# -- helpers -------------------------------------------------------------------


def event(
    event_id: str,
    subject: str = "C-1",
    kind: EventKind = EventKind.RECTIFICATION,
    occurred: datetime = T0,
    *,
    origin: Origin = Origin.REGISTER,
    direction: Direction = Direction.TO_HUBSPOT,
    email: str | None = EMAIL,
    changes: dict[str, Any] | None = None,
) -> NewEvent:
    """A new event; rectifications change a first name unless told otherwise."""
    if changes is None:
        changes = {"first_name": "Anna"} if kind is EventKind.RECTIFICATION else {}
    envelope = Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=SubjectId(subject),
        occurred_at=occurred,
        email=email,
        changes=changes,
        reference="ticket-42",
    )
    return NewEvent(envelope, origin, direction)


def at(seconds: float) -> datetime:
    """T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def submit(ledger: SqlLedger, *events: NewEvent, now: datetime = T0) -> list[SubmitResult]:
    """Submit events in one batch."""
    return ledger.submit(list(events), now)


def seq_of(ledger: SqlLedger, event_id: str, origin: Origin = Origin.REGISTER) -> int:
    """The ledger's key of an event."""
    (found,) = ledger.find(event_id, origin)
    return found.seq


def stored(ledger: SqlLedger, event_id: str, origin: Origin = Origin.REGISTER) -> StoredEvent:
    """An event as stored."""
    (found,) = ledger.find(event_id, origin)
    return found


def ids(events: Sequence[StoredEvent]) -> list[str]:
    """Event ids, in the order given."""
    return [e.event_id for e in events]


def entry(action: str, now: datetime = T0, **fields: Any) -> AuditEntry:
    """An operator action's audit entry without personal data."""
    values: dict[str, Any] = {
        "at": now,
        "actor": "operator:test",
        "action": action,
        "direction": "none",
        "system": "ledger",
        "subject_pseudonym": "sub_0123456789abcdef",
        "kind": None,
        "event_id": None,
        "outcome": "ok",
    }
    values.update(fields)
    return AuditEntry(**values)


def audit_of(action: str, now: datetime = T0) -> Any:
    """An audit builder for operator actions on one event."""

    def build(ev: StoredEvent) -> AuditEntry:
        return entry(
            action,
            now,
            direction=ev.direction.value,
            kind=ev.kind.value,
            event_id=ev.event_id,
            outcome=ev.state.value,
            field_names=ev.field_names,
            attempt=ev.attempts,
        )

    return build


def retryable(code: str = "http_503") -> ErrorInfo:
    """A transient failure as the worker records it."""
    return ErrorInfo(ErrorClass.RETRYABLE, code, http_status=503, correlation_id="corr-1")


def permanent(code: str = "http_400") -> ErrorInfo:
    """A failure that repeating will not fix."""
    return ErrorInfo(ErrorClass.PERMANENT, code, http_status=400, correlation_id="corr-2")


def dead_letter(ledger: SqlLedger, event_id: str, now: datetime = T0) -> int:
    """Claim an event and dead-letter it; returns its seq."""
    claimed = ledger.claim("worker-a", 100, now, LEASE)
    seq = next(e.seq for e in claimed if e.event_id == event_id)
    ledger.record_failure("worker-a", seq, permanent(), now, None)
    others = [e.seq for e in claimed if e.seq != seq]
    if others:
        ledger.release("worker-a", others, T0)
    return seq


def finish(ledger: SqlLedger, event_id: str, now: datetime = T0) -> int:
    """Claim an event and complete it; returns its seq."""
    claimed = ledger.claim("worker-a", 100, now, LEASE)
    seq = next(e.seq for e in claimed if e.event_id == event_id)
    ledger.complete("worker-a", [seq], now)
    others = [e.seq for e in claimed if e.seq != seq]
    if others:
        ledger.release("worker-a", others, T0)
    return seq


# -- intake --------------------------------------------------------------------


def test_an_event_is_stored_pending_with_its_payload_field_names_and_deadline(
    ledger: SqlLedger,
) -> None:
    (result,) = submit(ledger, event("reg-1", occurred=at(-60)), now=T0)

    assert result == SubmitResult(EventId("reg-1"), Origin.REGISTER, EventState.PENDING, False)
    ev = stored(ledger, "reg-1")
    assert ev.state is EventState.PENDING
    assert ev.attempts == 0
    assert ev.kind is EventKind.RECTIFICATION
    assert ev.subject_id == "C-1"
    assert ev.occurred_at == at(-60)
    assert ev.received_at == T0
    assert ev.due_at == datetime(2026, 12, 27, 10, 0, tzinfo=UTC)
    assert ev.field_names == ("email", "first_name")
    assert ev.payload is not None
    assert ev.envelope().changes == {"first_name": "Anna"}
    assert ev.envelope().email == EMAIL


def test_the_same_event_from_the_same_origin_is_stored_once_and_the_second_says_duplicate(
    ledger: SqlLedger,
) -> None:
    (first,) = submit(ledger, event("reg-1"))
    (second,) = submit(ledger, event("reg-1", changes={"first_name": "Other"}), now=at(5))

    assert first.duplicate is False
    assert second.duplicate is True
    assert second.state is EventState.PENDING
    assert len(ledger.list_events()) == 1
    # The first arrival is what is kept.
    assert stored(ledger, "reg-1").envelope().changes == {"first_name": "Anna"}
    assert stored(ledger, "reg-1").received_at == T0


def test_a_duplicate_inside_one_batch_is_stored_once(ledger: SqlLedger) -> None:
    results = submit(ledger, event("reg-1"), event("reg-1"))

    assert [r.duplicate for r in results] == [False, True]
    assert len(ledger.list_events()) == 1


def test_a_duplicate_reports_the_state_the_event_is_in_now(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    finish(ledger, "reg-1", at(1))

    (again,) = submit(ledger, event("reg-1"), now=at(2))

    assert again.duplicate is True
    assert again.state is EventState.DONE


def test_the_same_event_id_from_another_origin_is_a_different_event(ledger: SqlLedger) -> None:
    results = submit(
        ledger,
        event("evt-7", origin=Origin.REGISTER),
        event("evt-7", origin=Origin.HUBSPOT, direction=Direction.TO_REGISTER),
    )

    assert [r.duplicate for r in results] == [False, False]
    found = ledger.find("evt-7")
    assert sorted(e.origin for e in found) == [Origin.HUBSPOT, Origin.REGISTER]
    assert [e.origin for e in ledger.find("evt-7", Origin.HUBSPOT)] == [Origin.HUBSPOT]


def test_submit_audits_each_newly_stored_event_but_not_duplicates(ledger: SqlLedger) -> None:
    submit_audit = audit_of(AuditAction.EVENT_SUBMITTED)
    ledger.submit([event("reg-1"), event("reg-2")], T0, audit=submit_audit)
    ledger.submit([event("reg-1")], at(1), audit=submit_audit)

    rows = list(ledger.audit_rows())
    assert [(r.entry.action, r.entry.event_id) for r in rows] == [
        ("event_submitted", "reg-1"),
        ("event_submitted", "reg-2"),
    ]
    assert ledger.verify_audit().ok


# -- intake of many events at once (no erasure, no audit: multi-row inserts) ----


def test_a_batch_answers_events_stored_before_as_duplicates_in_their_current_state(
    ledger: SqlLedger,
) -> None:
    submit(
        ledger,
        event("done", "A", occurred=at(1)),
        event("held", "B", occurred=at(1)),
        event("waiting", "B", occurred=at(2)),
    )
    finish(ledger, "done", at(1))
    (held,) = ledger.claim("worker-a", 10, at(2), LEASE)
    assert held.event_id == "held"

    results = submit(
        ledger,
        event("done", "A", changes={"first_name": "Other"}),
        event("new-1", "D"),
        event("held", "B", changes={"first_name": "Other"}),
        event("waiting", "B", changes={"first_name": "Other"}),
        event("new-2", "E"),
        now=at(3),
    )

    assert [(r.event_id, r.state, r.duplicate) for r in results] == [
        ("done", EventState.DONE, True),
        ("new-1", EventState.PENDING, False),
        ("held", EventState.IN_PROGRESS, True),
        ("waiting", EventState.PENDING, True),
        ("new-2", EventState.PENDING, False),
    ]
    assert ids(ledger.list_events()) == ["done", "held", "waiting", "new-1", "new-2"]
    for event_id in ("done", "held", "waiting"):
        ev = stored(ledger, event_id)
        assert ev.envelope().changes == {"first_name": "Anna"}, event_id
        assert ev.received_at == T0, event_id
    assert ledger.get(held.seq) == held
    assert stored(ledger, "new-1").received_at == at(3)


def test_two_copies_of_an_event_in_one_batch_store_the_first_and_answer_the_second_duplicate(
    ledger: SqlLedger,
) -> None:
    results = submit(
        ledger,
        event("a", "A", changes={"first_name": "First"}),
        event("b", "B"),
        event("a", "A", changes={"first_name": "Second"}),
        event("a", "A", origin=Origin.HUBSPOT, direction=Direction.TO_REGISTER),
        event("b", "B"),
    )

    assert [(r.event_id, r.origin, r.state, r.duplicate) for r in results] == [
        ("a", Origin.REGISTER, EventState.PENDING, False),
        ("b", Origin.REGISTER, EventState.PENDING, False),
        ("a", Origin.REGISTER, EventState.PENDING, True),
        ("a", Origin.HUBSPOT, EventState.PENDING, False),
        ("b", Origin.REGISTER, EventState.PENDING, True),
    ]
    assert [(e.event_id, e.origin) for e in ledger.list_events()] == [
        ("a", Origin.REGISTER),
        ("b", Origin.REGISTER),
        ("a", Origin.HUBSPOT),
    ]
    assert stored(ledger, "a").envelope().changes == {"first_name": "First"}


def test_a_batch_without_erasures_skips_the_events_of_erasing_and_erased_subjects(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("erase", "C-1", kind=EventKind.ERASURE), now=T0)
    ledger.mark_erased("C-3", [], T0)

    batch = [
        event("c1-rect", "C-1", occurred=at(1)),
        event("c2-rect", "C-2", occurred=at(1)),
        event("c1-opt-in", "C-1", kind=EventKind.MARKETING_OPT_IN, occurred=at(2)),
        event("c1-access", "C-1", kind=EventKind.ACCESS, occurred=at(3)),
        event("c3-rect", "C-3", occurred=at(1)),
    ]

    results = submit(ledger, *batch, now=at(5))

    assert [(r.event_id, r.state, r.duplicate) for r in results] == [
        ("c1-rect", EventState.SKIPPED, False),
        ("c2-rect", EventState.PENDING, False),
        ("c1-opt-in", EventState.SKIPPED, False),
        ("c1-access", EventState.PENDING, False),
        ("c3-rect", EventState.SKIPPED, False),
    ]
    for event_id in ("c1-rect", "c1-opt-in", "c3-rect"):
        ev = stored(ledger, event_id)
        assert (ev.state, ev.note, ev.payload) == (EventState.SKIPPED, REFUSED_NOTE, None)
        assert (ev.finished_at, ev.scrubbed_at) == (at(5), at(5)), event_id
    assert stored(ledger, "c2-rect").envelope().changes == {"first_name": "Anna"}
    assert stored(ledger, "c1-access").envelope().email == EMAIL
    # Sent again, each is a duplicate in the state it was stored in.
    again = submit(ledger, *batch, now=at(6))
    assert [(r.state, r.duplicate) for r in again] == [
        (EventState.SKIPPED, True),
        (EventState.PENDING, True),
        (EventState.SKIPPED, True),
        (EventState.PENDING, True),
        (EventState.SKIPPED, True),
    ]


def test_a_batch_of_hundreds_of_events_stores_each_once_in_order_with_its_answer(
    ledger: SqlLedger,
) -> None:
    def bulk(i: int, name: str | None = None) -> NewEvent:
        subject = "X" if i % 40 == 0 else f"S{i % 7}"  # X is being erased
        return event(
            f"bulk-{i:03d}", subject, occurred=at(i), changes={"first_name": name or f"N{i}"}
        )

    submit(ledger, event("erase-x", "X", kind=EventKind.ERASURE), now=T0)
    submit(ledger, bulk(5), bulk(230), now=T0)
    finish(ledger, "bulk-005", T0)
    batch = [bulk(i) for i in range(250)]
    batch.insert(150, bulk(99, "Copy"))  # in the second hundred, a copy from the first
    batch.append(bulk(0, "Copy"))  # a copy of a refused event, in the last hundred
    assert len(batch) == 252

    results = submit(ledger, *batch, now=at(1))

    expected = []
    for new in batch:
        number = int(new.envelope.event_id[5:])
        if number == 5:
            expected.append((EventState.DONE, True))
        elif number == 230:
            expected.append((EventState.PENDING, True))
        elif new.envelope.changes == {"first_name": "Copy"}:
            refused = new.envelope.subject_id == "X"
            expected.append((EventState.SKIPPED if refused else EventState.PENDING, True))
        elif new.envelope.subject_id == "X":
            expected.append((EventState.SKIPPED, False))
        else:
            expected.append((EventState.PENDING, False))
    assert [r.event_id for r in results] == [n.envelope.event_id for n in batch]
    assert [(r.state, r.duplicate) for r in results] == expected
    assert sum(not r.duplicate for r in results) == 248

    events = ledger.list_events(limit=None)
    fresh = [f"bulk-{i:03d}" for i in range(250) if i not in (5, 230)]
    assert ids(events) == ["erase-x", "bulk-005", "bulk-230", *fresh]
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs)
    for ev in events[3:]:
        number = int(ev.event_id[5:])
        assert ev.received_at == at(1), ev.event_id
        if ev.subject_id == "X":
            assert (ev.state, ev.payload, ev.note) == (EventState.SKIPPED, None, REFUSED_NOTE)
        else:
            assert ev.state is EventState.PENDING, ev.event_id
            assert ev.envelope().changes == {"first_name": f"N{number}"}, ev.event_id


# -- claiming ------------------------------------------------------------------


def test_claim_gives_at_most_one_event_per_subject(ledger: SqlLedger) -> None:
    submit(
        ledger,
        event("a1", "A", occurred=at(1)),
        event("a2", "A", occurred=at(2)),
        event("b1", "B", occurred=at(1)),
        event("b2", "B", occurred=at(2)),
        event("c1", "C", occurred=at(1)),
    )

    claimed = ledger.claim("worker-a", 10, at(10), LEASE)

    assert sorted(ids(claimed)) == ["a1", "b1", "c1"]
    assert len({e.subject_id for e in claimed}) == len(claimed)


def test_claim_follows_occurrence_order_not_arrival_order(ledger: SqlLedger) -> None:
    # Arrival order: 3, 1, 2; occurrence order: 1, 2, 3.
    submit(ledger, event("third", occurred=at(3)))
    submit(ledger, event("first", occurred=at(1)), now=at(1))
    submit(ledger, event("second", occurred=at(2)), now=at(2))

    order: list[str] = []
    for step in range(3):
        now = at(10 + step)
        (one,) = ledger.claim("worker-a", 10, now, LEASE)
        order.append(one.event_id)
        ledger.complete("worker-a", [one.seq], now)

    assert order == ["first", "second", "third"]
    assert ledger.claim("worker-a", 10, at(20), LEASE) == []


def test_events_that_occurred_at_the_same_moment_are_claimed_in_arrival_order(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("arrived-1", occurred=at(1)))
    submit(ledger, event("arrived-2", occurred=at(1)), now=at(1))

    (first,) = ledger.claim("worker-a", 10, at(5), LEASE)
    ledger.complete("worker-a", [first.seq], at(5))
    (second,) = ledger.claim("worker-a", 10, at(6), LEASE)

    assert (first.event_id, second.event_id) == ("arrived-1", "arrived-2")


def test_an_earlier_event_waiting_for_its_backoff_blocks_later_events_of_its_subject(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("early", occurred=at(1)), event("late", occurred=at(2)))
    (early,) = ledger.claim("worker-a", 10, at(10), LEASE)
    ledger.record_failure("worker-a", early.seq, retryable(), at(10), retry_at=at(100))

    # "early" is pending but not due; "late" must still wait for it.
    assert ledger.claim("worker-a", 10, at(50), LEASE) == []
    (again,) = ledger.claim("worker-a", 10, at(100), LEASE)
    assert again.event_id == "early"


def test_a_subject_with_an_event_in_flight_yields_nothing_more_until_it_is_completed(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("a1", "A", occurred=at(1)), event("a2", "A", occurred=at(2)))
    (a1,) = ledger.claim("worker-a", 10, at(10), LEASE)

    assert ledger.claim("worker-a", 10, at(11), LEASE) == []
    assert ledger.claim("worker-b", 10, at(11), LEASE) == []
    # Even an event that occurred earlier but arrived later waits for the one in flight.
    submit(ledger, event("a0", "A", occurred=at(0)), now=at(12))
    assert ledger.claim("worker-b", 10, at(13), LEASE) == []

    ledger.complete("worker-a", [a1.seq], at(14))
    assert ids(ledger.claim("worker-b", 10, at(15), LEASE)) == ["a0"]


def test_claim_respects_its_limit_and_leaves_the_rest_ready(ledger: SqlLedger) -> None:
    submit(ledger, *(event(f"e{i}", f"S{i}") for i in range(5)))

    first = ledger.claim("worker-a", 2, at(1), LEASE)
    second = ledger.claim("worker-b", 10, at(1), LEASE)

    assert ids(first) == ["e0", "e1"]
    assert ids(second) == ["e2", "e3", "e4"]


def test_claimed_events_carry_the_owner_the_lease_and_a_counted_attempt(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("reg-1"))

    (claimed,) = ledger.claim("worker-a", 10, at(1), LEASE)

    assert claimed.state is EventState.IN_PROGRESS
    assert claimed.lease_owner == "worker-a"
    assert claimed.lease_until == at(1) + LEASE
    assert claimed.attempts == 1
    assert claimed.payload is not None
    assert ledger.get(claimed.seq) == claimed


def test_events_not_yet_received_are_not_claimed(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"), now=at(60))

    assert ledger.claim("worker-a", 10, at(59), LEASE) == []
    assert ids(ledger.claim("worker-a", 10, at(60), LEASE)) == ["reg-1"]


# -- leases --------------------------------------------------------------------


def test_a_lease_is_not_taken_over_before_it_expires(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    ledger.claim("worker-a", 10, T0, LEASE)

    assert ledger.claim("worker-b", 10, T0 + LEASE - timedelta(seconds=1), LEASE) == []
    assert stored(ledger, "reg-1").lease_owner == "worker-a"


def test_an_expired_lease_gives_the_same_events_to_another_owner_with_attempts_counted(
    ledger: SqlLedger,
) -> None:
    submit(ledger, *(event(f"e{i}", f"S{i}") for i in range(3)))
    held = ledger.claim("worker-a", 10, T0, LEASE)

    later = T0 + LEASE + timedelta(seconds=1)
    taken = ledger.claim("worker-b", 10, later, LEASE)

    assert ids(taken) == ids(held)
    assert all(e.lease_owner == "worker-b" for e in taken)
    assert all(e.attempts == 2 for e in taken)
    assert all(e.last_error is not None and e.last_error.code == "lease_expired" for e in taken)
    with pytest.raises(LeaseLost):
        ledger.complete("worker-a", [held[0].seq], later)


def test_an_expired_lease_after_the_last_attempt_dead_letters_with_lease_expired(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("reg-1"))
    now = T0
    for attempt in range(1, ledger.max_attempts + 1):
        (claimed,) = ledger.claim(f"worker-{attempt}", 10, now, LEASE)
        assert claimed.attempts == attempt
        now = now + LEASE + timedelta(seconds=1)

    assert ledger.claim("worker-last", 10, now, LEASE) == []
    ev = stored(ledger, "reg-1")
    assert ev.state is EventState.FAILED
    assert ev.attempts == ledger.max_attempts
    assert ev.last_error is not None
    assert ev.last_error.code == "lease_expired"
    assert ev.lease_owner is None
    assert ev.finished_at == now


def test_extend_leases_keeps_held_events_and_names_the_lost_ones(ledger: SqlLedger) -> None:
    submit(ledger, event("a", "A"), event("b", "B"))
    a, b = ledger.claim("worker-a", 10, T0, LEASE)
    ledger.complete("worker-a", [b.seq], at(1))

    lost = ledger.extend_leases("worker-a", [a.seq, b.seq], at(200), LEASE)

    assert lost == [b.seq]
    assert ledger.get(a.seq).lease_until == at(200) + LEASE
    # The extended lease outlives the original one.
    assert ledger.claim("worker-b", 10, T0 + LEASE + timedelta(seconds=1), LEASE) == []


def test_release_gives_events_back_without_counting_the_attempt(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    assert ledger.release("worker-b", [held.seq], T0) == 0
    assert ledger.release("worker-a", [held.seq], T0) == 1

    ev = ledger.get(held.seq)
    assert (ev.state, ev.attempts, ev.lease_owner) == (EventState.PENDING, 0, None)
    assert ids(ledger.claim("worker-b", 10, at(1), LEASE)) == ["reg-1"]


# -- completing and failing ----------------------------------------------------


def test_complete_marks_held_events_done_and_unblocks_the_subject(ledger: SqlLedger) -> None:
    submit(ledger, event("a1", "A", occurred=at(1)), event("a2", "A", occurred=at(2)))
    (a1,) = ledger.claim("worker-a", 10, at(10), LEASE)

    ledger.complete("worker-a", [a1.seq], at(11), note="applied")

    done = ledger.get(a1.seq)
    assert (done.state, done.note, done.finished_at) == (EventState.DONE, "applied", at(11))
    assert (done.lease_owner, done.lease_until) == (None, None)
    assert ids(ledger.claim("worker-a", 10, at(12), LEASE)) == ["a2"]


def test_complete_by_another_owner_raises_lease_lost_and_changes_nothing(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("a", "A"), event("b", "B"))
    a, b = ledger.claim("worker-a", 10, T0, LEASE)

    with pytest.raises(LeaseLost):
        ledger.complete("worker-b", [a.seq], at(1))
    assert ledger.get(a.seq) == a

    # A batch with one event not held is refused as a whole.
    ledger.release("worker-a", [b.seq], T0)
    (b_again,) = ledger.claim("worker-b", 10, at(1), LEASE)
    with pytest.raises(LeaseLost):
        ledger.complete("worker-a", [a.seq, b.seq], at(2))

    assert ledger.get(a.seq) == a
    assert ledger.get(b.seq) == b_again


def test_a_retryable_failure_reschedules_the_event_until_its_retry_time(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    state = ledger.record_failure("worker-a", held.seq, retryable(), at(1), retry_at=at(61))

    assert state is EventState.PENDING
    ev = ledger.get(held.seq)
    assert (ev.state, ev.next_attempt_at, ev.lease_owner) == (EventState.PENDING, at(61), None)
    assert ev.last_error == retryable()
    assert ev.finished_at is None
    assert ledger.claim("worker-a", 10, at(60), LEASE) == []
    (again,) = ledger.claim("worker-b", 10, at(61), LEASE)
    assert (again.seq, again.attempts) == (held.seq, 2)


def test_a_failure_without_a_retry_time_dead_letters_the_event(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    state = ledger.record_failure("worker-a", held.seq, permanent(), at(1), retry_at=None)

    assert state is EventState.FAILED
    ev = ledger.get(held.seq)
    assert (ev.state, ev.finished_at, ev.lease_owner) == (EventState.FAILED, at(1), None)
    assert ev.last_error == permanent()
    assert ledger.claim("worker-a", 10, at(10_000), LEASE) == []


def test_record_failure_by_a_non_owner_raises_lease_lost(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    with pytest.raises(LeaseLost):
        ledger.record_failure("worker-b", held.seq, retryable(), at(1), retry_at=at(5))

    assert ledger.get(held.seq) == held


# -- retry policy with the ledger (the policy on its own: tests/unit/rules) ----


def test_retry_policy_and_ledger_dead_letter_an_event_after_the_maximum_attempts(
    ledger: SqlLedger,
) -> None:
    policy = RetryPolicy(max_attempts=4, base_s=10.0, jitter=no_jitter)
    submit(ledger, event("reg-1"))
    now = T0
    states: list[EventState] = []
    while True:
        claimed = ledger.claim("worker-a", 10, now, LEASE)
        if not claimed:
            break
        (held,) = claimed
        retry_at = policy.decide(held.attempts, retryable(), now)
        states.append(ledger.record_failure("worker-a", held.seq, retryable(), now, retry_at))
        now = retry_at or now

    assert states == [EventState.PENDING] * 3 + [EventState.FAILED]
    ev = stored(ledger, "reg-1")
    assert (ev.state, ev.attempts) == (EventState.FAILED, 4)
    # Backoff 10, 20, 40 seconds between the four attempts.
    assert now == at(70)


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
    assert ledger.get(seq) == replayed
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

    assert ledger.get(failed).state is EventState.FAILED
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


# -- erasure wins --------------------------------------------------------------


def test_erasure_supersedes_pending_rectification(ledger: SqlLedger) -> None:
    submit(ledger, event("rect", occurred=at(1)))

    (result,) = submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(2)), now=at(5))

    assert result.state is EventState.PENDING
    rect = stored(ledger, "rect")
    assert rect.state is EventState.SUPERSEDED
    assert rect.payload is None
    assert rect.scrubbed_at == at(5)
    assert rect.finished_at == at(5)
    assert rect.note == f"superseded_by_erasure:{seq_of(ledger, 'erase')}"
    assert ids(ledger.claim("worker-a", 10, at(6), LEASE)) == ["erase"]


def test_erasure_supersedes_failed_events_and_events_waiting_for_backoff(
    ledger: SqlLedger,
) -> None:
    submit(
        ledger,
        event("failed", occurred=at(1)),
    )
    dead_letter(ledger, "failed")
    submit(ledger, event("backoff", kind=EventKind.MARKETING_OPT_IN, occurred=at(2)))
    (held,) = ledger.claim("worker-a", 10, at(3), LEASE)
    ledger.record_failure("worker-a", held.seq, retryable(), at(3), retry_at=at(3600))

    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(4)), now=at(5))

    for event_id in ("failed", "backoff"):
        ev = stored(ledger, event_id)
        assert (ev.state, ev.payload, ev.scrubbed_at) == (EventState.SUPERSEDED, None, at(5))
    assert ids(ledger.claim("worker-a", 10, at(6), LEASE)) == ["erase"]


def test_erasure_leaves_access_requests_to_be_answered_in_order(ledger: SqlLedger) -> None:
    submit(ledger, event("access", kind=EventKind.ACCESS, occurred=at(1)))

    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(2)), now=at(5))

    access = stored(ledger, "access")
    assert access.state is EventState.PENDING
    assert access.payload is not None
    (first,) = ledger.claim("worker-a", 10, at(6), LEASE)
    assert first.event_id == "access"
    ledger.complete("worker-a", [first.seq], at(7))
    assert ids(ledger.claim("worker-a", 10, at(8), LEASE)) == ["erase"]


def test_erasure_does_not_touch_other_subjects(ledger: SqlLedger) -> None:
    submit(ledger, event("other", "C-2"), event("mine", "C-1"))

    submit(ledger, event("erase", "C-1", kind=EventKind.ERASURE), now=at(1))

    assert stored(ledger, "other").state is EventState.PENDING
    assert stored(ledger, "other").payload is not None
    assert stored(ledger, "mine").state is EventState.SUPERSEDED


def test_events_after_an_erasure_are_skipped_as_subject_erased_without_payload(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(1)))

    results = submit(
        ledger,
        event("late-rect", occurred=at(2)),
        event("late-opt-in", kind=EventKind.MARKETING_OPT_IN, occurred=at(3)),
        now=at(10),
    )

    assert [r.state for r in results] == [EventState.SKIPPED, EventState.SKIPPED]
    assert [r.duplicate for r in results] == [False, False]
    for event_id in ("late-rect", "late-opt-in"):
        ev = stored(ledger, event_id)
        assert (ev.state, ev.note, ev.payload) == (EventState.SKIPPED, REFUSED_NOTE, None)
        assert ev.finished_at == at(10)
    # Only the erasure is ever claimable.
    assert ids(ledger.claim("worker-a", 10, at(11), LEASE)) == ["erase"]


def test_events_after_an_erasure_in_the_same_batch_are_skipped(ledger: SqlLedger) -> None:
    results = submit(
        ledger,
        event("before", occurred=at(1)),
        event("erase", kind=EventKind.ERASURE, occurred=at(2)),
        event("after", occurred=at(3)),
    )

    assert [r.state for r in results] == [
        EventState.PENDING,
        EventState.PENDING,
        EventState.SKIPPED,
    ]
    assert stored(ledger, "before").state is EventState.SUPERSEDED
    after = stored(ledger, "after")
    assert (after.state, after.note, after.payload) == (EventState.SKIPPED, REFUSED_NOTE, None)


def test_erasure_and_access_are_still_accepted_for_an_erased_subject(ledger: SqlLedger) -> None:
    submit(ledger, event("erase-1", kind=EventKind.ERASURE))
    finish(ledger, "erase-1")
    ledger.mark_erased("C-1", [], at(1))

    results = submit(
        ledger,
        event("access", kind=EventKind.ACCESS, occurred=at(2)),
        event("erase-2", kind=EventKind.ERASURE, occurred=at(3)),
        event("opt-in", kind=EventKind.MARKETING_OPT_IN, occurred=at(4)),
        now=at(5),
    )

    assert [r.state for r in results] == [
        EventState.PENDING,
        EventState.PENDING,
        EventState.SKIPPED,
    ]
    assert stored(ledger, "access").payload is not None
    assert stored(ledger, "opt-in").note == REFUSED_NOTE


def test_a_refused_event_sent_again_is_a_duplicate_still_skipped(ledger: SqlLedger) -> None:
    submit(ledger, event("erase", kind=EventKind.ERASURE))
    submit(ledger, event("late", occurred=at(2)), now=at(2))

    (again,) = submit(ledger, event("late", occurred=at(2)), now=at(3))

    assert (again.state, again.duplicate) == (EventState.SKIPPED, True)


def test_an_erasure_marks_its_subject_erasing_until_mark_erased(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101"])

    submit(ledger, event("erase", kind=EventKind.ERASURE), now=at(1))
    record = ledger.subject("C-1")
    assert record is not None
    assert record.erasure == "erasing"
    assert record.email == EMAIL

    ledger.mark_erased("C-1", [], at(2))
    record = ledger.subject("C-1")
    assert record is not None
    assert record.erasure == "erased"


# -- mark_erased and suppression -----------------------------------------------


def test_mark_erased_scrubs_every_payload_and_forgets_email_and_contacts(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101", "202"])
    ledger.remember_subject("C-2", T0, email="bo@example.se", contact_ids=["303"])
    submit(ledger, event("done-rect", occurred=at(1)), event("other", "C-2", occurred=at(1)))
    finish(ledger, "done-rect", at(2))
    submit(ledger, event("access", kind=EventKind.ACCESS, occurred=at(3)), now=at(3))
    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(4)), now=at(4))
    finish(ledger, "access", at(5))
    finish(ledger, "erase", at(6))

    scrubbed = ledger.mark_erased(
        "C-1", [("email", "digest-email"), ("contact", "digest-101")], at(7)
    )

    assert scrubbed == 3  # done-rect, access, erase
    for ev in ledger.list_events(subject_id="C-1"):
        assert ev.payload is None, ev.event_id
    assert stored(ledger, "erase").scrubbed_at == at(7)
    record = ledger.subject("C-1")
    assert record is not None
    assert (record.email, record.contact_ids, record.erasure) == (None, (), "erased")
    assert ledger.subjects_for_contact("101") == []
    # The other subject keeps everything.
    assert stored(ledger, "other").payload is not None
    other = ledger.subject("C-2")
    assert other is not None
    assert (other.email, other.contact_ids) == ("bo@example.se", ("303",))


def test_mark_erased_of_a_subject_never_seen_records_it_erased(ledger: SqlLedger) -> None:
    assert ledger.mark_erased("C-9", [("email", "digest-9")], T0) == 0

    record = ledger.subject("C-9")
    assert record is not None
    assert record.erasure == "erased"
    (late,) = submit(ledger, event("late", "C-9"), now=at(1))
    assert late.state is EventState.SKIPPED


def test_suppressed_digests_are_reported_until_lifted(ledger: SqlLedger) -> None:
    ledger.mark_erased("C-1", [("email", "digest-email"), ("contact", "digest-101")], T0)

    assert ledger.is_suppressed("digest-email")
    assert ledger.is_suppressed("digest-101")
    assert not ledger.is_suppressed("digest-unknown")

    assert ledger.lift_suppression("digest-email", "came back by own choice", at(1)) is True
    assert not ledger.is_suppressed("digest-email")
    assert ledger.is_suppressed("digest-101")
    assert ledger.lift_suppression("digest-email", "again", at(2)) is False
    assert ledger.lift_suppression("digest-unknown", "never", at(2)) is False


def test_a_lifted_suppression_is_active_again_after_another_erasure(ledger: SqlLedger) -> None:
    ledger.mark_erased("C-1", [("email", "digest-email")], T0)
    ledger.lift_suppression("digest-email", "came back", at(1))

    ledger.mark_erased("C-5", [("email", "digest-email")], at(2))

    assert ledger.is_suppressed("digest-email")


# -- subject map ---------------------------------------------------------------


def test_an_unknown_subject_is_none(ledger: SqlLedger) -> None:
    assert ledger.subject("C-404") is None
    assert ledger.subjects_for_contact("404") == []


def test_remember_subject_records_email_and_contact_ids(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101"])

    record = ledger.subject("C-1")

    assert record is not None
    assert (record.subject_id, record.email, record.contact_ids, record.erasure) == (
        "C-1",
        EMAIL,
        ("101",),
        None,
    )
    assert ledger.subjects_for_contact("101") == ["C-1"]


def test_remember_subject_adds_contacts_and_keeps_the_email_when_none_is_given(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101"])
    ledger.remember_subject("C-1", at(1), contact_ids=["202", "101"])

    record = ledger.subject("C-1")
    assert record is not None
    assert record.email == EMAIL
    assert record.contact_ids == ("101", "202")

    ledger.remember_subject("C-1", at(2), email="anna.new@example.se")
    record = ledger.subject("C-1")
    assert record is not None
    assert record.email == "anna.new@example.se"
    assert record.contact_ids == ("101", "202")


def test_a_contact_can_map_to_several_subjects(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-2", T0, contact_ids=["101"])
    ledger.remember_subject("C-1", T0, contact_ids=["101"])

    assert ledger.subjects_for_contact("101") == ["C-1", "C-2"]


def test_rekey_contact_after_a_merge_maps_every_subject_to_the_surviving_id(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("C-1", T0, contact_ids=["101"])
    ledger.remember_subject("C-2", T0, contact_ids=["202", "999"])
    ledger.remember_subject("C-3", T0, contact_ids=["303"])

    affected = ledger.rekey_contact(["101", "202"], "999", at(1))

    assert affected == ["C-1", "C-2"]
    assert ledger.subjects_for_contact("101") == []
    assert ledger.subjects_for_contact("202") == []
    assert ledger.subjects_for_contact("999") == ["C-1", "C-2"]
    for subject_id in ("C-1", "C-2"):
        record = ledger.subject(subject_id)
        assert record is not None
        assert record.contact_ids == ("999",)
    record = ledger.subject("C-3")
    assert record is not None
    assert record.contact_ids == ("303",)


def test_rekey_contact_to_the_same_id_keeps_the_mapping(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, contact_ids=["101"])

    assert ledger.rekey_contact(["101"], "101", at(1)) == ["C-1"]
    assert ledger.subjects_for_contact("101") == ["C-1"]


# -- webhook receipts ----------------------------------------------------------


def test_a_webhook_receipt_is_fresh_once_then_a_duplicate_until_it_expires(
    ledger: SqlLedger,
) -> None:
    ttl = timedelta(hours=1)

    assert ledger.remember_receipts(["r1", "r2"], T0, ttl) == [True, True]
    assert ledger.remember_receipts(["r1", "r3", "r3"], at(60), ttl) == [False, True, False]
    assert ledger.remember_receipts(["r1"], T0 + ttl - timedelta(seconds=1), ttl) == [False]
    assert ledger.remember_receipts(["r1"], T0 + ttl, ttl) == [True]
    # Seen again, it counts from its new receipt.
    assert ledger.remember_receipts(["r1"], T0 + ttl + timedelta(minutes=30), ttl) == [False]


def test_purge_receipts_forgets_only_expired_receipts(ledger: SqlLedger) -> None:
    ledger.remember_receipts(["old"], T0, timedelta(minutes=10))
    ledger.remember_receipts(["new"], T0, timedelta(hours=10))

    assert ledger.purge_receipts(at(3600)) == 1
    assert ledger.purge_receipts(at(3600)) == 0
    assert ledger.remember_receipts(["new"], at(3601), timedelta(hours=1)) == [False]
    assert ledger.remember_receipts(["old"], at(3601), timedelta(hours=1)) == [True]


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
    ledger.record_failure("worker-a", held.seq, retryable(), clock.now(), clock.now() + LEASE)
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
    assert ledger.get(seq) == second
    assert [r.entry.action for r in ledger.audit_rows()] == ["deadline_extended"] * 2


def test_extend_deadline_refuses_more_than_62_days_in_all(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    seq = seq_of(ledger, "reg-1")
    ledger.extend_deadline(seq, 40, T0, audit_of(AuditAction.DEADLINE_EXTENDED))

    with pytest.raises(InvalidTransition):
        ledger.extend_deadline(seq, 23, T0, audit_of(AuditAction.DEADLINE_EXTENDED))
    with pytest.raises(InvalidTransition):
        ledger.extend_deadline(seq, 0, T0, audit_of(AuditAction.DEADLINE_EXTENDED))

    ev = ledger.get(seq)
    assert ev.due_extended_days == 40
    assert ev.due_at == datetime(2026, 12, 27, 10, 0, tzinfo=UTC) + timedelta(days=40)
    assert len(list(ledger.audit_rows())) == 1


def test_extend_deadline_refuses_a_finished_event(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    seq = finish(ledger, "reg-1")

    with pytest.raises(InvalidTransition):
        ledger.extend_deadline(seq, 10, at(1), audit_of(AuditAction.DEADLINE_EXTENDED))


# -- audit chain ---------------------------------------------------------------


def fill_audit(ledger: SqlLedger, rows: int = 4) -> None:
    """Append ``rows`` operator actions, one per transaction."""
    for n in range(1, rows + 1):
        ledger.append_audit(
            [entry("event_replayed", at(n), event_id=f"reg-{n}", field_names=("email",))]
        )


def tamper(ledger: SqlLedger, sql: str, params: Sequence[Any] = ()) -> None:
    """Change the ledger's database by hand, as an operator with psql or sqlite3 could."""
    with raw_db(target_of(ledger)) as db:
        db.execute(sql, params)


def test_an_empty_audit_log_verifies(ledger: SqlLedger) -> None:
    result = ledger.verify_audit()

    assert (result.ok, result.rows, result.first_bad_row) == (True, 0, None)


def test_appended_audit_rows_form_a_chain_that_verifies(ledger: SqlLedger) -> None:
    fill_audit(ledger, 3)
    batch = ledger.append_audit([entry("event_skipped", at(10)), entry("event_skipped", at(11))])

    rows = list(ledger.audit_rows())
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert [r.seq for r in batch] == [4, 5]
    assert all(r.prev_hash == p.row_hash for p, r in itertools.pairwise(rows))
    assert rows[0].entry.field_names == ("email",)
    assert ledger.verify_audit().as_dict() == {
        "ok": True,
        "rows": 5,
        "first_bad_row": None,
        "reason": None,
    }
    assert [r.seq for r in ledger.audit_rows(since=at(3))] == [3, 4, 5]


def test_audit_rows_written_with_a_non_utc_time_still_verify(ledger: SqlLedger) -> None:
    stockholm_winter = timezone(timedelta(hours=1))
    ledger.append_audit([entry("event_skipped", T0.astimezone(stockholm_winter))])
    ledger.append_audit([entry("event_skipped", at(1).replace(microsecond=123456))])

    assert ledger.verify_audit().ok
    assert next(iter(ledger.audit_rows())).entry.at == T0


def test_audit_verify_names_a_row_changed_by_hand(ledger: SqlLedger) -> None:
    fill_audit(ledger, 4)

    tamper(ledger, "UPDATE audit_log SET outcome = ? WHERE seq = ?", ("failed", 3))

    result = ledger.verify_audit()
    assert (result.ok, result.rows, result.first_bad_row) == (False, 4, 3)


@pytest.mark.parametrize(
    ("column", "value"),
    [("event_id", "reg-999"), ("field_names", '["email","phone"]'), ("at", 0.0)],
)
def test_audit_verify_names_a_row_whose_column_was_changed_by_hand(
    ledger: SqlLedger, column: str, value: Any
) -> None:
    fill_audit(ledger, 4)

    tamper(ledger, f"UPDATE audit_log SET {column} = ? WHERE seq = 2", (value,))

    result = ledger.verify_audit()
    assert (result.ok, result.first_bad_row) == (False, 2)


def test_audit_verify_names_a_row_deleted_by_hand_from_the_middle(ledger: SqlLedger) -> None:
    fill_audit(ledger, 4)

    tamper(ledger, "DELETE FROM audit_log WHERE seq = 2")

    result = ledger.verify_audit()
    assert (result.ok, result.rows, result.first_bad_row) == (False, 3, 2)


def test_audit_verify_detects_the_last_row_deleted_by_hand(ledger: SqlLedger) -> None:
    fill_audit(ledger, 4)

    tamper(ledger, "DELETE FROM audit_log WHERE seq = 4")

    result = ledger.verify_audit()
    assert (result.ok, result.rows, result.first_bad_row) == (False, 3, 4)


def test_audit_verify_detects_a_changed_row_whose_own_hash_was_recomputed(
    ledger: SqlLedger,
) -> None:
    fill_audit(ledger, 4)
    (row2,) = [r for r in ledger.audit_rows() if r.seq == 2]
    forged = replace(row2.entry, outcome="failed")

    # Whoever recomputes the changed row's hash still breaks the next row's link.
    tamper(
        ledger,
        "UPDATE audit_log SET outcome = ?, row_hash = ? WHERE seq = 2",
        ("failed", chain_hash(row2.prev_hash, 2, forged)),
    )

    result = ledger.verify_audit()
    assert (result.ok, result.first_bad_row) == (False, 3)
    assert result.reason == "link to previous row broken"


# -- rate buckets --------------------------------------------------------------


def test_take_tokens_spends_a_full_bucket_and_then_names_the_wait(ledger: SqlLedger) -> None:
    def take(now: datetime) -> float:
        return ledger.take_tokens("hubspot_10s", 1.0, capacity=2.0, refill_per_s=0.5, now=now)

    assert take(T0) == 0.0
    assert take(T0) == 0.0
    assert take(T0) == pytest.approx(2.0)
    # A wait takes nothing: after the wait one token is there.
    assert take(at(1)) == pytest.approx(1.0)
    assert take(at(2)) == 0.0
    assert take(at(2)) == pytest.approx(2.0)
    # Refill stops at the capacity.
    assert take(at(1000)) == 0.0
    assert take(at(1000)) == 0.0
    assert take(at(1000)) > 0.0


def test_buckets_are_separate_by_name(ledger: SqlLedger) -> None:
    assert ledger.take_tokens("a", 1.0, capacity=1.0, refill_per_s=0.1, now=T0) == 0.0
    assert ledger.take_tokens("b", 1.0, capacity=1.0, refill_per_s=0.1, now=T0) == 0.0
    assert ledger.take_tokens("a", 1.0, capacity=1.0, refill_per_s=0.1, now=T0) > 0.0


def test_correct_bucket_blocks_until_the_reported_reset(ledger: SqlLedger) -> None:
    def take(now: datetime) -> float:
        return ledger.take_tokens("hubspot_10s", 1.0, capacity=100.0, refill_per_s=10.0, now=now)

    assert take(T0) == 0.0

    ledger.correct_bucket("hubspot_10s", at(1), blocked_until=at(10))

    assert take(at(2)) == pytest.approx(8.0)
    # An earlier reset reported later does not shorten the block.
    ledger.correct_bucket("hubspot_10s", at(3), blocked_until=at(5))
    assert take(at(4)) == pytest.approx(6.0)
    assert take(at(10)) == 0.0


def test_correct_bucket_sets_the_tokens_hubspot_reports(ledger: SqlLedger) -> None:
    ledger.take_tokens("daily", 1.0, capacity=1000.0, refill_per_s=1.0, now=T0)

    ledger.correct_bucket("daily", T0, tokens=0.0)

    assert ledger.take_tokens("daily", 1.0, capacity=1000.0, refill_per_s=1.0, now=T0) == (
        pytest.approx(1.0)
    )
    assert ledger.take_tokens("daily", 1.0, capacity=1000.0, refill_per_s=1.0, now=at(1)) == 0.0


# -- schema --------------------------------------------------------------------


def test_a_fresh_ledger_is_at_the_latest_schema_version(ledger: SqlLedger) -> None:
    assert ledger.schema_version() == LATEST_VERSION == 5


def test_opening_an_existing_ledger_again_keeps_its_events(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    ledger.close()

    ledger.open(at(1))

    assert ledger.schema_version() == LATEST_VERSION
    assert ids(ledger.list_events()) == ["reg-1"]


def test_upgrade_of_a_current_ledger_changes_nothing(ledger: SqlLedger) -> None:
    assert ledger.upgrade(at(1)) == (LATEST_VERSION, LATEST_VERSION)


def build_first_schema(target: Target) -> None:
    """A ledger as the first release made it: migration 1 only, version 1 recorded."""
    types = target.ledger().ddl_types
    with raw_db(target) as db:
        for statement in MIGRATIONS[1]:
            db.execute(statement.format(**types))
        db.execute(SCHEMA_VERSION_TABLE.format(**types))
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (1, 0.0))
        db.execute(
            "INSERT INTO events (origin, event_id, direction, kind, subject_id, state, attempts, "
            "occurred_at, received_at, due_at, next_attempt_at, field_names, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            (
                "register",
                "reg-old",
                "to_hubspot",
                "rectification",
                "C-1",
                "pending",
                T0.timestamp(),
                T0.timestamp(),
                datetime(2026, 12, 27, 10, 0, tzinfo=UTC).timestamp(),
                T0.timestamp(),
                '["first_name"]',
                '{"email": null, "changes": {"first_name": "Anna"}, "subscription_ids": [], '
                '"legal_basis": null, "reference": null}',
            ),
        )


def test_upgrade_brings_a_first_schema_ledger_forward(target: Target) -> None:
    build_first_schema(target)
    ledger = target.ledger()
    try:
        assert ledger.schema_version() == 1
        with pytest.raises(SchemaOutdated):
            ledger.open(at(1))

        assert ledger.upgrade(at(2)) == (1, LATEST_VERSION)

        ledger.open(at(3))
        assert ledger.schema_version() == LATEST_VERSION
        (old,) = ledger.list_events()
        assert (old.event_id, old.state, old.due_at) == (
            "reg-old",
            EventState.PENDING,
            datetime(2026, 12, 27, 10, 0, tzinfo=UTC),
        )
        assert old.envelope().changes == {"first_name": "Anna"}
        # The version 2 table works.
        assert ledger.take_tokens("hubspot_10s", 1.0, 10.0, 1.0, at(4)) == 0.0
        # And the version 3 inbox.
        assert ledger.store_webhooks([("1:2:3", {"eventId": 3})], at(4), LEASE) == [True]
        # And the old event flows on as any other.
        (held,) = ledger.claim("worker-a", 10, at(5), LEASE)
        ledger.complete("worker-a", [held.seq], at(6))
        assert ledger.get(held.seq).state is EventState.DONE
    finally:
        ledger.close()


def test_open_refuses_a_ledger_from_a_newer_hubsync(ledger: SqlLedger) -> None:
    with raw_db(target_of(ledger)) as db:
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (99, 0.0))

    with pytest.raises(SchemaOutdated):
        ledger.open(at(1))


# -- recording several outcomes at once ----------------------------------------


def transfer(seq: int, outcome: str) -> AuditEntry:
    """The audit row of one transfer to HubSpot."""
    return entry(
        "contact_updated", T0, direction="to_hubspot", system="hubspot", outcome=outcome,
        event_id=f"seq-{seq}", http_status=200,
    )  # fmt: skip


def test_record_ends_several_held_events_with_their_audit_rows_in_one_transaction(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("a", "A"), event("b", "B"), event("c", "C"))
    a, b, c = ledger.claim("worker-a", 10, T0, LEASE)

    lost = ledger.record(
        "worker-a",
        [
            Outcome(a.seq, EventState.DONE, note="applied"),
            Outcome(b.seq, EventState.PENDING, error=retryable(), retry_at=at(60)),
            Outcome(c.seq, EventState.FAILED, error=permanent()),
        ],
        at(1),
        [transfer(a.seq, "ok"), transfer(b.seq, "retry"), transfer(c.seq, "failed")],
    )

    assert lost == []
    assert (ledger.get(a.seq).state, ledger.get(a.seq).note) == (EventState.DONE, "applied")
    b_now = ledger.get(b.seq)
    assert (b_now.state, b_now.next_attempt_at, b_now.attempts) == (EventState.PENDING, at(60), 1)
    c_now = ledger.get(c.seq)
    assert (c_now.state, c_now.last_error, c_now.finished_at) == (
        EventState.FAILED,
        permanent(),
        at(1),
    )
    assert [r.entry.outcome for r in ledger.audit_rows()] == ["ok", "retry", "failed"]
    assert ledger.verify_audit().ok


def test_record_returns_the_events_no_longer_held_and_records_the_others(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("a", "A"), event("b", "B"))
    a, b = ledger.claim("worker-a", 10, T0, LEASE)
    ledger.release("worker-a", [b.seq], T0)
    (b_taken,) = ledger.claim("worker-b", 10, at(1), LEASE)

    lost = ledger.record(
        "worker-a",
        [Outcome(a.seq, EventState.DONE), Outcome(b.seq, EventState.DONE)],
        at(2),
    )

    assert lost == [b.seq]
    assert ledger.get(a.seq).state is EventState.DONE
    assert ledger.get(b.seq) == b_taken


def test_strict_record_raises_lease_lost_and_records_nothing(ledger: SqlLedger) -> None:
    submit(ledger, event("a", "A"), event("b", "B"))
    a, b = ledger.claim("worker-a", 10, T0, LEASE)
    ledger.release("worker-a", [b.seq], T0)

    with pytest.raises(LeaseLost):
        ledger.record(
            "worker-a",
            [Outcome(a.seq, EventState.DONE), Outcome(b.seq, EventState.DONE)],
            at(1),
            [transfer(a.seq, "ok")],
            strict=True,
        )

    assert ledger.get(a.seq) == a
    assert list(ledger.audit_rows()) == []


def note_of(i: int) -> str | None:
    """Mixed notes, most of them "applied" (so one note alone spans several hundreds)."""
    return {3: "subject_absent", 7: None}.get(i % 10, "applied")


def test_record_completes_hundreds_of_held_events_and_returns_those_it_no_longer_holds(
    ledger: SqlLedger,
) -> None:
    submit(ledger, *(event(f"e{i:03d}", f"S{i:03d}") for i in range(300)))
    held = ledger.claim("worker-a", 300, T0, LEASE)
    assert len(held) == 300
    # Three are given back and taken over by worker-b: one "None" note, two "applied"
    # far into that note's hundreds.
    gone = [held[7], held[150], held[290]]
    ledger.release("worker-a", [e.seq for e in gone], T0)
    taken = ledger.claim("worker-b", 10, at(1), LEASE)
    assert ids(taken) == ids(gone)
    outcomes = [Outcome(e.seq, EventState.DONE, note=note_of(i)) for i, e in enumerate(held)]
    outcomes[42] = Outcome(held[42].seq, EventState.PENDING, error=retryable(), retry_at=at(60))
    outcomes[43] = Outcome(held[43].seq, EventState.FAILED, error=permanent())

    lost = ledger.record("worker-a", outcomes, at(2), [transfer(held[0].seq, "ok")])

    assert sorted(lost) == [e.seq for e in gone]
    gone_seqs = {e.seq for e in gone}
    for i, before in enumerate(held):
        ev = ledger.get(before.seq)
        if before.seq in gone_seqs:
            assert ev == next(t for t in taken if t.seq == before.seq)
        elif i == 42:
            assert (ev.state, ev.next_attempt_at, ev.lease_owner) == (
                EventState.PENDING,
                at(60),
                None,
            )
        elif i == 43:
            assert (ev.state, ev.finished_at, ev.lease_owner) == (EventState.FAILED, at(2), None)
        else:
            assert (ev.state, ev.note, ev.finished_at) == (EventState.DONE, note_of(i), at(2))
            assert (ev.lease_owner, ev.lease_until) == (None, None), ev.event_id
            assert ev.payload is not None, ev.event_id  # not erased: retention scrubs it later
    assert ledger.status(at(2)).by_state == {
        **{s.value: 0 for s in EventState},
        "done": 295,
        "in_progress": 3,
        "pending": 1,
        "failed": 1,
    }
    assert [r.entry.outcome for r in ledger.audit_rows()] == ["ok"]


def test_strict_record_of_hundreds_of_outcomes_one_not_held_raises_lease_lost_and_changes_nothing(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("E", T0, email=EMAIL, contact_ids=["909"])
    submit(
        ledger,
        event("erase-e", "E", kind=EventKind.ERASURE),
        *(event(f"e{i:03d}", f"S{i:03d}") for i in range(250)),
    )
    erasure, *others = ledger.claim("worker-a", 300, T0, LEASE)
    assert (erasure.event_id, len(others)) == ("erase-e", 250)
    ledger.release("worker-a", [others[230].seq], T0)
    (taken,) = ledger.claim("worker-b", 10, at(1), LEASE)
    outcomes = [
        Outcome(erasure.seq, EventState.DONE, erased_subject="E", suppress=(("email", "dig-e"),)),
        *(Outcome(e.seq, EventState.DONE, note=note_of(i)) for i, e in enumerate(others)),
    ]
    outcomes[11] = Outcome(others[10].seq, EventState.PENDING, error=retryable(), retry_at=at(9))
    outcomes[12] = Outcome(others[11].seq, EventState.FAILED, error=permanent())

    with pytest.raises(LeaseLost):
        ledger.record("worker-a", outcomes, at(2), [transfer(erasure.seq, "erased")], strict=True)

    assert ledger.get(erasure.seq) == erasure
    for before in others:
        assert ledger.get(before.seq) == (taken if before.seq == taken.seq else before)
    assert list(ledger.audit_rows()) == []
    assert not ledger.is_suppressed("dig-e")
    record = ledger.subject("E")
    assert record is not None
    assert (record.erasure, record.email, record.contact_ids) == ("erasing", EMAIL, ("909",))
    # Without the outcome it no longer holds, the same record goes through.
    held_only = [o for o in outcomes if o.seq != taken.seq]
    assert ledger.record("worker-a", held_only, at(3), strict=True) == []
    assert ledger.status(at(3)).by_state["done"] == 248


def test_a_deferral_returns_the_event_without_counting_the_attempt(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    ledger.record(
        "worker-a",
        [
            Outcome(
                held.seq,
                EventState.PENDING,
                error=retryable("rate_limited"),
                retry_at=at(10),
                count_attempt=False,
            )
        ],
        at(1),
    )

    ev = ledger.get(held.seq)
    assert (ev.state, ev.attempts, ev.next_attempt_at) == (EventState.PENDING, 0, at(10))
    assert ledger.claim("worker-a", 10, at(9), LEASE) == []
    (again,) = ledger.claim("worker-a", 10, at(10), LEASE)
    assert again.attempts == 1


def test_an_outcome_that_cannot_end_an_attempt_is_refused_and_nothing_is_recorded(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("a", "A"), event("b", "B"))
    a, b = ledger.claim("worker-a", 10, T0, LEASE)

    for bad in (Outcome(b.seq, EventState.PENDING), Outcome(b.seq, EventState.SKIPPED)):
        with pytest.raises(ValueError):
            ledger.record("worker-a", [Outcome(a.seq, EventState.DONE), bad], at(1))

    assert ledger.get(a.seq) == a
    assert ledger.get(b.seq) == b


def test_completing_an_erasure_suppresses_and_scrubs_its_subject_in_the_same_transaction(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101"])
    submit(ledger, event("access", kind=EventKind.ACCESS, occurred=at(1)))
    finish(ledger, "access", at(2))
    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(3)), now=at(3))
    (erasure,) = ledger.claim("worker-a", 10, at(4), LEASE)

    ledger.record(
        "worker-a",
        [
            Outcome(
                erasure.seq,
                EventState.DONE,
                erased_subject="C-1",
                suppress=(("email", "digest-email"), ("contact", "digest-101")),
            )
        ],
        at(5),
        [transfer(erasure.seq, "erased")],
    )

    for ev in ledger.list_events(subject_id="C-1"):
        assert (ev.state, ev.payload) == (EventState.DONE, None), ev.event_id
    assert ledger.get(erasure.seq).scrubbed_at == at(5)
    record = ledger.subject("C-1")
    assert record is not None
    assert (record.erasure, record.email, record.contact_ids) == ("erased", None, ())
    assert ledger.is_suppressed("digest-email")
    assert ledger.is_suppressed("digest-101")
    (late,) = submit(ledger, event("late", occurred=at(6)), now=at(6))
    assert late.state is EventState.SKIPPED


def test_an_erasure_outcome_whose_lease_was_lost_erases_nothing(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL)
    submit(ledger, event("erase", kind=EventKind.ERASURE))
    (erasure,) = ledger.claim("worker-a", 10, T0, LEASE)
    ledger.release("worker-a", [erasure.seq], T0)

    lost = ledger.record(
        "worker-a",
        [Outcome(erasure.seq, EventState.DONE, erased_subject="C-1", suppress=(("email", "d"),))],
        at(1),
    )

    assert lost == [erasure.seq]
    assert not ledger.is_suppressed("d")
    record = ledger.subject("C-1")
    assert record is not None
    assert (record.erasure, record.email) == ("erasing", EMAIL)
    assert ledger.get(erasure.seq).payload is not None
