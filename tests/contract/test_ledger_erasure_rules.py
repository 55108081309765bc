"""Erasure wins, also for events in flight: contract tests on SQLite and PostgreSQL.

An erasure supersedes the subject's waiting events when it arrives; an event
that was in flight then, and comes back to pending (a retry, a deferral, an
expired lease), is superseded too rather than applied after the erasure.
Closing an erasure scrubs the subject's payloads, except those of erasures
and access requests still to run, which need them; those are scrubbed when
they finish. The helpers are the contract suite's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from sync.audit import AuditAction
from sync.ledger.db import Lock
from sync.ledger.postgres import ADVISORY_LOCK_BASE, PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.model import EventKind, EventState, Outcome, StoredEvent
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    EMAIL,
    LEASE,
    at,
    audit_of,
    close_erasure,
    complete,
    dead_letter,
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
from tests.contract.rawdb import RawDb, raw_db, target_of

IN_FLIGHT_NOTE = "superseded_by_erasure"
"""The note of an event superseded when it came back from flight (intake's names the erasure)."""


def in_flight_when_erasure_arrives(
    ledger: SqlLedger, kind: EventKind = EventKind.RECTIFICATION, subject: str = "C-1"
) -> StoredEvent:
    """An event of ``subject`` held by worker-a from at(1), and then an erasure of C-1 at at(2).

    With ``kind`` erasure, the event in flight is the subject's first erasure
    and the one arriving a second.
    """
    submit(ledger, event("in-flight", subject, kind=kind, occurred=at(1)), now=at(1))
    (held,) = ledger.claim("worker-a", 10, at(1), LEASE)
    submit(ledger, event("erase", "C-1", kind=EventKind.ERASURE, occurred=at(2)), now=at(2))
    # Intake supersedes what waits; an event in flight is left to its worker.
    still = get(ledger, held.seq)
    assert (still.state, still.lease_owner) == (EventState.IN_PROGRESS, "worker-a")
    assert still.payload is not None
    return held


def assert_superseded_in_flight(ev: StoredEvent, now: datetime) -> None:
    """The event was superseded at ``now`` when it came back: closed, nothing personal kept."""
    assert ev.state is EventState.SUPERSEDED
    assert ev.payload is None
    assert ev.note == IN_FLIGHT_NOTE
    assert (ev.scrubbed_at, ev.finished_at) == (now, now)
    assert (ev.lease_owner, ev.lease_until) == (None, None)


# -- an event in flight when the erasure arrives --------------------------------


@pytest.mark.parametrize("count_attempt", [True, False], ids=["retry", "deferral"])
def test_an_event_in_flight_when_its_subjects_erasure_arrives_is_superseded_when_rescheduled(
    ledger: SqlLedger, count_attempt: bool
) -> None:
    held = in_flight_when_erasure_arrives(ledger)

    lost = ledger.record(
        "worker-a",
        [
            Outcome(
                held.seq,
                EventState.PENDING,
                error=retryable(),
                retry_at=at(60),
                count_attempt=count_attempt,
            )
        ],
        at(3),
        [transfer(held.seq, "retry")],
    )

    assert lost == []
    assert_superseded_in_flight(get(ledger, held.seq), at(3))
    # The outcome's audit row is still written, in the same transaction.
    assert [r.entry.outcome for r in ledger.audit_rows()] == ["retry"]
    # Past its retry time it is never handed out again: only the erasure is.
    assert ids(ledger.claim("worker-b", 10, at(61), LEASE)) == ["erase"]


def test_an_event_in_flight_when_its_subjects_erasure_arrives_is_superseded_by_record_failure(
    ledger: SqlLedger,
) -> None:
    held = in_flight_when_erasure_arrives(ledger)

    record_failure(ledger, "worker-a", held.seq, retryable(), at(3), retry_at=at(60))

    assert_superseded_in_flight(get(ledger, held.seq), at(3))
    assert ids(ledger.claim("worker-b", 10, at(61), LEASE)) == ["erase"]


def test_an_event_in_flight_when_its_subjects_erasure_arrives_is_superseded_when_its_lease_expires(
    ledger: SqlLedger,
) -> None:
    held = in_flight_when_erasure_arrives(ledger)
    assert held.lease_until is not None
    expired = held.lease_until + timedelta(seconds=1)

    claimed = ledger.claim("worker-b", 10, expired, LEASE)

    assert ids(claimed) == ["erase"]
    ev = get(ledger, held.seq)
    assert_superseded_in_flight(ev, expired)
    assert ev.last_error is not None
    assert ev.last_error.code == "lease_expired"
    # The worker that lost the lease cannot complete it afterwards.
    assert ledger.record("worker-a", [Outcome(held.seq, EventState.DONE)], expired) == [held.seq]
    assert get(ledger, held.seq) == ev


@pytest.mark.parametrize("kind", [EventKind.ERASURE, EventKind.ACCESS], ids=lambda k: k.value)
@pytest.mark.parametrize("how", ["retry", "lease_expired"])
def test_an_erasure_or_access_in_flight_when_an_erasure_arrives_stays_pending_when_rescheduled(
    ledger: SqlLedger, kind: EventKind, how: str
) -> None:
    held = in_flight_when_erasure_arrives(ledger, kind=kind)
    assert held.lease_until is not None
    if how == "retry":
        record_failure(ledger, "worker-a", held.seq, retryable(), at(3), retry_at=at(60))
        later = at(60)
    else:
        later = held.lease_until + timedelta(seconds=1)

    claimed = ledger.claim("worker-b", 10, later, LEASE)

    # It is handed out again, first (it occurred before the erasure that arrived),
    # with everything it needs.
    assert ids(claimed) == ["in-flight"]
    (again,) = claimed
    assert (again.state, again.attempts, again.note) == (EventState.IN_PROGRESS, 2, None)
    assert again.payload is not None
    assert again.envelope().email == EMAIL
    assert stored(ledger, "erase").state is EventState.PENDING


@pytest.mark.parametrize("how", ["retry", "lease_expired"])
def test_a_rescheduled_event_of_a_subject_that_is_not_erasing_stays_pending(
    ledger: SqlLedger, how: str
) -> None:
    # The event in flight is C-2's; the erasure that arrives is C-1's.
    held = in_flight_when_erasure_arrives(ledger, subject="C-2")
    assert held.lease_until is not None
    if how == "retry":
        ledger.record(
            "worker-a",
            [Outcome(held.seq, EventState.PENDING, error=retryable(), retry_at=at(60))],
            at(3),
        )
        later = at(60)
    else:
        later = held.lease_until + timedelta(seconds=1)

    claimed = ledger.claim("worker-b", 10, later, LEASE)

    assert sorted(ids(claimed)) == ["erase", "in-flight"]
    again = next(e for e in claimed if e.event_id == "in-flight")
    assert (again.state, again.note, again.scrubbed_at) == (EventState.IN_PROGRESS, None, None)
    assert again.envelope().changes == {"first_name": "Anna"}


def test_one_record_supersedes_the_erasing_subjects_retry_and_reschedules_the_others(
    ledger: SqlLedger,
) -> None:
    submit(
        ledger,
        event("c1-rect", "C-1", occurred=at(1)),
        event("c2-rect", "C-2", occurred=at(1)),
        event("c3-done", "C-3", occurred=at(1)),
    )
    c1, c2, c3 = ledger.claim("worker-a", 10, at(1), LEASE)
    submit(ledger, event("erase", "C-1", kind=EventKind.ERASURE, occurred=at(2)), now=at(2))

    lost = ledger.record(
        "worker-a",
        [
            Outcome(c1.seq, EventState.PENDING, error=retryable(), retry_at=at(60)),
            Outcome(c2.seq, EventState.PENDING, error=retryable(), retry_at=at(60)),
            Outcome(c3.seq, EventState.DONE, note="applied"),
        ],
        at(3),
    )

    assert lost == []
    assert_superseded_in_flight(get(ledger, c1.seq), at(3))
    c2_now = get(ledger, c2.seq)
    assert (c2_now.state, c2_now.next_attempt_at) == (EventState.PENDING, at(60))
    assert c2_now.payload is not None
    c3_now = get(ledger, c3.seq)
    assert (c3_now.state, c3_now.note) == (EventState.DONE, "applied")
    assert c3_now.payload is not None  # C-3 is not erased: retention scrubs it later
    assert sorted(ids(ledger.claim("worker-b", 10, at(60), LEASE))) == ["c2-rect", "erase"]


# -- completing an erasure -----------------------------------------------------


def erasure_completed_with_more_to_run(ledger: SqlLedger) -> None:
    """C-1: a done rectification, erase-1 completed at at(6), access and erase-2 still pending."""
    ledger.remember_subject("C-1", T0, email=EMAIL, contact_ids=["101"])
    submit(ledger, event("rect", occurred=at(1)), now=at(1))
    finish(ledger, "rect", at(1))
    submit(ledger, event("erase-1", kind=EventKind.ERASURE, occurred=at(2)), now=at(2))
    submit(
        ledger,
        event("access", kind=EventKind.ACCESS, occurred=at(3)),
        event("erase-2", kind=EventKind.ERASURE, occurred=at(4)),
        now=at(3),
    )
    (first,) = ledger.claim("worker-a", 10, at(5), LEASE)
    assert first.event_id == "erase-1"
    close_erasure(ledger, first.seq, at(6))


def test_completing_an_erasure_keeps_the_payload_of_a_second_erasure_and_an_access_still_to_run(
    ledger: SqlLedger,
) -> None:
    erasure_completed_with_more_to_run(ledger)

    for event_id in ("rect", "erase-1"):
        ev = stored(ledger, event_id)
        assert (ev.state, ev.payload, ev.scrubbed_at) == (EventState.DONE, None, at(6)), event_id
    for event_id in ("access", "erase-2"):
        ev = stored(ledger, event_id)
        assert (ev.state, ev.scrubbed_at) == (EventState.PENDING, None), event_id
        assert ev.envelope().email == EMAIL, event_id
    record = ledger.subject("C-1")
    assert record is not None
    assert (record.erasure, record.email, record.contact_ids) == ("erased", None, ())
    assert ledger.is_suppressed("digest-email")


def test_an_access_request_answered_after_its_subjects_erasure_is_scrubbed_in_the_same_record(
    ledger: SqlLedger,
) -> None:
    erasure_completed_with_more_to_run(ledger)
    (access,) = ledger.claim("worker-a", 10, at(7), LEASE)
    assert access.event_id == "access"
    assert access.envelope().email == EMAIL  # the worker gets what it needs to answer

    lost = ledger.record(
        "worker-a",
        [Outcome(access.seq, EventState.DONE, note="answered")],
        at(8),
        [transfer(access.seq, "answered")],
    )

    assert lost == []
    ev = get(ledger, access.seq)
    assert (ev.state, ev.note, ev.finished_at) == (EventState.DONE, "answered", at(8))
    assert (ev.payload, ev.scrubbed_at) == (None, at(8))
    # The second erasure still waits with its payload.
    assert stored(ledger, "erase-2").payload is not None


@pytest.mark.parametrize("erases", [True, False], ids=["erased_again", "subject_absent"])
def test_a_second_erasure_finishing_after_the_subject_is_erased_is_scrubbed_in_the_same_record(
    ledger: SqlLedger, erases: bool
) -> None:
    erasure_completed_with_more_to_run(ledger)
    finish(ledger, "access", at(7))
    (second,) = ledger.claim("worker-a", 10, at(8), LEASE)
    assert second.event_id == "erase-2"
    assert second.envelope().email == EMAIL

    # A worker closes an erasure with erased_subject, or, when HubSpot has no
    # such contact any more, as a plain done ("subject_absent").
    outcome = (
        Outcome(second.seq, EventState.DONE, erased_subject="C-1", suppress=(("email", "d2"),))
        if erases
        else Outcome(second.seq, EventState.DONE, note="subject_absent")
    )
    assert ledger.record("worker-a", [outcome], at(9)) == []

    ev = get(ledger, second.seq)
    assert (ev.state, ev.finished_at, ev.payload, ev.scrubbed_at) == (
        EventState.DONE,
        at(9),
        None,
        at(9),
    )
    for other in ledger.list_events(subject_id="C-1"):
        assert other.payload is None, other.event_id


def test_a_rescheduled_access_request_of_an_erased_subject_keeps_its_payload(
    ledger: SqlLedger,
) -> None:
    erasure_completed_with_more_to_run(ledger)
    (access,) = ledger.claim("worker-a", 10, at(7), LEASE)

    record_failure(ledger, "worker-a", access.seq, retryable(), at(8), retry_at=at(60))

    ev = get(ledger, access.seq)
    assert (ev.state, ev.next_attempt_at, ev.scrubbed_at) == (EventState.PENDING, at(60), None)
    assert ev.payload is not None


# -- mark_erased on its own ----------------------------------------------------


def test_mark_erased_scrubs_finished_events_and_keeps_erasures_and_access_requests_still_to_run(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("rect", occurred=at(1)), now=at(1))
    finish(ledger, "rect", at(1))
    submit(ledger, event("erase-failed", kind=EventKind.ERASURE, occurred=at(2)), now=at(2))
    dead_letter(ledger, "erase-failed", at(2))
    submit(ledger, event("access-failed", kind=EventKind.ACCESS, occurred=at(3)), now=at(3))
    dead_letter(ledger, "access-failed", at(3))
    submit(ledger, event("access-held", kind=EventKind.ACCESS, occurred=at(4)), now=at(4))
    (held,) = ledger.claim("worker-a", 10, at(4), LEASE)
    assert held.event_id == "access-held"
    submit(
        ledger,
        event("erase-pending", kind=EventKind.ERASURE, occurred=at(5)),
        event("access-pending", kind=EventKind.ACCESS, occurred=at(6)),
        now=at(5),
    )
    states = {e.event_id: e.state for e in ledger.list_events(subject_id="C-1")}
    assert states == {
        "rect": EventState.DONE,
        "erase-failed": EventState.FAILED,
        "access-failed": EventState.FAILED,
        "access-held": EventState.IN_PROGRESS,
        "erase-pending": EventState.PENDING,
        "access-pending": EventState.PENDING,
    }

    scrubbed = ledger.mark_erased("C-1", [("email", "digest-email")], at(10))

    assert scrubbed == 1
    rect = stored(ledger, "rect")
    assert (rect.payload, rect.scrubbed_at) == (None, at(10))
    for event_id in states.keys() - {"rect"}:
        ev = stored(ledger, event_id)
        assert (ev.state, ev.scrubbed_at) == (states[event_id], None), event_id
        assert ev.envelope().email == EMAIL, event_id


def test_mark_erased_scrubs_an_event_in_flight_that_is_not_an_erasure_or_access_request(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("rect", occurred=at(1)), now=at(1))
    (held,) = ledger.claim("worker-a", 10, at(1), LEASE)

    assert ledger.mark_erased("C-1", [], at(2)) == 1

    ev = get(ledger, held.seq)
    assert (ev.state, ev.lease_owner) == (EventState.IN_PROGRESS, "worker-a")
    assert (ev.payload, ev.scrubbed_at) == (None, at(2))
    # Rescheduled, it does not come back: its subject is erased.
    record_failure(ledger, "worker-a", held.seq, retryable(), at(3), retry_at=at(60))
    assert_superseded_in_flight(get(ledger, held.seq), at(3))
    assert ledger.claim("worker-b", 10, at(61), LEASE) == []


def test_an_access_request_kept_by_mark_erased_survives_a_dead_letter_and_is_scrubbed_when_answered(
    ledger: SqlLedger,
) -> None:
    submit(ledger, event("access", kind=EventKind.ACCESS, occurred=at(1)), now=at(1))
    (held,) = ledger.claim("worker-a", 10, at(1), LEASE)
    assert ledger.mark_erased("C-1", [], at(2)) == 0

    # Dead-lettered, it keeps what a replay needs.
    record_failure(ledger, "worker-a", held.seq, permanent(), at(3), retry_at=None)
    failed = get(ledger, held.seq)
    assert (failed.state, failed.scrubbed_at) == (EventState.FAILED, None)
    assert failed.payload is not None
    ledger.replay([held.seq], at(4), audit_of(AuditAction.EVENT_REPLAYED, at(4)))
    (again,) = ledger.claim("worker-a", 10, at(5), LEASE)
    assert again.envelope().email == EMAIL

    complete(ledger, "worker-a", [again.seq], at(6), note="answered")

    done = get(ledger, held.seq)
    assert (done.state, done.payload, done.scrubbed_at) == (EventState.DONE, None, at(6))


# -- erasure wins on every way back to pending, failed or closed -----------------


def dead_letter_last_attempt_by_lease(ledger: SqlLedger) -> tuple[StoredEvent, datetime]:
    """An event on its last attempt when the erasure arrives; its lease expires (-> failed).

    The erasure is claimed by the claim that expires the lease; it meets a 503
    and waits an hour. Returns the event as first held, and the time reached.
    """
    submit(ledger, event("in-flight", occurred=at(1)), now=at(1))
    now = at(1)
    for attempt in range(1, ledger.max_attempts):  # each lease expires unused
        assert ids(ledger.claim(f"worker-{attempt}", 10, now, LEASE)) == ["in-flight"]
        now = now + LEASE + timedelta(seconds=1)
    (held,) = ledger.claim("worker-a", 10, now, LEASE)
    assert held.attempts == ledger.max_attempts
    submit(ledger, event("erase", kind=EventKind.ERASURE, occurred=at(2)), now=now)
    now = now + LEASE + timedelta(seconds=1)
    (erasure,) = ledger.claim("worker-b", 10, now, LEASE)
    assert erasure.event_id == "erase"
    record_failure(
        ledger, "worker-b", erasure.seq, retryable(), now, retry_at=now + timedelta(hours=1)
    )
    return held, now


def dead_letter_by_record(ledger: SqlLedger) -> tuple[StoredEvent, datetime]:
    """An event in flight when the erasure arrives, then dead-lettered by its worker."""
    held = in_flight_when_erasure_arrives(ledger)
    record_failure(ledger, "worker-a", held.seq, permanent(), at(3), retry_at=None)
    return held, at(3)


@pytest.mark.parametrize(
    "dead_lettered",
    [dead_letter_by_record, dead_letter_last_attempt_by_lease],
    ids=["by_record", "by_lease_expiry"],
)
def test_an_event_dead_lettered_after_its_subjects_erasure_arrived_is_never_applied_on_replay(
    ledger: SqlLedger, dead_lettered: Callable[[SqlLedger], tuple[StoredEvent, datetime]]
) -> None:
    held, now = dead_lettered(ledger)

    # `hubsync replay --all`: every failed event back to pending.
    failed = [e.seq for e in ledger.list_events(state=EventState.FAILED, limit=None)]
    ledger.replay(failed, now, audit_of(AuditAction.EVENT_REPLAYED, now))
    claimed = ledger.claim("worker-c", 10, now + timedelta(seconds=1), LEASE)

    assert "in-flight" not in ids(claimed)
    ev = get(ledger, held.seq)
    assert (ev.state, ev.payload) == (EventState.SUPERSEDED, None)


def test_an_event_in_flight_when_its_subjects_erasure_arrives_is_superseded_when_released(
    ledger: SqlLedger,
) -> None:
    held = in_flight_when_erasure_arrives(ledger)

    assert ledger.release("worker-a", [held.seq], at(3)) == 1

    assert ids(ledger.claim("worker-b", 10, at(3), LEASE)) == ["erase"]
    ev = get(ledger, held.seq)
    assert (ev.state, ev.payload) == (EventState.SUPERSEDED, None)


def test_an_access_request_of_an_erased_subject_closed_by_skip_keeps_no_payload(
    ledger: SqlLedger,
) -> None:
    erasure_completed_with_more_to_run(ledger)
    (access,) = ledger.claim("worker-a", 10, at(7), LEASE)
    record_failure(ledger, "worker-a", access.seq, permanent(), at(8), retry_at=None)

    (skipped,) = ledger.skip(
        [access.seq], "answered by post", at(9), audit_of(AuditAction.EVENT_SKIPPED, at(9))
    )

    assert skipped.state is EventState.SKIPPED
    assert (skipped.payload, skipped.scrubbed_at) == (None, at(9))


# -- a retry and an erasure at the same moment, on PostgreSQL ------------------

AUDIT_LOCK = ADVISORY_LOCK_BASE + Lock.AUDIT
INTAKE_LOCK = ADVISORY_LOCK_BASE + Lock.INTAKE


@pytest.fixture
def two_postgres_ledgers(
    postgres_schema: tuple[str, str],
) -> Iterator[tuple[SqlLedger, SqlLedger]]:
    """Two ledgers on one PostgreSQL schema, as a worker and the intake each hold one."""
    url, schema = postgres_schema
    pair = (PostgresLedger(url, schema=schema), PostgresLedger(url, schema=schema))
    pair[0].open(T0)
    try:
        yield pair
    finally:
        for ledger in pair:
            ledger.close()


def wait_for_audit_lock_waiters(raw: RawDb, count: int) -> None:
    """Block until ``count`` transactions wait for the audit or the intake advisory lock."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        (waiting,) = raw.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid IN (?, ?)",
            (AUDIT_LOCK & 0xFFFF_FFFF, INTAKE_LOCK & 0xFFFF_FFFF),
        )[0]
        if waiting >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} transactions ever waited for the audit lock")


def test_on_postgres_a_retry_recorded_while_the_erasure_arrives_is_superseded(
    two_postgres_ledgers: tuple[SqlLedger, SqlLedger],
) -> None:
    worker_side, intake_side = two_postgres_ledgers
    submit(worker_side, event("in-flight", occurred=at(1)), now=at(1))
    (held,) = worker_side.claim("worker-a", 10, at(1), LEASE)
    retry = Outcome(held.seq, EventState.PENDING, error=retryable(), retry_at=at(60))
    erasure = event("erase", kind=EventKind.ERASURE, occurred=at(2))

    # A third transaction holds the audit chain's lock (another worker appending its
    # rows): the retry waits there after its erasure check, before its commit, and the
    # erasure's intake waits there after superseding what it saw waiting.
    with raw_db(target_of(worker_side)) as raw, ThreadPoolExecutor(2) as pool:
        raw.execute("SELECT pg_advisory_lock(?)", (AUDIT_LOCK,))
        try:
            recorded = pool.submit(
                worker_side.record, "worker-a", [retry], at(3), [transfer(held.seq, "retry")]
            )
            wait_for_audit_lock_waiters(raw, 1)
            arrived = pool.submit(
                intake_side.submit, [erasure], at(3), audit_of(AuditAction.EVENT_SUBMITTED, at(3))
            )
            wait_for_audit_lock_waiters(raw, 2)
        finally:
            raw.execute("SELECT pg_advisory_unlock(?)", (AUDIT_LOCK,))
        assert recorded.result(timeout=30) == []
        assert [r.state for r in arrived.result(timeout=30)] == [EventState.PENDING]

    assert ids(worker_side.claim("worker-b", 10, at(61), LEASE)) == ["erase"]
    # The retry committed first (it holds the intake lock), so the erasure's intake
    # found it waiting and superseded it, naming itself.
    ev = get(worker_side, held.seq)
    assert (ev.state, ev.payload) == (EventState.SUPERSEDED, None)
    assert (ev.note or "").startswith("superseded_by_erasure")
