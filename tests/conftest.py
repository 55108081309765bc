"""Shared fixtures: ledgers on both backends, a fixed clock, hermetic environment.

PostgreSQL tests read ``HUBSYNC_TEST_POSTGRES_URL``. Without it (or with the
server down) they are skipped locally; with ``CI=true`` that is a failure,
so CI cannot pass by quietly skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import structlog
from hypothesis import HealthCheck, settings

from sync.clock import FixedClock
from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

# Property-based tests: a bounded run in `make test`; `--hypothesis-profile=long`
# (the hypothesis pytest option) for at least 1,000 examples per test.
_FUZZ = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("default", max_examples=150, **_FUZZ)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=1000, **_FUZZ)  # type: ignore[arg-type]
settings.load_profile("default")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HUBSYNC_* setting from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("HUBSYNC_") and name != "HUBSYNC_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults.

    A command run in-process configures logging for the whole process (the
    CLI's error path sets the level to warning); without this, a later test
    capturing info-level events would see none, depending on test order.
    """
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def clock() -> FixedClock:
    """A clock fixed at T0 that tests move by hand."""
    return FixedClock(T0)


def postgres_url_or_skip() -> str:
    """The test PostgreSQL URL, after checking the server answers."""
    url = os.environ.get("HUBSYNC_TEST_POSTGRES_URL")
    if not url:
        if IN_CI:
            pytest.fail("CI=true but HUBSYNC_TEST_POSTGRES_URL is not set")
        pytest.skip("HUBSYNC_TEST_POSTGRES_URL is not set")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        if IN_CI:
            pytest.fail(f"CI=true and PostgreSQL is unreachable: {type(exc).__name__}")
        pytest.skip(f"PostgreSQL is unreachable: {type(exc).__name__}")
    return url


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(url, schema): a fresh schema in the test database, dropped afterwards."""
    url = postgres_url_or_skip()
    schema = f"hubsync_test_{uuid.uuid4().hex[:12]}"
    yield url, schema
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def make_ledger(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> SqlLedger:
    """A fresh, opened ledger of the named backend."""
    ledger: SqlLedger
    if backend == "sqlite":
        ledger = SqliteLedger(tmp_path / "ledger.db")
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        ledger = PostgresLedger(url, schema=schema)
    ledger.open(T0)
    return ledger


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlLedger]:
    """The contract-suite fixture: every test using it runs on both backends."""
    built = make_ledger(request.param, tmp_path, request)
    yield built
    built.close()


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """The [ledger] section of a fresh ledger on each backend."""
    if request.param == "sqlite":
        return {"url": f"sqlite:///{tmp_path / 'ledger.db'}"}
    url, schema = request.getfixturevalue("postgres_schema")
    return {"url": url, "schema": schema}
