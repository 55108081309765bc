"""The SQLite ledger: the default for one process (and safe for several on one host).

WAL journal with full fsync on commit, so an acknowledged event survives a
power cut; every write is a short ``BEGIN IMMEDIATE`` transaction, which
serialises claims and audit appends across processes sharing the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from sync.errors import LedgerError, UnstorableInput
from sync.ledger.db import Cursor
from sync.ledger.sql import SqlLedger

BUSY_TIMEOUT_MS = 30_000  # how long a writer waits for another process's transaction


class SqliteLedger(SqlLedger):
    """A ledger in one SQLite file (``sqlite:///path``)."""

    ddl_types: ClassVar[dict[str, str]] = {
        "serial": "INTEGER",
        "bigint": "INTEGER",
        "float": "REAL",
    }

    def __init__(self, path: str | Path, *, max_attempts: int = 8) -> None:
        super().__init__(max_attempts=max_attempts)
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            self._conn = conn
        return self._conn

    @contextmanager
    def _tx(self, *locks: int) -> Iterator[Cursor]:
        # BEGIN IMMEDIATE takes the database's single write lock: every named
        # serialisation point is held by every write transaction.
        with self._lock, _translated():
            cur = self._connection().cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        with self._lock, _translated():
            cur = self._connection().cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                cur.execute("COMMIT")

    def _table_exists(self, cur: Cursor, name: str) -> bool:
        row = cur.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None


@contextmanager
def _translated() -> Iterator[None]:
    """sqlite3 errors become LedgerError, named by SQLite's error code only.

    A value SQLite cannot take (a lone surrogate, an integer past 64 bits) is
    ``UnstorableInput``: the same input fails on PostgreSQL too.
    """
    try:
        yield
    except (UnicodeError, OverflowError, sqlite3.DataError) as exc:
        raise UnstorableInput(
            f"the ledger cannot store a value of this input ({type(exc).__name__})"
        ) from exc
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", None) or "unknown"
        raise LedgerError(f"SQLite ledger error {type(exc).__name__} ({name})") from exc
    except OSError as exc:  # the ledger's folder cannot be created
        raise LedgerError(f"cannot create the SQLite ledger's folder ({exc.strerror})") from exc
