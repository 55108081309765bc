"""Erasure wins, the subject map and suppressions, on SQLite and PostgreSQL.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

from sync.ledger.sql import SqlLedger
from sync.model import (
    EventKind,
    EventState,
)
from sync.rules.erasure import REFUSED_NOTE
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    EMAIL,
    LEASE,
    at,
    complete,
    dead_letter,
    event,
    finish,
    ids,
    record_failure,
    retryable,
    seq_of,
    stored,
    submit,
)

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
    record_failure(ledger, "worker-a", held.seq, retryable(), at(3), retry_at=at(3600))

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
    complete(ledger, "worker-a", [first.seq], at(7))
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
