"""Raw access to a ledger's database, behind the ledger's back.

The contract suite uses it for what an operator or an attacker could do by
hand (change or delete an audit row) and to build a database at an old
schema version. It speaks plain sqlite3 or psycopg, never the ledger's code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger


@dataclass(frozen=True, slots=True)
class Target:
    """Where a ledger lives: a SQLite file, or a PostgreSQL database and schema."""

    backend: str
    sqlite_path: Path | None = None
    postgres_url: str | None = None
    postgres_schema: str | None = None

    @property
    def url(self) -> str:
        """The ``[ledger] url`` naming this target."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        assert self.postgres_url is not None
        return self.postgres_url

    def ledger(self, *, max_attempts: int = 8) -> SqlLedger:
        """A ledger object for the target, not yet opened."""
        if self.backend == "sqlite":
            assert self.sqlite_path is not None
            return SqliteLedger(self.sqlite_path, max_attempts=max_attempts)
        assert self.postgres_url is not None
        return PostgresLedger(
            self.postgres_url, schema=self.postgres_schema, max_attempts=max_attempts
        )

    def worker_args(self) -> list[str]:
        """Command-line arguments that name this target to the helper scripts."""
        return ["--url", self.url, "--schema", self.postgres_schema or ""]


def target_of(ledger: SqlLedger) -> Target:
    """The target an existing ledger object points at."""
    if isinstance(ledger, SqliteLedger):
        return Target("sqlite", sqlite_path=Path(ledger.path))
    if isinstance(ledger, PostgresLedger):
        return Target("postgres", postgres_url=ledger.url, postgres_schema=ledger.schema)
    raise TypeError(f"unknown ledger {type(ledger).__name__}")


class RawDb:
    """One autocommit connection; ``?`` placeholders on both backends."""

    def __init__(self, conn: Any, placeholder: str) -> None:
        self._conn = conn
        self._placeholder = placeholder

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without rows)."""
        cur = self._conn.execute(sql.replace("?", self._placeholder), tuple(params))
        if cur.description is None:
            return []
        return [tuple(row) for row in cur.fetchall()]


@contextmanager
def raw_db(target: Target) -> Iterator[RawDb]:
    """A raw connection to the target's database (creating the PostgreSQL schema if needed)."""
    if target.backend == "sqlite":
        assert target.sqlite_path is not None
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        lite = sqlite3.connect(target.sqlite_path, isolation_level=None, timeout=30)
        try:
            yield RawDb(lite, "?")
        finally:
            lite.close()
        return
    assert target.postgres_url is not None
    assert target.postgres_schema is not None
    with psycopg.connect(target.postgres_url, autocommit=True) as pg:
        schema = pgsql.Identifier(target.postgres_schema)
        pg.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        pg.execute(pgsql.SQL("SET search_path TO {}").format(schema))
        yield RawDb(pg, "%s")
