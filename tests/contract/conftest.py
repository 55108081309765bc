"""Fixtures of the contract suite beyond the shared ``ledger``: a bare target per backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.ledger.sql import SqlLedger
from tests.conftest import T0
from tests.contract.rawdb import Target


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Where a ledger can be built on each backend, with nothing in it yet.

    The PostgreSQL half uses the shared ``postgres_schema`` fixture, so it is
    skipped (or fails in CI) exactly like the ``ledger`` fixture's.
    """
    if request.param == "sqlite":
        return Target("sqlite", sqlite_path=tmp_path / "ledger.db")
    url, schema = request.getfixturevalue("postgres_schema")
    return Target("postgres", postgres_url=url, postgres_schema=schema)


@pytest.fixture
def target_ledger(target: Target) -> Iterator[SqlLedger]:
    """A fresh ledger opened at ``target`` (for tests that also hand the target to processes)."""
    ledger = target.ledger()
    ledger.open(T0)
    yield ledger
    ledger.close()
