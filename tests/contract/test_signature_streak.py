"""Refused webhook signatures in a row: one streak in the ledger that every server shares."""

from __future__ import annotations

from datetime import timedelta

from sync.ledger.sql import SqlLedger
from sync.model import SetAsideItem
from sync.rules.signature_streak import ALARM_WINDOW, signature_alarm
from tests.contract.ledger_helpers import at
from tests.contract.rawdb import Target, target_of


def test_refusals_add_up_and_a_stored_batch_ends_the_streak(ledger: SqlLedger) -> None:
    assert ledger.signature_streak().refusals == 0

    ledger.record_signature_refusal("signature_mismatch", at(1), 3)
    streak = ledger.record_signature_refusal("stale_timestamp", at(2), 3)

    assert (streak.refusals, streak.first_at, streak.last_at) == (2, at(1), at(2))
    assert (streak.last_reason, streak.threshold) == ("stale_timestamp", 3)
    assert ledger.signature_streak() == streak

    # A signed batch (even an empty one, or one set aside whole) is a good signature.
    aside = SetAsideItem("malformed:x", {"not": "an event"}, "body: must be a JSON array")
    ledger.store_webhooks([], at(3), timedelta(days=1), [aside])
    assert ledger.signature_streak().refusals == 0
    assert ledger.record_signature_refusal("signature_mismatch", at(4), 3).first_at == at(4)


def test_every_server_on_the_ledger_adds_to_the_same_streak(ledger: SqlLedger) -> None:
    other = target_of(ledger).ledger()
    other.open(at(0))
    try:
        ledger.record_signature_refusal("signature_mismatch", at(1), 2)
        assert other.record_signature_refusal("signature_mismatch", at(2), 2).refusals == 2
        assert signature_alarm(ledger.signature_streak(), at(3)) is not None
    finally:
        other.close()


def test_the_alarm_needs_the_threshold_and_lapses_after_the_window(target: Target) -> None:
    ledger = target.ledger()
    ledger.open(at(0))
    try:
        for n in range(1, 5):
            ledger.record_signature_refusal("signature_mismatch", at(n), 5)
        assert signature_alarm(ledger.signature_streak(), at(5)) is None  # 4 of 5
        streak = ledger.record_signature_refusal("signature_mismatch", at(5), 5)
        alarm = signature_alarm(streak, at(6))
        assert alarm is not None
        assert "5 webhook requests in a row" in alarm
        assert "signature_mismatch" in alarm
        later = at(5) + ALARM_WINDOW + timedelta(seconds=1)
        assert signature_alarm(streak, later) is None  # out of a balancer: ready again
    finally:
        ledger.close()
