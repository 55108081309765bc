"""The schema: a fresh ledger, migrations from older versions, refusals, both backends.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.errors import SchemaOutdated
from sync.ledger.schema import LATEST_VERSION, MIGRATIONS, SCHEMA_VERSION_TABLE
from sync.ledger.sql import SqlLedger
from sync.model import (
    EventState,
)
from sync.rules.rate_window import RollingWindow
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    LEASE,
    at,
    complete,
    event,
    get,
    ids,
    submit,
)
from tests.contract.rawdb import Target, raw_db, target_of

# -- schema --------------------------------------------------------------------


def test_a_fresh_ledger_is_at_the_latest_schema_version(ledger: SqlLedger) -> None:
    assert ledger.schema_version() == LATEST_VERSION == 10


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
        complete(ledger, "worker-a", [held.seq], at(6))
        assert get(ledger, held.seq).state is EventState.DONE
    finally:
        ledger.close()


def test_upgrade_to_7_drops_the_bucket_the_subscription_check_used_as_a_lock(
    target: Target,
) -> None:
    types = target.ledger().ddl_types
    with raw_db(target) as db:
        db.execute(SCHEMA_VERSION_TABLE.format(**types))
        for version in range(1, 7):
            for statement in MIGRATIONS[version]:
                db.execute(statement.format(**types))
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, 0.0)
            )
        for name in ("subscription_check", "hubspot_10s"):
            db.execute(
                "INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (?, 0, 0)", (name,)
            )
    ledger = target.ledger()
    try:
        assert ledger.upgrade(at(1)) == (6, LATEST_VERSION)
        assert ledger.rate_bucket("subscription_check") is None
        assert ledger.rate_bucket("hubspot_10s") is not None
        assert ledger.take_turn("subscription_check", timedelta(minutes=15), at(2)) is True
    finally:
        ledger.close()


def test_open_refuses_a_ledger_from_a_newer_hubsync(ledger: SqlLedger) -> None:
    with raw_db(target_of(ledger)) as db:
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (99, 0.0))

    with pytest.raises(SchemaOutdated):
        ledger.open(at(1))


def test_upgrade_to_10_drops_the_burst_bucket_the_rolling_window_replaces(
    target: Target,
) -> None:
    types = target.ledger().ddl_types
    with raw_db(target) as db:
        db.execute(SCHEMA_VERSION_TABLE.format(**types))
        for version in range(1, 10):
            for statement in MIGRATIONS[version]:
                db.execute(statement.format(**types))
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, 0.0)
            )
        for name in ("hubspot:burst", "hubspot:daily"):
            db.execute(
                "INSERT INTO rate_buckets (name, tokens, updated_at) VALUES (?, 0, 0)", (name,)
            )
    ledger = target.ledger()
    try:
        assert ledger.upgrade(at(1)) == (9, LATEST_VERSION)
        assert ledger.rate_bucket("hubspot:burst") is None
        assert ledger.rate_bucket("hubspot:daily") is not None
        assert ledger.admit_call("hubspot:window", RollingWindow(limit=3, margin=0), at(2)).admitted
    finally:
        ledger.close()
