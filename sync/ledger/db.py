"""The ledger's database plumbing, shared by every part: cursor, locks, times, statements.

``SqlBase`` is what a backend (``sqlite.py``, ``postgres.py``) completes: a
connection, its transactions and locking rules, its column types. Every
query is written once with ``?`` placeholders; ``_exec`` adapts them. Times
are stored as Unix seconds and always passed in (``now``), never read here.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar

from sync.errors import (
    UnstorableInput,
)

T = TypeVar("T")


INSERT_CHUNK = 100


UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


class Cursor(Protocol):
    """The part of a DB-API cursor the ledger uses (sqlite3 and psycopg both fit)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, sql: Any, params: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Lock:
    """Names of the serialisation points a backend may need beyond row locks."""

    INTAKE = 1  # submits: erasure supersession must see every pending event
    CLAIM = 2  # claims: at most one event in flight per subject
    AUDIT = 3  # audit appends: one chain, no gaps
    RATE = 4  # HubSpot's rolling window: counting its calls and adding one are one step


def ts(moment: datetime) -> float:
    """A timezone-aware datetime as stored."""
    return moment.timestamp()


def dt(value: float | None) -> datetime | None:
    """A stored time back as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def check_storable(texts: Iterable[str]) -> None:
    """``UnstorableInput`` unless both backends can store every text as it is.

    PostgreSQL refuses NUL in text and neither backend can encode a lone
    surrogate; SQLite would store NUL, so it is refused here for both and
    the same input gets the same answer whatever the backend.
    """
    for text in texts:
        if UNSTORABLE_TEXT.search(text):
            raise UnstorableInput("the ledger cannot store a value of this input (its characters)")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqlBase(ABC):
    """A ledger's connection and statements; the parts (``events``, ``inbox``...) build on it.

    One instance serialises its own use with a lock, so a server thread and
    a worker thread may share it; several processes share the database.
    """

    placeholder = "?"

    ddl_types: ClassVar[dict[str, str]]

    claim_lock_suffix = ""

    def __init__(self, *, max_attempts: int = 8) -> None:
        self.max_attempts = max_attempts
        self._lock = threading.RLock()
        self._conn: Any = None  # the backend's DB-API connection, opened on first use
        self._sql_cache: dict[str, str] = {}

    @abstractmethod
    def _tx(self, *locks: int) -> AbstractContextManager[Cursor]:
        """A write transaction holding the named serialisation points."""

    @abstractmethod
    def _read(self) -> AbstractContextManager[Cursor]:
        """A read-only snapshot."""

    @abstractmethod
    def _table_exists(self, cur: Cursor, name: str) -> bool:
        """Whether a table exists."""

    def close(self) -> None:
        """Close the connection (a later call reopens it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _q(self, sql: str) -> str:
        cached = self._sql_cache.get(sql)
        if cached is None:
            cached = sql.replace("?", self.placeholder) if self.placeholder != "?" else sql
            self._sql_cache[sql] = cached
        return cached

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> Cursor:
        cur.execute(self._q(sql), tuple(params))
        return cur

    def _lease_rows(
        self,
        cur: Cursor,
        table: str,
        found: Sequence[Sequence[Any]],
        assignments: str,
        params: Sequence[Any],
        returning: str,
        condition: str = "TRUE",
        condition_params: Sequence[Any] = (),
    ) -> list[Any]:
        """The second half of a claim: ``UPDATE table SET assignments`` on the rows ``found``
        (their ``seq`` first) still matching ``condition``, ``RETURNING`` them.

        A claim selects candidate rows, then leases them in the same
        transaction (events and the webhook inbox both do).
        """
        seqs = [int(r[0]) for r in found]
        if not seqs:
            return []
        marks = ", ".join("?" for _ in seqs)
        return self._exec(
            cur,
            f"UPDATE {table} SET {assignments} WHERE seq IN ({marks}) AND {condition} "
            f"RETURNING {returning}",
            (*params, *seqs, *condition_params),
        ).fetchall()
