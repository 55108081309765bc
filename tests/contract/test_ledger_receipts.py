"""Webhook receipts (redeliveries remembered, then forgotten), on both backends.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

from datetime import timedelta

from sync.ledger.sql import SqlLedger
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    at,
)

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
