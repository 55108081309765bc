"""The event queue's contract (submit, claim, leases, record), on SQLite and PostgreSQL.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.audit import AuditAction
from sync.errors import LeaseLost
from sync.ledger.sql import SqlLedger
from sync.model import (
    Direction,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    Outcome,
    SubmitResult,
)
from sync.rules.erasure import REFUSED_NOTE
from sync.rules.retry import RetryPolicy, no_jitter
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    EMAIL,
    LEASE,
    at,
    audit_of,
    close_erasure,
    complete,
    event,
    finish,
    get,
    ids,
    permanent,
    record_failure,
    retryable,
    stored,
    submit,
    transfer,
)

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
    assert get(ledger, held.seq) == held
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
        complete(ledger, "worker-a", [one.seq], now)

    assert order == ["first", "second", "third"]
    assert ledger.claim("worker-a", 10, at(20), LEASE) == []


def test_events_that_occurred_at_the_same_moment_are_claimed_in_arrival_order(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("arrived-1", occurred=at(1)))
    submit(ledger, event("arrived-2", occurred=at(1)), now=at(1))

    (first,) = ledger.claim("worker-a", 10, at(5), LEASE)
    complete(ledger, "worker-a", [first.seq], at(5))
    (second,) = ledger.claim("worker-a", 10, at(6), LEASE)

    assert (first.event_id, second.event_id) == ("arrived-1", "arrived-2")


def test_an_earlier_event_waiting_for_its_backoff_blocks_later_events_of_its_subject(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("early", occurred=at(1)), event("late", occurred=at(2)))
    (early,) = ledger.claim("worker-a", 10, at(10), LEASE)
    record_failure(ledger, "worker-a", early.seq, retryable(), at(10), retry_at=at(100))

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

    complete(ledger, "worker-a", [a1.seq], at(14))
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
    assert get(ledger, claimed.seq) == claimed


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
        complete(ledger, "worker-a", [held[0].seq], later)


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


def test_release_gives_events_back_without_counting_the_attempt(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    assert ledger.release("worker-b", [held.seq], T0) == 0
    assert ledger.release("worker-a", [held.seq], T0) == 1

    ev = get(ledger, held.seq)
    assert (ev.state, ev.attempts, ev.lease_owner) == (EventState.PENDING, 0, None)
    assert ids(ledger.claim("worker-b", 10, at(1), LEASE)) == ["reg-1"]


# -- completing and failing ----------------------------------------------------


def test_complete_marks_held_events_done_and_unblocks_the_subject(ledger: SqlLedger) -> None:
    submit(ledger, event("a1", "A", occurred=at(1)), event("a2", "A", occurred=at(2)))
    (a1,) = ledger.claim("worker-a", 10, at(10), LEASE)

    complete(ledger, "worker-a", [a1.seq], at(11), note="applied")

    done = get(ledger, a1.seq)
    assert (done.state, done.note, done.finished_at) == (EventState.DONE, "applied", at(11))
    assert (done.lease_owner, done.lease_until) == (None, None)
    assert ids(ledger.claim("worker-a", 10, at(12), LEASE)) == ["a2"]


def test_complete_by_another_owner_raises_lease_lost_and_changes_nothing(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("a", "A"), event("b", "B"))
    a, b = ledger.claim("worker-a", 10, T0, LEASE)

    with pytest.raises(LeaseLost):
        complete(ledger, "worker-b", [a.seq], at(1))
    assert get(ledger, a.seq) == a

    # A batch with one event not held is refused as a whole.
    ledger.release("worker-a", [b.seq], T0)
    (b_again,) = ledger.claim("worker-b", 10, at(1), LEASE)
    with pytest.raises(LeaseLost):
        complete(ledger, "worker-a", [a.seq, b.seq], at(2))

    assert get(ledger, a.seq) == a
    assert get(ledger, b.seq) == b_again


def test_a_retryable_failure_reschedules_the_event_until_its_retry_time(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    state = record_failure(ledger, "worker-a", held.seq, retryable(), at(1), retry_at=at(61))

    assert state is EventState.PENDING
    ev = get(ledger, held.seq)
    assert (ev.state, ev.next_attempt_at, ev.lease_owner) == (EventState.PENDING, at(61), None)
    assert ev.last_error == retryable()
    assert ev.finished_at is None
    assert ledger.claim("worker-a", 10, at(60), LEASE) == []
    (again,) = ledger.claim("worker-b", 10, at(61), LEASE)
    assert (again.seq, again.attempts) == (held.seq, 2)


def test_a_failure_without_a_retry_time_dead_letters_the_event(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    state = record_failure(ledger, "worker-a", held.seq, permanent(), at(1), retry_at=None)

    assert state is EventState.FAILED
    ev = get(ledger, held.seq)
    assert (ev.state, ev.finished_at, ev.lease_owner) == (EventState.FAILED, at(1), None)
    assert ev.last_error == permanent()
    assert ledger.claim("worker-a", 10, at(10_000), LEASE) == []


def test_record_failure_by_a_non_owner_raises_lease_lost(ledger: SqlLedger) -> None:
    submit(ledger, event("reg-1"))
    (held,) = ledger.claim("worker-a", 10, T0, LEASE)

    with pytest.raises(LeaseLost):
        record_failure(ledger, "worker-b", held.seq, retryable(), at(1), retry_at=at(5))

    assert get(ledger, held.seq) == held


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
        states.append(record_failure(ledger, "worker-a", held.seq, retryable(), now, retry_at))
        now = retry_at or now

    assert states == [EventState.PENDING] * 3 + [EventState.FAILED]
    ev = stored(ledger, "reg-1")
    assert (ev.state, ev.attempts) == (EventState.FAILED, 4)
    # Backoff 10, 20, 40 seconds between the four attempts.
    assert now == at(70)


# -- recording several outcomes at once ----------------------------------------


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
    assert (get(ledger, a.seq).state, get(ledger, a.seq).note) == (EventState.DONE, "applied")
    b_now = get(ledger, b.seq)
    assert (b_now.state, b_now.next_attempt_at, b_now.attempts) == (EventState.PENDING, at(60), 1)
    c_now = get(ledger, c.seq)
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
    assert get(ledger, a.seq).state is EventState.DONE
    assert get(ledger, b.seq) == b_taken


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

    assert get(ledger, a.seq) == a
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
        ev = get(ledger, before.seq)
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

    assert get(ledger, erasure.seq) == erasure
    for before in others:
        assert get(ledger, before.seq) == (taken if before.seq == taken.seq else before)
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

    ev = get(ledger, held.seq)
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

    assert get(ledger, a.seq) == a
    assert get(ledger, b.seq) == b


def test_completing_an_erasure_suppresses_and_scrubs_its_subject_in_the_same_transaction(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101"])
    submit(ledger, event("access", kind=EventKind.ACCESS, occurred=at(1)))
    finish(ledger, "access", at(2))
    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(3)), now=at(3))
    (erasure,) = ledger.claim("worker-a", 10, at(4), LEASE)

    close_erasure(ledger, erasure.seq, at(5))

    for ev in ledger.list_events(subject_id="C-1"):
        assert (ev.state, ev.payload) == (EventState.DONE, None), ev.event_id
    assert get(ledger, erasure.seq).scrubbed_at == at(5)
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
    assert get(ledger, erasure.seq).payload is not None
