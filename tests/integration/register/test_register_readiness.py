"""SqlRegister says whether it is set up, and names what is missing, on SQLite and PostgreSQL.

A register without its tables is the first thing a new user meets: the
readiness probe names each missing table with the setting that names it,
and an operation that meets a missing table raises ``RegisterNotSetUp``
(retryable, ``register_not_set_up``) naming it the same way, never quoting
a value.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from connectors.register.build import register_from_settings
from connectors.register.sql import SqlRegister
from sync.errors import RegisterNotSetUp, RetryableError
from sync.model import EventKind, RegisterReadiness
from sync.settings import RegisterSettings
from tests.integration.register.events import register_side, stored

EMAIL = "anna.readiness@example.se"

Drop = Callable[[str], None]


class Backend:
    """A register on one backend, and a way to drop one of its tables behind its back."""

    def __init__(self, register: SqlRegister, drop: Drop, where: str = "") -> None:
        self.register = register
        self.drop = drop
        self.where = where  # how the problems say where the tables are (a PostgreSQL schema)

    def missing(self, table: str, setting: str) -> str:
        """The problem readiness reports for a missing table."""
        return f"table {table} is missing{self.where} ([register] {setting})"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty database (the SQLite file exists, the PostgreSQL schema too) without tables."""
    if request.param == "sqlite":
        path = tmp_path / "register.db"
        sqlite3.connect(path).close()  # an empty database file: no tables

        def drop_sqlite(table: str) -> None:
            with sqlite3.connect(path) as conn:
                conn.execute(f'DROP TABLE "{table}"')

        register = SqlRegister(f"sqlite:///{path}")
        yield Backend(register, drop_sqlite)
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')

        def drop_postgres(table: str) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f'DROP TABLE "{schema}"."{table}"')

        register = SqlRegister(url, schema=schema)
        yield Backend(register, drop_postgres, f" in schema {schema}")
    register.close()


def test_a_register_without_tables_names_each_missing_table_with_its_setting(
    backend: Backend,
) -> None:
    readiness = backend.register.readiness()

    assert readiness.ready is False
    assert readiness.problems == (
        backend.missing("customers", "customers_table"),
        backend.missing("dsr_outbox", "outbox_table"),
        backend.missing("dsr_notices", "notices_table"),
    )


def test_one_missing_table_is_named_alone_and_the_register_is_ready_once_it_is_back(
    backend: Backend,
) -> None:
    backend.register.create_schema()
    assert backend.register.readiness() == RegisterReadiness()

    backend.drop("dsr_outbox")

    assert backend.register.readiness().problems == (backend.missing("dsr_outbox", "outbox_table"),)
    backend.register.create_schema()
    assert backend.register.readiness().ready is True


def test_an_apply_on_a_missing_table_is_register_not_set_up_naming_it_and_quoting_nothing(
    backend: Backend,
) -> None:
    backend.register.create_schema()
    backend.drop("customers")

    outcomes = backend.register.apply(
        [stored(1, EventKind.RECTIFICATION, "C-1", email=EMAIL, changes={"email": EMAIL})]
    )

    error = outcomes[1]
    assert isinstance(error, RegisterNotSetUp)
    assert isinstance(error, RetryableError)  # the events wait for the operator's fix
    assert error.code == "register_not_set_up"
    assert (error.retry_after_s or 0) >= 60
    assert str(error) == "the register is not set up: " + backend.missing(
        "customers", "customers_table"
    )
    assert "anna" not in str(error)
    assert "OperationalError" not in str(error)


def test_record_change_poll_and_record_on_missing_tables_name_the_tables(
    backend: Backend,
) -> None:
    backend.register.create_schema()
    backend.drop("dsr_outbox")

    with pytest.raises(RegisterNotSetUp) as recording:
        backend.register.record_change(register_side("reg-1", EventKind.MARKETING_OPT_OUT, "C-1"))
    with pytest.raises(RegisterNotSetUp) as polling:
        backend.register.poll_outbox(10)
    assert backend.register.record("C-1") is None  # the customers table is there

    for caught in (recording, polling):
        assert caught.value.code == "register_not_set_up"
        assert str(caught.value) == "the register is not set up: " + backend.missing(
            "dsr_outbox", "outbox_table"
        )


def test_table_names_come_from_the_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    settings = RegisterSettings(
        url=url, customers_table="kunder", outbox_table="kund_utkorg", notices_table="meddelanden"
    )
    register = register_from_settings(settings)
    assert isinstance(register, SqlRegister)
    try:
        SqlRegister(url, customers_table="kunder").create_schema()

        assert register.readiness().problems == (
            "table kund_utkorg is missing ([register] outbox_table)",
            "table meddelanden is missing ([register] notices_table)",
        )
        register.create_schema()
        assert register.readiness().ready is True
    finally:
        register.close()


def test_a_missing_sqlite_file_is_one_problem_and_no_probe_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "not-yet" / "register.db"
    register = SqlRegister(f"sqlite:///{path}")
    try:
        readiness = register.readiness()
        with pytest.raises(RegisterNotSetUp) as caught:
            register.poll_outbox(10)

        assert readiness.problems == ("the SQLite file named by [register] url does not exist",)
        assert caught.value.code == "register_not_set_up"
        assert str(tmp_path) not in str(caught.value)
        assert not path.exists()
        assert not path.parent.exists()

        register.create_schema()  # the one call that creates the file
        assert register.readiness().ready is True
    finally:
        register.close()
