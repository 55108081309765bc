"""The audit chain: appended in the caller's transaction, verified, on both backends.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest

from sync.audit import chain_hash
from sync.ledger.sql import SqlLedger
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    at,
    entry,
)
from tests.contract.rawdb import raw_db, target_of

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
