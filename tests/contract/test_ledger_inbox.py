"""The ledger's HubSpot webhook inbox, on SQLite and PostgreSQL.

Webhook events are stored as received before the 204; a redelivery (same
portal, subscription and event id) is acknowledged and dropped; processed
events lose their payload (personal data) and their keys expire.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sync.audit import AuditAction
from sync.ledger.sql import SqlLedger
from tests.conftest import T0
from tests.contract.ledger_helpers import counted, pending_webhooks, refused

TTL = timedelta(days=7)


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


def hook(event_id: int, value: str = "Anna") -> tuple[str, dict[str, Any]]:
    return (
        f"62515:12345:{event_id}",
        {"eventId": event_id, "portalId": 62515, "subscriptionId": 12345,
         "subscriptionType": "contact.propertyChange", "propertyValue": value},
    )  # fmt: skip


def inbox_rows(ledger: SqlLedger) -> list[tuple[Any, ...]]:
    with ledger._read() as cur:
        return list(
            cur.execute(
                "SELECT receipt_key, state, payload IS NULL, processed_at FROM hubspot_inbox "
                "ORDER BY seq"
            ).fetchall()
        )


def test_stored_webhooks_are_pending_in_arrival_order(ledger: SqlLedger) -> None:
    assert ledger.store_webhooks([hook(2), hook(1)], T0, TTL) == [True, True]
    assert ledger.store_webhooks([hook(3)], at(1), TTL) == [True]

    assert pending_webhooks(ledger, 10) == [hook(2), hook(1), hook(3)]
    assert pending_webhooks(ledger, 2) == [hook(2), hook(1)]


def test_a_redelivered_batch_is_stored_once(ledger: SqlLedger) -> None:
    batch = [hook(1), hook(2)]
    assert ledger.store_webhooks(batch, T0, TTL) == [True, True]

    assert ledger.store_webhooks([hook(1, "Changed"), hook(2), hook(3)], at(60), TTL) == [
        False,
        False,
        True,
    ]

    assert pending_webhooks(ledger, 10) == [hook(1), hook(2), hook(3)]


def test_a_second_copy_in_the_same_batch_is_a_redelivery(ledger: SqlLedger) -> None:
    assert ledger.store_webhooks([hook(1), hook(1), hook(2)], T0, TTL) == [True, False, True]
    assert [k for k, _ in pending_webhooks(ledger, 10)] == ["62515:12345:1", "62515:12345:2"]


def test_batches_of_any_length_are_stored(ledger: SqlLedger) -> None:
    assert ledger.store_webhooks([], T0, TTL) == []
    big = [hook(n) for n in range(1, 251)]
    assert ledger.store_webhooks(big, T0, TTL) == [True] * 250
    assert len(pending_webhooks(ledger, 1000)) == 250


def test_finishing_marks_done_and_scrubs_the_payload(ledger: SqlLedger) -> None:
    ledger.store_webhooks([hook(1), hook(2)], T0, TTL)

    assert ledger.finish_webhooks(["62515:12345:1", "62515:12345:9"], at(5)) == 1
    assert ledger.finish_webhooks(["62515:12345:1"], at(6)) == 0

    assert pending_webhooks(ledger, 10) == [hook(2)]
    assert inbox_rows(ledger) == [
        ("62515:12345:1", "done", True, at(5).timestamp()),
        ("62515:12345:2", "pending", False, None),
    ]


def test_a_finished_key_still_drops_a_redelivery_until_it_expires(ledger: SqlLedger) -> None:
    ledger.store_webhooks([hook(1)], T0, TTL)
    ledger.finish_webhooks(["62515:12345:1"], at(1))

    assert ledger.store_webhooks([hook(1)], at(2), TTL) == [False]
    assert pending_webhooks(ledger, 10) == []


def test_purge_forgets_expired_done_rows_and_keeps_pending_ones(ledger: SqlLedger) -> None:
    ledger.store_webhooks([hook(1), hook(2)], T0, TTL)
    ledger.finish_webhooks(["62515:12345:1"], at(1))

    assert ledger.purge_receipts(T0 + TTL - timedelta(seconds=1)) == 0
    assert ledger.purge_receipts(T0 + TTL) == 1

    assert [r[0] for r in inbox_rows(ledger)] == ["62515:12345:2"]
    assert pending_webhooks(ledger, 10) == [hook(2)]


def test_payloads_survive_a_reopen(ledger: SqlLedger) -> None:
    ledger.store_webhooks([hook(1, 'Åsa \u00e4 "quoted"')], T0, TTL)
    ledger.close()

    ledger.open(at(1))

    assert pending_webhooks(ledger, 10) == [hook(1, 'Åsa \u00e4 "quoted"')]


def test_claimed_webhooks_are_not_handed_to_another_worker_until_the_lease_ends(
    ledger: SqlLedger,
) -> None:
    ledger.store_webhooks([hook(1), hook(2), hook(3)], T0, TTL)
    lease = timedelta(seconds=30)

    first = ledger.claim_webhooks("w1", 2, at(1), lease)
    second = ledger.claim_webhooks("w2", 10, at(2), lease)
    assert [k for k, _ in first] == [hook(1)[0], hook(2)[0]]
    assert [k for k, _ in second] == [hook(3)[0]]

    # w1 crashed: after its lease, its events come back to anyone.
    assert ledger.claim_webhooks("w2", 10, at(20), lease) == []
    again = ledger.claim_webhooks("w2", 10, at(31.5), lease)
    assert [k for k, _ in again] == [hook(1)[0], hook(2)[0]]


def test_released_webhooks_can_be_claimed_at_once_and_finished_ones_never(
    ledger: SqlLedger,
) -> None:
    ledger.store_webhooks([hook(1), hook(2)], T0, TTL)
    lease = timedelta(seconds=30)
    ledger.claim_webhooks("w1", 10, at(1), lease)

    assert ledger.release_webhooks("w2", [hook(1)[0]]) == 0  # not w2's to give back
    assert ledger.release_webhooks("w1", [hook(1)[0]]) == 1
    assert ledger.finish_webhooks([hook(2)[0]], at(2)) == 1

    assert ledger.claim_webhooks("w2", 10, at(3), lease) == [hook(1)]


def test_echo_marks_match_only_the_written_value_within_their_window(ledger: SqlLedger) -> None:
    ledger.remember_writes([("101", "firstname", "d1"), ("101", "lastname", "d2")], T0, TTL)

    asked = [("101", "firstname", "d1"), ("101", "firstname", "d2"), ("102", "firstname", "d1")]
    assert ledger.written_recently(asked, at(60)) == {("101", "firstname", "d1")}
    assert ledger.written_recently(asked, T0 + TTL) == set()

    ledger.purge_receipts(T0 + TTL)
    with ledger._read() as cur:
        assert cur.execute("SELECT COUNT(*) FROM echo_marks").fetchone()[0] == 0


def test_counters_add_up_across_calls(ledger: SqlLedger) -> None:
    assert ledger.counts() == {}
    ledger.add_counts({"http_429": 2, "resurrections_blocked": 0}, T0)
    ledger.add_counts({"http_429": 3, "signature_failures": 1}, at(1))

    assert ledger.counts() == {"http_429": 5, "signature_failures": 1}


def test_subjects_are_found_by_email_whatever_its_case_until_erased(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, email="Anna@Example.se", contact_ids=["101"])
    ledger.remember_subject("C-2", T0, email="bo@example.se")

    assert ledger.subjects_for_email("anna@example.SE") == ["C-1"]
    ledger.mark_erased("C-1", [], at(1))
    assert ledger.subjects_for_email("anna@example.se") == []


def test_a_suppression_added_without_an_erasure_is_active_and_leaves_subjects_alone(
    ledger: SqlLedger,
) -> None:
    ledger.remember_subject("C-1", T0, email="anna@example.se", contact_ids=["101"])
    ledger.add_suppression([("contact", "digest-202")], T0)

    assert ledger.is_suppressed("digest-202")
    assert not ledger.is_suppressed("digest-101")
    record = ledger.subject("C-1")
    assert record is not None
    assert record.contact_ids == ("101",)
    assert record.erasure is None


def test_failed_webhooks_keep_their_payload_until_replayed(ledger: SqlLedger) -> None:
    ledger.store_webhooks([hook(1), hook(2)], T0, TTL)
    ledger.claim_webhooks("w1", 10, at(1), timedelta(seconds=30))

    assert ledger.fail_webhooks([hook(1)[0]], at(2)) == 1
    assert ledger.finish_webhooks([hook(2)[0]], at(2)) == 1
    assert ledger.webhook_states() == {"done": 1, "failed": 1}
    assert ledger.claim_webhooks("w2", 10, at(100), timedelta(seconds=30)) == []
    ledger.purge_receipts(T0 + TTL + TTL)  # failed rows are never purged
    assert ledger.webhook_states() == {"failed": 1}

    assert ledger.replay_webhooks(counted(AuditAction.WEBHOOKS_REPLAYED)) == 1
    assert ledger.claim_webhooks("w2", 10, at(101), timedelta(seconds=30)) == [hook(1)]


def failed_inbox(ledger: SqlLedger, *event_ids: int) -> None:
    """Webhook events stored, leased and set aside as failed."""
    ledger.store_webhooks([hook(n) for n in event_ids], T0, TTL)
    ledger.claim_webhooks("w1", 10, at(1), timedelta(seconds=30))
    ledger.fail_webhooks([hook(n)[0] for n in event_ids], at(2))


def test_an_inbox_replay_writes_its_audit_row_in_the_same_call(ledger: SqlLedger) -> None:
    failed_inbox(ledger, 1, 2)

    assert ledger.replay_webhooks(counted(AuditAction.WEBHOOKS_REPLAYED)) == 2

    assert ledger.webhook_states() == {"pending": 2}
    rows = list(ledger.audit_rows())
    assert [(r.entry.action, r.entry.outcome) for r in rows] == [("webhooks_replayed", "2 changed")]
    assert ledger.verify_audit().ok


def test_an_inbox_replay_whose_audit_row_fails_replays_nothing(ledger: SqlLedger) -> None:
    failed_inbox(ledger, 1, 2)

    with pytest.raises(RuntimeError):
        ledger.replay_webhooks(refused)

    assert ledger.webhook_states() == {"failed": 2}
    assert list(ledger.audit_rows()) == []


def test_an_inbox_skip_writes_its_audit_row_in_the_same_call(ledger: SqlLedger) -> None:
    failed_inbox(ledger, 1, 2)

    skipped = ledger.skip_webhooks([hook(1)[0]], at(3), counted(AuditAction.WEBHOOKS_SKIPPED))

    assert skipped == 1
    assert ledger.webhook_states() == {"failed": 1, "skipped": 1}
    rows = list(ledger.audit_rows())
    assert [(r.entry.action, r.entry.outcome) for r in rows] == [("webhooks_skipped", "1 changed")]

    with pytest.raises(RuntimeError):
        ledger.skip_webhooks([hook(2)[0]], at(4), refused)
    assert ledger.webhook_states() == {"failed": 1, "skipped": 1}
    assert len(list(ledger.audit_rows())) == 1


def test_an_erased_subject_is_never_given_an_email_or_contact_again(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, email="anna@example.se", contact_ids=["101"])
    ledger.mark_erased("C-1", [], at(1))

    ledger.remember_subject("C-1", at(2), email="anna@example.se", contact_ids=["202"])

    record = ledger.subject("C-1")
    assert record is not None
    assert record.erasure == "erased"
    assert record.email is None
    assert record.contact_ids == ()
    assert ledger.subjects_for_contact("202") == []


def test_a_batch_of_contacts_reads_their_subjects_in_one_call(ledger: SqlLedger) -> None:
    ledger.remember_subject("C-1", T0, contact_ids=["101", "102"])
    ledger.remember_subject("C-2", T0, contact_ids=["102"])

    assert ledger.subjects_for_contacts(["101", "102", "103", "101"]) == {
        "101": ["C-1"],
        "102": ["C-1", "C-2"],
    }
    assert ledger.subjects_for_contacts([]) == {}


def test_a_batch_of_values_reads_which_hubsync_wrote_in_one_call(ledger: SqlLedger) -> None:
    ledger.remember_writes([("101", "firstname", "d1"), ("102", "lastname", "d2")], T0, TTL)
    asked = [("101", "firstname", "d1"), ("101", "firstname", "other"), ("102", "lastname", "d2")]

    assert ledger.written_recently(asked, at(1)) == {
        ("101", "firstname", "d1"),
        ("102", "lastname", "d2"),
    }
    assert ledger.written_recently(asked, T0 + TTL) == set()
