"""What the ledger does with input it cannot store, the same on SQLite and PostgreSQL.

Validation refuses such input first (``sync.rules.input``); these are the
ledger's own guarantees should anything get past it: a value either backend
cannot store (NUL, a lone surrogate) is ``UnstorableInput`` (never a
retryable ``LedgerError``), nothing of the batch is stored, no audit row is
written, and the message quotes no value. Personal data inside the payload
is JSON-escaped, so any character survives the round trip.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sync.audit import AuditAction
from sync.errors import UnstorableInput
from sync.ledger.sql import SqlLedger
from sync.model import SetAsideItem
from tests.conftest import T0
from tests.contract.ledger_helpers import audit_of, counted, event

TTL = timedelta(days=7)
UNSTORABLE = ["C-\x00-1", "C-\ud800", "\udfff", "C-1\x00"]


@pytest.mark.parametrize("bad", UNSTORABLE)
@pytest.mark.parametrize("field", ["event_id", "subject_id"])
def test_an_id_neither_backend_can_store_is_refused_and_nothing_of_the_batch_is_stored(
    ledger: SqlLedger, field: str, bad: str
) -> None:
    good = event("reg-1")
    hostile = event(bad, "C-2") if field == "event_id" else event("reg-2", bad)

    for audit in (None, audit_of("event_submitted")):
        with pytest.raises(UnstorableInput) as caught:
            ledger.submit([good, hostile], T0, audit)
        assert bad not in str(caught.value)
        assert "ud800" not in str(caught.value).lower()

    assert ledger.list_events(limit=None) == []
    assert list(ledger.audit_rows()) == []


@pytest.mark.parametrize("bad", UNSTORABLE)
def test_finding_an_id_that_cannot_be_stored_is_refused_not_a_retryable_error(
    ledger: SqlLedger, bad: str
) -> None:
    with pytest.raises(UnstorableInput):
        ledger.find(bad)


def test_any_character_in_the_payload_survives_the_round_trip(ledger: SqlLedger) -> None:
    value = "Anna\x00\ud800\u202e\n"
    ledger.submit([event("reg-1", changes={"first_name": value})], T0)

    [stored] = ledger.find("reg-1")
    assert stored.envelope().changes == {"first_name": value}


def aside(n: int, problem: str = "eventId: must be a non-negative 64-bit integer") -> SetAsideItem:
    item: Any = {"eventId": f"x{n}", "propertyValue": "Secret\x00\ud800"}
    return SetAsideItem(f"malformed:{n:040d}", item, problem)


def test_set_aside_items_are_stored_failed_with_their_problem_and_their_raw_payload(
    ledger: SqlLedger,
) -> None:
    good = ("62515:1:1", {"eventId": 1, "propertyValue": "Anna"})

    fresh = ledger.store_webhooks([good], T0, TTL, [aside(1), aside(2, "must be a JSON object")])

    assert fresh == [True, True, True]
    assert ledger.webhook_states() == {"pending": 1, "failed": 2}
    rows = ledger.set_aside_webhooks()
    assert [(r.receipt_key, r.received_at, r.problem) for r in rows] == [
        (aside(1).receipt_key, T0, aside(1).problem),
        (aside(2).receipt_key, T0, "must be a JSON object"),
    ]
    assert ledger.store_webhooks([good], T0, TTL, [aside(1)]) == [False, False]


def test_an_operator_skips_a_set_aside_item_and_its_payload_is_scrubbed(
    ledger: SqlLedger,
) -> None:
    ledger.store_webhooks([], T0, TTL, [aside(1), aside(2)])

    skip = counted(AuditAction.WEBHOOKS_SKIPPED)
    assert ledger.skip_webhooks([aside(1).receipt_key, "no-such-key"], T0, skip) == 1
    assert ledger.skip_webhooks([aside(1).receipt_key], T0, skip) == 0

    assert ledger.webhook_states() == {"failed": 1, "skipped": 1}
    assert [r.receipt_key for r in ledger.set_aside_webhooks()] == [aside(2).receipt_key]
    with ledger._read() as cur:
        payloads = cur.execute(
            "SELECT receipt_key, payload IS NULL FROM hubspot_inbox ORDER BY seq"
        ).fetchall()
    assert [tuple(p) for p in payloads] == [
        (aside(1).receipt_key, True),
        (aside(2).receipt_key, False),
    ]
    assert ledger.purge_receipts(T0 + TTL) == 1  # the skipped row expires like a done one
