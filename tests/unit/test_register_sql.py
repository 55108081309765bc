"""SqlRegister beyond the contract: settings it checks, its schema, and its database errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import structlog

from connectors.register.sql import SqlRegister
from sync.errors import PermanentError, RegisterNotSetUp, RetryableError
from sync.model import EventKind
from tests.integration.register.events import register_side, stored


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'register.db'}"


@pytest.mark.parametrize(
    "name", ['customers"; DROP TABLE x; --', "crm.customers", "", "1st", "a" * 64, "kund-tabell"]
)
def test_table_names_from_settings_must_be_plain_identifiers(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"register\.customers_table"):
        SqlRegister(sqlite_url(tmp_path), customers_table=name)


def test_an_unknown_database_url_is_refused() -> None:
    with pytest.raises(ValueError, match=r"register\.url"):
        SqlRegister("mysql://register")


def test_tables_named_in_settings_are_the_ones_created_and_used(tmp_path: Path) -> None:
    register = SqlRegister(
        sqlite_url(tmp_path), customers_table="kunder", outbox_table="dsr_utkorg"
    )
    register.create_schema()
    register.create_schema()  # idempotent
    register.add_customer("C-1", email="anna@example.se")
    register.record_change(register_side("reg-1", EventKind.RESTRICTION, "C-1"))
    register.close()

    with sqlite3.connect(tmp_path / "register.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"kunder", "dsr_utkorg", "dsr_notices"} <= tables
        assert conn.execute("SELECT restricted FROM kunder").fetchone() == (1,)
        assert conn.execute("SELECT kind FROM dsr_utkorg").fetchone() == ("restriction",)


def test_an_erasure_scrubs_the_subjects_delivered_outbox_payloads_but_not_waiting_ones(
    tmp_path: Path,
) -> None:
    register = SqlRegister(sqlite_url(tmp_path), on_hubspot_erasure="apply")
    register.create_schema()
    register.add_customer("C-1", email="anna@example.se")
    delivered = register.record_change(
        register_side("reg-1", EventKind.RECTIFICATION, "C-1", changes={"phone": "+4670"})
    )
    register.acknowledge([delivered])
    register.record_change(
        register_side("reg-2", EventKind.RECTIFICATION, "C-1", changes={"company": "Berg AB"})
    )

    assert register.apply([stored(1, EventKind.ERASURE, "C-1")]) == {1: None}
    register.close()

    with sqlite3.connect(tmp_path / "register.db") as conn:
        payloads = dict(conn.execute("SELECT event_id, payload FROM dsr_outbox").fetchall())
    assert json.loads(payloads["reg-1"]) == {}
    assert json.loads(payloads["reg-2"])["changes"] == {"company": "Berg AB"}


def test_missing_tables_are_register_not_set_up_naming_the_table_and_quoting_nothing(
    tmp_path: Path,
) -> None:
    sqlite3.connect(tmp_path / "register.db").close()  # a database without tables
    register = SqlRegister(sqlite_url(tmp_path))

    outcomes = register.apply(
        [stored(1, EventKind.RECTIFICATION, "C-1", changes={"email": "anna@example.se"})]
    )
    with pytest.raises(RegisterNotSetUp) as caught:
        register.record("C-1")

    assert isinstance(outcomes[1], RegisterNotSetUp)
    assert outcomes[1].code == "register_not_set_up"
    assert "table customers is missing ([register] customers_table)" in str(caught.value)
    assert "anna" not in str(outcomes[1])


def test_a_missing_column_is_still_a_permanent_error_that_quotes_nothing(tmp_path: Path) -> None:
    register = SqlRegister(sqlite_url(tmp_path))
    register.create_schema()
    with sqlite3.connect(tmp_path / "register.db") as conn:  # the register's admin broke it
        conn.execute("ALTER TABLE customers RENAME COLUMN email TO mail")

    with pytest.raises(PermanentError) as caught:
        register.subjects_for_email("anna@example.se")
    register.close()

    assert caught.value.code == "register_db_error"
    assert not isinstance(caught.value, RetryableError)
    assert "anna" not in str(caught.value)


def test_a_locked_sqlite_database_is_retryable(tmp_path: Path) -> None:
    register = SqlRegister(sqlite_url(tmp_path), timeout_s=0.05)
    register.create_schema()
    register.add_customer("C-1", email="anna@example.se")
    blocker = sqlite3.connect(tmp_path / "register.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with structlog.testing.capture_logs() as logs:
            outcomes = register.apply([stored(1, EventKind.MARKETING_OPT_OUT, "C-1")])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        register.close()

    assert isinstance(outcomes[1], RetryableError)
    assert outcomes[1].code == "register_db_busy"
    assert logs == [
        {
            "event": "register_event_not_applied",
            "event_id": "hs-1",
            "kind": "marketing_opt_out",
            "error_code": "register_db_busy",
            "log_level": "info",
        }
    ]


def test_an_unreachable_postgres_register_is_retryable_and_named_unreachable() -> None:
    register = SqlRegister("postgresql://nobody@127.0.0.1:1/none", timeout_s=1)

    with pytest.raises(RegisterNotSetUp) as caught:
        register.record("C-1")
    readiness = register.readiness()

    assert isinstance(caught.value, RetryableError)
    assert caught.value.code == "register_unreachable"
    assert "nobody" not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)
    assert readiness.problems == (
        "no connection to the database named by [register] url (OperationalError)",
    )


def test_an_outbox_row_that_is_not_an_event_is_left_waiting_and_logged_by_id(
    tmp_path: Path,
) -> None:
    register = SqlRegister(sqlite_url(tmp_path))
    register.create_schema()
    register.record_change(register_side("reg-1", EventKind.MARKETING_OPT_OUT, "C-9"))
    with sqlite3.connect(tmp_path / "register.db") as conn:
        conn.execute(
            "INSERT INTO dsr_outbox (event_id, kind, subject_id, payload, created_at) "
            "VALUES ('reg-2', 'hug', 'C-9', '{}', '2026-11-27T10:00:00+00:00')"
        )
    register.record_change(register_side("reg-3", EventKind.RESTRICTION, "C-9"))

    with structlog.testing.capture_logs() as logs:
        polled = register.poll_outbox(10)
    register.close()

    assert [env.event_id for _, env in polled] == ["reg-1", "reg-3"]
    assert logs[0]["event"] == "outbox_row_invalid"
    assert logs[0]["outbox_id"] == "2"
