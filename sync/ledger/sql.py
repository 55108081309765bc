"""The ledger's logic in SQL, shared by the SQLite and PostgreSQL backends.

Every query is written once, with ``?`` placeholders; a backend supplies a
connection, its transaction and locking rules, and its column types. Time is
always passed in (``now``), never read here, so lease expiry and backoff are
deterministic in tests. Times are stored as Unix seconds.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar

from sync.audit import (
    GENESIS_HASH,
    AuditBuilder,
    AuditEntry,
    AuditRow,
    VerifyResult,
    chain_hash,
    verify_chain,
)
from sync.deadlines import MAX_EXTENSION_DAYS, due_at
from sync.errors import (
    EventNotFound,
    InvalidTransition,
    LeaseLost,
    SchemaOutdated,
    UnstorableInput,
)
from sync.ledger.schema import LATEST_VERSION, MIGRATIONS, SCHEMA_VERSION_TABLE
from sync.model import (
    Direction,
    ErrorClass,
    ErrorInfo,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    Outcome,
    SetAsideItem,
    SetAsideRow,
    StoredEvent,
    SubjectId,
    SubmitResult,
)
from sync.rules import erasure

T = TypeVar("T")

EVENT_COLUMNS = (
    "seq, event_id, origin, direction, kind, subject_id, state, attempts, occurred_at, "
    "received_at, due_at, next_attempt_at, field_names, payload, lease_owner, lease_until, "
    "last_error, note, finished_at, scrubbed_at, due_extended_days"
)
AUDIT_COLUMNS = (
    "seq, at, actor, action, direction, system, subject_pseudonym, kind, event_id, outcome, "
    "field_names, data_categories, http_status, correlation_id, attempt, detail, prev_hash, "
    "row_hash"
)

AUDIT_MARKS = "(" + ", ".join(["?"] * 18) + ")"

INSERT_EVENT = (
    "INSERT INTO events (origin, event_id, direction, kind, subject_id, state, attempts, "
    "occurred_at, received_at, due_at, next_attempt_at, field_names, payload, note, "
    "finished_at, scrubbed_at)"
)
INSERT_MARKS = "(?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_CONFLICT = " ON CONFLICT (origin, event_id) DO NOTHING"
INSERT_CHUNK = 100
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
ERASING_SUBJECTS = "SELECT subject_id FROM subjects WHERE erasure IS NOT NULL"


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


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """What the ledger knows of a subject: email, HubSpot ids, erasure state."""

    subject_id: SubjectId
    email: str | None
    contact_ids: tuple[str, ...]
    erasure: str | None  # None, "erasing" or "erased"


@dataclass(frozen=True, slots=True)
class RateBucket:
    """A shared rate bucket as stored: its tokens at ``updated_at``, and any block."""

    name: str
    tokens: float
    updated_at: datetime
    blocked_until: datetime | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Counts an operator watches (``hubsync status``)."""

    by_state: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    overdue: int
    due_within_7_days: int
    oldest_ready_age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as ``status --json`` prints it."""
        return {
            "by_state": self.by_state,
            "by_kind": self.by_kind,
            "overdue": self.overdue,
            "due_within_7_days": self.due_within_7_days,
            "oldest_ready_age_s": self.oldest_ready_age_s,
        }


def ts(moment: datetime) -> float:
    """A timezone-aware datetime as stored."""
    return moment.timestamp()


def dt(value: float | None) -> datetime | None:
    """A stored time back as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _event(row: Sequence[Any]) -> StoredEvent:
    (seq, event_id, origin, direction, kind, subject_id, state, attempts, occurred_at,
     received_at, due, next_attempt_at, field_names, payload, lease_owner, lease_until,
     last_error, note, finished_at, scrubbed_at, extended) = row  # fmt: skip
    return StoredEvent(
        seq=int(seq),
        event_id=event_id,
        origin=Origin(origin),
        direction=Direction(direction),
        kind=EventKind(kind),
        subject_id=SubjectId(subject_id),
        state=EventState(state),
        attempts=int(attempts),
        occurred_at=_dt(occurred_at),
        received_at=_dt(received_at),
        due_at=_dt(due),
        next_attempt_at=_dt(next_attempt_at),
        field_names=tuple(json.loads(field_names)),
        payload=json.loads(payload) if payload is not None else None,
        lease_owner=lease_owner,
        lease_until=dt(lease_until),
        last_error=ErrorInfo.from_dict(json.loads(last_error)) if last_error else None,
        note=note,
        finished_at=dt(finished_at),
        scrubbed_at=dt(scrubbed_at),
        due_extended_days=int(extended),
    )


def _event_row(new: NewEvent, refused: bool, now_s: float, due_s: float) -> tuple[Any, ...]:
    """The values of one new event, in INSERT_EVENT's order; a refused event keeps no payload."""
    env = new.envelope
    return (
        new.origin.value,
        env.event_id,
        new.direction.value,
        env.kind.value,
        env.subject_id,
        (EventState.SKIPPED if refused else EventState.PENDING).value,
        ts(env.occurred_at),
        now_s,
        due_s,
        now_s,
        json.dumps(list(env.field_names())),
        None if refused else json.dumps(env.payload()),
        erasure.REFUSED_NOTE if refused else None,
        now_s if refused else None,
        now_s if refused else None,
    )


def _audit_row(row: Sequence[Any]) -> AuditRow:
    (seq, at, actor, action, direction, system, pseudonym, kind, event_id, outcome,
     field_names, categories, http_status, correlation_id, attempt, detail, prev_hash,
     row_hash) = row  # fmt: skip
    entry = AuditEntry(
        at=_dt(at),
        actor=actor,
        action=action,
        direction=direction,
        system=system,
        subject_pseudonym=pseudonym,
        kind=kind,
        event_id=event_id,
        outcome=outcome,
        field_names=tuple(json.loads(field_names)),
        data_categories=tuple(json.loads(categories)),
        http_status=http_status,
        correlation_id=correlation_id,
        attempt=attempt,
        detail=detail,
    )
    return AuditRow(seq=int(seq), entry=entry, prev_hash=prev_hash, row_hash=row_hash)


class SqlLedger(ABC):
    """The durable queue and memory of each subject, over a DB-API connection.

    Subclasses provide the connection, the transaction (``_tx``), DDL types
    and placeholder style. One instance serialises its own use with a lock,
    so a server thread and a worker thread may share it; several processes
    share the database itself.
    """

    placeholder = "?"
    ddl_types: ClassVar[dict[str, str]]
    claim_lock_suffix = ""

    def __init__(self, *, max_attempts: int = 8) -> None:
        self.max_attempts = max_attempts
        self._lock = threading.RLock()
        self._conn: Any = None  # the backend's DB-API connection, opened on first use
        self._sql_cache: dict[str, str] = {}

    # -- backend hooks ---------------------------------------------------

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

    # -- schema ------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version of the database (0 when it holds no ledger yet)."""
        with self._read() as cur:
            if not self._table_exists(cur, "schema_version"):
                return 0
            row = self._exec(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            return int(row[0] or 0)

    def upgrade(self, now: datetime) -> tuple[int, int]:
        """Apply every migration above the current version; returns (from, to)."""
        with self._tx(Lock.INTAKE, Lock.CLAIM, Lock.AUDIT) as cur:
            self._exec(cur, SCHEMA_VERSION_TABLE.format(**self.ddl_types))
            row = self._exec(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            for version in sorted(v for v in MIGRATIONS if v > current):
                for statement in MIGRATIONS[version]:
                    self._exec(cur, statement.format(**self.ddl_types))
                self._exec(
                    cur,
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, ts(now)),
                )
        return current, max(current, LATEST_VERSION)

    def open(self, now: datetime) -> None:
        """Create a fresh ledger at the latest schema, or check an existing one.

        An existing ledger at an older version is not changed behind the
        operator's back: it raises ``SchemaOutdated`` until ``db upgrade``.
        """
        version = self.schema_version()
        if version == 0:
            self.upgrade(now)
        elif version < LATEST_VERSION:
            raise SchemaOutdated(
                f"the ledger's schema is version {version}, this hubsync needs "
                f"{LATEST_VERSION}: run `hubsync db upgrade`"
            )
        elif version > LATEST_VERSION:
            raise SchemaOutdated(
                f"the ledger's schema is version {version}, newer than this hubsync "
                f"({LATEST_VERSION}): upgrade hubsync"
            )

    # -- intake ------------------------------------------------------------

    def submit(
        self,
        events: Sequence[NewEvent],
        now: datetime,
        audit: Callable[[StoredEvent], AuditEntry] | None = None,
    ) -> list[SubmitResult]:
        """Store events idempotently, in one transaction, applying "erasure wins".

        The same (origin, event_id) stored before answers ``duplicate``. An
        erasure supersedes the subject's pending and failed events (their
        payload is scrubbed at once); events of a subject that is erased or
        being erased are stored as ``skipped`` without their payload, except
        erasure and access. ``audit`` builds a row for each newly stored event.
        """
        _check_storable(t for e in events for t in (e.envelope.event_id, e.envelope.subject_id))
        now_s, due_s = ts(now), ts(due_at(now))
        with self._tx(Lock.INTAKE) as cur:
            subjects = sorted({e.envelope.subject_id for e in events})
            erasing = self._erasing_subjects(cur, subjects)
            # An erasure refuses the events of its subject after it in the batch
            # as it would in a later batch: decided in order, stored in bulk.
            refused: list[bool] = []
            for new in events:
                env = new.envelope
                refused.append(erasure.refused(env.kind, env.subject_id in erasing))
                if new.envelope.kind is EventKind.ERASURE:
                    erasing.add(new.envelope.subject_id)
            results, seqs = self._insert_many(cur, events, refused, now_s, due_s)
            stored = self._get_many(cur, seqs)  # as stored, before any supersession
            first_erasures: dict[SubjectId, int] = {}
            for event in stored:
                if event.kind is EventKind.ERASURE:
                    first_erasures.setdefault(event.subject_id, event.seq)
            self._begin_erasures(cur, first_erasures, now_s)
            if audit is not None:
                self._append_audit(cur, [audit(e) for e in stored])
        return results

    def _insert_many(
        self,
        cur: Cursor,
        events: Sequence[NewEvent],
        refused: Sequence[bool],
        now_s: float,
        due_s: float,
    ) -> tuple[list[SubmitResult], list[int]]:
        """Store events with one multi-row INSERT per 100; ``refused`` ones as skipped.

        Returns the answers, and the seqs of the events newly stored, in order.
        """
        stored: dict[tuple[str, str], int] = {}
        for start in range(0, len(events), INSERT_CHUNK):
            chunk = events[start : start + INSERT_CHUNK]
            flags = refused[start : start + INSERT_CHUNK]
            params = [
                v
                for new, no in zip(chunk, flags, strict=True)
                for v in _event_row(new, no, now_s, due_s)
            ]
            values = ", ".join([INSERT_MARKS] * len(chunk))
            sql = f"{INSERT_EVENT} VALUES {values}{INSERT_CONFLICT} RETURNING origin, event_id, seq"
            rows = self._exec(cur, sql, params).fetchall()
            stored.update(((r[0], r[1]), int(r[2])) for r in rows)
        results: list[SubmitResult] = []
        seqs: list[int] = []
        for new, no in zip(events, refused, strict=True):
            key = (new.origin.value, new.envelope.event_id)
            seq = stored.pop(key, None)  # a second copy in the same batch is a duplicate
            if seq is not None:
                seqs.append(seq)
                state = EventState.SKIPPED if no else EventState.PENDING
                results.append(SubmitResult(new.envelope.event_id, new.origin, state, False))
            else:
                results.append(self._duplicate(cur, new))
        return results, seqs

    def _duplicate(self, cur: Cursor, new: NewEvent) -> SubmitResult:
        existing = self._exec(
            cur,
            "SELECT state FROM events WHERE origin = ? AND event_id = ?",
            (new.origin.value, new.envelope.event_id),
        ).fetchone()
        return SubmitResult(new.envelope.event_id, new.origin, EventState(existing[0]), True)

    def _erasing_subjects(self, cur: Cursor, subjects: Sequence[str]) -> set[SubjectId]:
        found: set[SubjectId] = set()
        for chunk in _chunks(subjects, 500):
            marks = ", ".join("?" for _ in chunk)
            rows = self._exec(
                cur,
                f"SELECT subject_id FROM subjects WHERE erasure IS NOT NULL "
                f"AND subject_id IN ({marks})",
                chunk,
            ).fetchall()
            found.update(SubjectId(r[0]) for r in rows)
        return found

    def _begin_erasures(self, cur: Cursor, erasures: dict[SubjectId, int], now_s: float) -> None:
        """Mark subjects as being erased and supersede what waits for them.

        ``erasures`` maps each subject to the seq of its first erasure in the
        batch, which names the supersession in the superseded events' note.
        """
        subjects = sorted(erasures)
        for chunk in _chunks(subjects, INSERT_CHUNK):
            values = ", ".join(["(?, 'erasing', ?, ?)"] * len(chunk))
            self._exec(
                cur,
                "INSERT INTO subjects (subject_id, erasure, erasure_at, updated_at) "
                f"VALUES {values} ON CONFLICT (subject_id) DO UPDATE SET "
                "erasure = COALESCE(subjects.erasure, 'erasing'), "
                "erasure_at = COALESCE(subjects.erasure_at, excluded.erasure_at), "
                "updated_at = excluded.updated_at",
                [v for subject in chunk for v in (subject, now_s, now_s)],
            )
        # Access requests are answered in order (they read, they do not write);
        # every other waiting event would write to a person who is to be erased.
        for chunk in _chunks(subjects, INSERT_CHUNK):
            rows = " UNION ALL ".join(["SELECT ? AS subject_id, ? AS note"] * len(chunk))
            params: list[Any] = [now_s, now_s]
            for subject in chunk:
                params += [subject, erasure.superseded_note(erasures[subject])]
            self._exec(
                cur,
                "UPDATE events SET state = 'superseded', payload = NULL, scrubbed_at = ?, "
                "finished_at = ?, note = erasing.note, lease_owner = NULL, lease_until = NULL "
                f"FROM ({rows}) AS erasing "
                "WHERE events.subject_id = erasing.subject_id "
                f"AND {erasure.supersedes_sql('events')}",
                params,
            )

    # -- claiming ----------------------------------------------------------

    def claim(self, owner: str, limit: int, now: datetime, lease: timedelta) -> list[StoredEvent]:
        """Lease up to ``limit`` ready events: at most one per subject, in order.

        An event is ready when it is pending, its next attempt is due, no
        event of its subject is in flight, and no earlier event of its
        subject is still pending. Leases that have expired are returned to
        pending first (or dead-lettered once their attempts are used up), so
        a crashed worker's events come back.
        """
        now_s = ts(now)
        with self._tx(Lock.INTAKE, Lock.CLAIM) as cur:
            self._expire_leases(cur, now_s)
            self._before_claim(cur)
            rows = self._exec(
                cur,
                "SELECT e.seq FROM events e "
                "WHERE e.state = 'pending' AND e.next_attempt_at <= ? "
                "AND NOT EXISTS (SELECT 1 FROM events b WHERE b.subject_id = e.subject_id "
                "  AND b.state = 'in_progress') "
                "AND NOT EXISTS (SELECT 1 FROM events b WHERE b.subject_id = e.subject_id "
                "  AND b.state = 'pending' AND (b.occurred_at < e.occurred_at "
                "  OR (b.occurred_at = e.occurred_at AND b.seq < e.seq))) "
                "ORDER BY e.next_attempt_at, e.seq LIMIT ?" + self.claim_lock_suffix,
                (now_s, limit),
            ).fetchall()
            seqs = [int(r[0]) for r in rows]
            if not seqs:
                return []
            marks = ", ".join("?" for _ in seqs)
            claimed = self._exec(
                cur,
                f"UPDATE events SET state = 'in_progress', lease_owner = ?, lease_until = ?, "
                f"attempts = attempts + 1 WHERE seq IN ({marks}) RETURNING {EVENT_COLUMNS}",
                (owner, ts(now + lease), *seqs),
            ).fetchall()
        return sorted((_event(r) for r in claimed), key=lambda e: e.seq)

    def _before_claim(self, cur: Cursor) -> None:  # noqa: B027 - optional hook
        """Backend tuning for the claim query (a no-op by default)."""

    def _expire_leases(self, cur: Cursor, now_s: float) -> None:
        error = ErrorInfo(ErrorClass.RETRYABLE, "lease_expired", detail="worker lease expired")
        self._exec(
            cur,
            "UPDATE events SET state = 'failed', lease_owner = NULL, lease_until = NULL, "
            "finished_at = ?, last_error = ? "
            "WHERE state = 'in_progress' AND lease_until <= ? AND attempts >= ? RETURNING seq",
            (now_s, json.dumps(error.as_dict()), now_s, self.max_attempts),
        )
        self._supersede_if_erasing(cur, [int(r[0]) for r in cur.fetchall()], now_s)
        self._exec(
            cur,
            "UPDATE events SET state = 'pending', lease_owner = NULL, lease_until = NULL, "
            "next_attempt_at = ?, last_error = ? "
            "WHERE state = 'in_progress' AND lease_until <= ? RETURNING seq",
            (now_s, json.dumps(error.as_dict()), now_s),
        )
        self._supersede_if_erasing(cur, [int(r[0]) for r in cur.fetchall()], now_s)

    def _supersede_if_erasing(self, cur: Cursor, seqs: Sequence[int], now_s: float) -> None:
        """Events back to pending or failed whose subject is being erased never run.

        Intake supersedes what waits when an erasure arrives; this covers the
        events that were in flight then and came back (a retry, a dead letter,
        an expired lease, a release, a replay). Callers hold ``Lock.INTAKE``,
        so an erasure's intake and this check never interleave.
        """
        for chunk in _chunks(seqs, INSERT_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            self._exec(
                cur,
                "UPDATE events SET state = 'superseded', payload = NULL, scrubbed_at = ?, "
                "finished_at = ?, note = ? "
                f"WHERE seq IN ({marks}) AND {erasure.supersedes_sql()} "
                f"AND subject_id IN ({ERASING_SUBJECTS})",
                (now_s, now_s, erasure.superseded_note(), *chunk),
            )

    def extend_leases(
        self, owner: str, seqs: Sequence[int], now: datetime, lease: timedelta
    ) -> list[int]:
        """Extend the worker's leases; returns the seqs it no longer holds."""
        lost: list[int] = []
        with self._tx() as cur:
            for seq in seqs:
                self._exec(
                    cur,
                    "UPDATE events SET lease_until = ? WHERE seq = ? AND state = 'in_progress' "
                    "AND lease_owner = ?",
                    (ts(now + lease), seq, owner),
                )
                if cur.rowcount == 0:
                    lost.append(seq)
        return lost

    def record(
        self,
        owner: str,
        outcomes: Sequence[Outcome],
        now: datetime,
        audit: Sequence[AuditEntry] = (),
        *,
        strict: bool = False,
    ) -> list[int]:
        """Record how held events end this attempt, with their audit rows, in one transaction.

        Returns the seqs whose lease this owner no longer held (left
        untouched); with ``strict`` such a seq raises ``LeaseLost`` and
        nothing is recorded. An outcome that closes an erasure also
        suppresses its digests and scrubs every payload of the subject.
        """
        now_s = ts(now)
        lost: list[int] = []
        # An event going back to pending or failed is checked against erasures:
        # hold the intake lock so an erasure cannot arrive between check and commit.
        returning = any(o.state is not EventState.DONE for o in outcomes)
        with self._tx(*([Lock.INTAKE] if returning else [])) as cur:
            done: dict[str | None, list[int]] = {}
            for outcome in outcomes:
                if outcome.state is EventState.DONE and outcome.erased_subject is None:
                    done.setdefault(outcome.note, []).append(outcome.seq)
                    continue
                self._exec(cur, *self._outcome_update(outcome, owner, now_s))
                if cur.rowcount == 0:
                    lost.append(outcome.seq)
                elif outcome.erased_subject is not None:
                    self._mark_erased(cur, outcome.erased_subject, outcome.suppress, now_s)
            for note, seqs in done.items():
                lost.extend(self._complete_many(cur, owner, seqs, note, now_s))
            if strict and lost:
                raise LeaseLost(f"event seq {lost[0]} is not held by {owner}")
            lost_seqs = set(lost)
            held = [o for o in outcomes if o.seq not in lost_seqs]
            self._supersede_if_erasing(
                cur, [o.seq for o in held if o.state is not EventState.DONE], now_s
            )
            self._scrub_if_erased(cur, [o.seq for o in held if o.state is EventState.DONE], now_s)
            self._append_audit(cur, audit)
        return lost

    def _complete_many(
        self, cur: Cursor, owner: str, seqs: Sequence[int], note: str | None, now_s: float
    ) -> list[int]:
        """Mark held events done, 100 to a statement; returns the seqs not held."""
        lost: list[int] = []
        for chunk in _chunks(seqs, INSERT_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            rows = self._exec(
                cur,
                "UPDATE events SET state = 'done', finished_at = ?, note = ?, "
                "lease_owner = NULL, lease_until = NULL "
                f"WHERE seq IN ({marks}) AND state = 'in_progress' AND lease_owner = ? "
                "RETURNING seq",
                (now_s, note, *chunk, owner),
            ).fetchall()
            updated = {int(r[0]) for r in rows}
            lost.extend(s for s in chunk if s not in updated)
        return lost

    def _scrub_if_erased(self, cur: Cursor, seqs: Sequence[int], now_s: float) -> None:
        """An event that finishes after its subject's erasure keeps no personal data."""
        for chunk in _chunks(seqs, INSERT_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            self._exec(
                cur,
                "UPDATE events SET payload = NULL, scrubbed_at = ? "
                f"WHERE seq IN ({marks}) AND payload IS NOT NULL AND subject_id IN "
                "(SELECT subject_id FROM subjects WHERE erasure = 'erased')",
                (now_s, *chunk),
            )

    @staticmethod
    def _outcome_update(outcome: Outcome, owner: str, now_s: float) -> tuple[str, tuple[Any, ...]]:
        held = " WHERE seq = ? AND state = 'in_progress' AND lease_owner = ?"
        error = json.dumps(outcome.error.as_dict()) if outcome.error else None
        if outcome.state is EventState.DONE:
            sql = (
                "UPDATE events SET state = 'done', finished_at = ?, note = ?, "
                "lease_owner = NULL, lease_until = NULL" + held
            )
            return sql, (now_s, outcome.note, outcome.seq, owner)
        if outcome.state is EventState.PENDING:
            if outcome.retry_at is None:
                raise ValueError("a pending outcome needs retry_at")
            sql = (
                "UPDATE events SET state = 'pending', next_attempt_at = ?, last_error = ?, "
                "attempts = attempts - ?, lease_owner = NULL, lease_until = NULL" + held
            )
            uncount = 0 if outcome.count_attempt else 1
            return sql, (ts(outcome.retry_at), error, uncount, outcome.seq, owner)
        if outcome.state is EventState.FAILED:
            sql = (
                "UPDATE events SET state = 'failed', finished_at = ?, next_attempt_at = ?, "
                "last_error = ?, lease_owner = NULL, lease_until = NULL" + held
            )
            return sql, (now_s, now_s, error, outcome.seq, owner)
        raise ValueError(f"an attempt cannot end {outcome.state.value}")

    def complete(
        self, owner: str, seqs: Sequence[int], now: datetime, note: str | None = None
    ) -> None:
        """Mark held events done. Raises ``LeaseLost`` (and changes nothing) if one is not held."""
        self.record(owner, [Outcome(s, EventState.DONE, note=note) for s in seqs], now, strict=True)

    def record_failure(
        self,
        owner: str,
        seq: int,
        error: ErrorInfo,
        now: datetime,
        retry_at: datetime | None,
    ) -> EventState:
        """Reschedule a held event to ``retry_at``, or dead-letter it when that is None.

        The retry decision (backoff, maximum attempts, permanent errors) is
        the caller's; see ``sync.retry``.
        """
        state = EventState.PENDING if retry_at is not None else EventState.FAILED
        self.record(owner, [Outcome(seq, state, error=error, retry_at=retry_at)], now, strict=True)
        return self.get(seq).state  # superseded when its subject is being erased

    def release(self, owner: str, seqs: Sequence[int], now: datetime) -> int:
        """Give held events back untouched (a worker shutting down); the attempt is not counted."""
        released = 0
        with self._tx(Lock.INTAKE) as cur:
            for seq in seqs:
                self._exec(
                    cur,
                    "UPDATE events SET state = 'pending', attempts = attempts - 1, "
                    "lease_owner = NULL, lease_until = NULL "
                    "WHERE seq = ? AND state = 'in_progress' AND lease_owner = ?",
                    (seq, owner),
                )
                released += max(cur.rowcount, 0)
            self._supersede_if_erasing(cur, seqs, ts(now))
        return released

    # -- operator actions -------------------------------------------------

    def replay(self, seqs: Sequence[int], now: datetime, audit: AuditBuilder) -> list[StoredEvent]:
        """Return failed events to pending with fresh attempts; audited in the same transaction."""
        return self._transition(
            seqs,
            from_states=(EventState.FAILED,),
            sql="UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = ?, "
            "finished_at = NULL WHERE seq = ?",
            params=lambda seq: (ts(now), seq),
            audit=audit,
            after=lambda cur, seq: self._supersede_if_erasing(cur, [seq], ts(now)),
        )

    def skip(
        self, seqs: Sequence[int], reason: str, now: datetime, audit: AuditBuilder
    ) -> list[StoredEvent]:
        """Close failed or pending events with a reason; audited in the same transaction."""
        return self._transition(
            seqs,
            from_states=(EventState.FAILED, EventState.PENDING),
            sql="UPDATE events SET state = 'skipped', note = ?, finished_at = ? WHERE seq = ?",
            params=lambda seq: (reason, ts(now), seq),
            audit=audit,
            after=lambda cur, seq: self._scrub_if_erased(cur, [seq], ts(now)),
        )

    def extend_deadline(
        self, seq: int, days: int, now: datetime, audit: AuditBuilder
    ) -> StoredEvent:
        """Extend an open event's deadline by ``days`` (two further months at most in all)."""
        with self._tx() as cur:
            event = self._get(cur, seq)
            total = event.due_extended_days + days
            if days <= 0 or total > MAX_EXTENSION_DAYS:
                raise InvalidTransition(
                    f"an extension must be positive and at most {MAX_EXTENSION_DAYS} days in all"
                )
            if event.state in (EventState.DONE, EventState.SUPERSEDED, EventState.SKIPPED):
                raise InvalidTransition(f"event {event.event_id} is {event.state.value}")
            self._exec(
                cur,
                "UPDATE events SET due_extended_days = ?, due_at = ? WHERE seq = ?",
                (total, ts(due_at(event.received_at, total)), seq),
            )
            updated = self._get(cur, seq)
            self._append_audit(cur, [audit(updated)])
        return updated

    def _transition(
        self,
        seqs: Sequence[int],
        from_states: tuple[EventState, ...],
        sql: str,
        params: Callable[[int], tuple[Any, ...]],
        audit: AuditBuilder,
        after: Callable[[Cursor, int], None],
    ) -> list[StoredEvent]:
        changed: list[StoredEvent] = []
        with self._tx(Lock.INTAKE) as cur:
            for seq in seqs:
                event = self._get(cur, seq)
                if event.state not in from_states:
                    allowed = " or ".join(s.value for s in from_states)
                    raise InvalidTransition(
                        f"event {event.event_id} is {event.state.value}, not {allowed}"
                    )
                self._exec(cur, sql, params(seq))
                after(cur, seq)
                updated = self._get(cur, seq)
                self._append_audit(cur, [audit(updated)])
                changed.append(updated)
        return changed

    # -- reading -----------------------------------------------------------

    def _get(self, cur: Cursor, seq: int) -> StoredEvent:
        row = self._exec(cur, f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?", (seq,))
        found = row.fetchone()
        if found is None:
            raise EventNotFound(f"no event with seq {seq}")
        return _event(found)

    def _get_many(self, cur: Cursor, seqs: Sequence[int]) -> list[StoredEvent]:
        """Events by seq, in the order of ``seqs`` (500 to a query)."""
        found: dict[int, StoredEvent] = {}
        for chunk in _chunks(seqs, 500):
            marks = ", ".join("?" for _ in chunk)
            rows = self._exec(
                cur, f"SELECT {EVENT_COLUMNS} FROM events WHERE seq IN ({marks})", chunk
            ).fetchall()
            found.update((int(r[0]), _event(r)) for r in rows)
        return [found[seq] for seq in seqs]

    def get(self, seq: int) -> StoredEvent:
        """One event by the ledger's own key."""
        with self._read() as cur:
            return self._get(cur, seq)

    def find(self, event_id: str, origin: Origin | None = None) -> list[StoredEvent]:
        """Events with this id (one per origin at most)."""
        _check_storable([event_id])
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?"
        params: list[Any] = [event_id]
        if origin is not None:
            sql += " AND origin = ?"
            params.append(origin.value)
        with self._read() as cur:
            return [_event(r) for r in self._exec(cur, sql + " ORDER BY seq", params).fetchall()]

    def list_events(
        self,
        *,
        state: EventState | None = None,
        kind: EventKind | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
    ) -> list[StoredEvent]:
        """Events matching every given filter, oldest first."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("state", state.value if state else None),
            ("kind", kind.value if kind else None),
            ("subject_id", subject_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("received_at >= ?")
            params.append(ts(since))
        sql = f"SELECT {EVENT_COLUMNS} FROM events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._read() as cur:
            return [_event(r) for r in self._exec(cur, sql, params).fetchall()]

    def status(self, now: datetime) -> StatusReport:
        """Counts by state and kind, deadlines, and the age of the oldest ready event."""
        now_s = ts(now)
        open_states = "('pending', 'in_progress', 'failed')"
        with self._read() as cur:
            rows = self._exec(
                cur, "SELECT kind, state, COUNT(*) FROM events GROUP BY kind, state"
            ).fetchall()
            overdue = self._exec(
                cur,
                f"SELECT COUNT(*) FROM events WHERE state IN {open_states} AND due_at < ?",
                (now_s,),
            ).fetchone()[0]
            due_soon = self._exec(
                cur,
                f"SELECT COUNT(*) FROM events WHERE state IN {open_states} "
                "AND due_at >= ? AND due_at < ?",
                (now_s, now_s + 7 * 86400),
            ).fetchone()[0]
            oldest = self._exec(
                cur,
                "SELECT MIN(received_at) FROM events WHERE state = 'pending' "
                "AND next_attempt_at <= ?",
                (now_s,),
            ).fetchone()[0]
        by_state = {s.value: 0 for s in EventState}
        by_kind: dict[str, dict[str, int]] = {}
        for kind, state, count in rows:
            by_state[state] += int(count)
            by_kind.setdefault(kind, {})[state] = int(count)
        return StatusReport(
            by_state=by_state,
            by_kind=by_kind,
            overdue=int(overdue),
            due_within_7_days=int(due_soon),
            oldest_ready_age_s=round(now_s - oldest, 3) if oldest is not None else None,
        )

    # -- subjects, suppression, receipts -------------------------------------

    def remember_subject(
        self,
        subject_id: str,
        now: datetime,
        *,
        email: str | None = None,
        contact_ids: Sequence[str] = (),
    ) -> None:
        """Record a subject's current email and HubSpot contact ids (adds, never removes).

        An erased subject stays forgotten: a late access request or a webhook
        naming it never puts an email or a contact id back.
        """
        now_s = ts(now)
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO subjects (subject_id, email, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (subject_id) DO UPDATE SET "
                "email = CASE WHEN subjects.erasure = 'erased' THEN NULL "
                "ELSE COALESCE(excluded.email, subjects.email) END, "
                "updated_at = excluded.updated_at",
                (subject_id, email, now_s),
            )
            for contact_id in contact_ids:
                self._exec(
                    cur,
                    "INSERT INTO subject_contacts (subject_id, contact_id, linked_at) "
                    "SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM subjects "
                    "WHERE subject_id = ? AND erasure = 'erased') "
                    "ON CONFLICT (subject_id, contact_id) DO NOTHING",
                    (subject_id, contact_id, now_s, subject_id),
                )

    def subject(self, subject_id: str) -> SubjectRecord | None:
        """What the ledger knows of a subject, or None."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT subject_id, email, erasure FROM subjects WHERE subject_id = ?",
                (subject_id,),
            ).fetchone()
            contacts = self._exec(
                cur,
                "SELECT contact_id FROM subject_contacts WHERE subject_id = ? ORDER BY linked_at, "
                "contact_id",
                (subject_id,),
            ).fetchall()
        if row is None and not contacts:
            return None
        return SubjectRecord(
            subject_id=SubjectId(subject_id),
            email=row[1] if row else None,
            contact_ids=tuple(c[0] for c in contacts),
            erasure=row[2] if row else None,
        )

    def subjects_for_contact(self, contact_id: str) -> list[SubjectId]:
        """Register subjects mapped to a HubSpot contact id."""
        return self.subjects_for_contacts([contact_id]).get(contact_id, [])

    def subjects_for_contacts(self, contact_ids: Sequence[str]) -> dict[str, list[SubjectId]]:
        """Register subjects mapped to each contact id, in one read (unmapped ids left out)."""
        found: dict[str, list[SubjectId]] = {}
        with self._read() as cur:
            for chunk in _chunks(sorted(set(contact_ids)), 500):
                marks = ", ".join("?" for _ in chunk)
                rows = self._exec(
                    cur,
                    "SELECT contact_id, subject_id FROM subject_contacts "
                    f"WHERE contact_id IN ({marks}) ORDER BY contact_id, subject_id",
                    chunk,
                ).fetchall()
                for contact_id, subject_id in rows:
                    found.setdefault(contact_id, []).append(SubjectId(subject_id))
        return found

    def rekey_contact(self, old_ids: Sequence[str], new_id: str, now: datetime) -> list[SubjectId]:
        """After a merge: every subject mapped to one of ``old_ids`` now maps to ``new_id``."""
        affected: set[SubjectId] = set()
        with self._tx() as cur:
            for old in old_ids:
                rows = self._exec(
                    cur, "SELECT subject_id FROM subject_contacts WHERE contact_id = ?", (old,)
                ).fetchall()
                for (subject_id,) in rows:
                    affected.add(SubjectId(subject_id))
                    self._exec(
                        cur,
                        "INSERT INTO subject_contacts (subject_id, contact_id, linked_at) "
                        "VALUES (?, ?, ?) ON CONFLICT (subject_id, contact_id) DO NOTHING",
                        (subject_id, new_id, ts(now)),
                    )
                if old != new_id:
                    self._exec(cur, "DELETE FROM subject_contacts WHERE contact_id = ?", (old,))
        return sorted(affected)

    def mark_erased(
        self, subject_id: str, suppress: Sequence[tuple[str, str]], now: datetime
    ) -> int:
        """Close an erasure: suppress the digests, forget email and ids, scrub every payload.

        ``suppress`` holds (kind, digest) pairs, kind ``email`` or ``contact``.
        Returns how many payloads were scrubbed.
        """
        with self._tx() as cur:
            return self._mark_erased(cur, subject_id, suppress, ts(now))

    def _mark_erased(
        self, cur: Cursor, subject_id: str, suppress: Sequence[tuple[str, str]], now_s: float
    ) -> int:
        self._suppress(cur, suppress, now_s)
        self._exec(
            cur,
            "INSERT INTO subjects (subject_id, erasure, erasure_at, updated_at) "
            "VALUES (?, 'erased', ?, ?) ON CONFLICT (subject_id) DO UPDATE SET "
            "email = NULL, erasure = 'erased', erasure_at = excluded.erasure_at, "
            "updated_at = excluded.updated_at",
            (subject_id, now_s, now_s),
        )
        self._exec(cur, "DELETE FROM subject_contacts WHERE subject_id = ?", (subject_id,))
        # Erasures and access requests still to run keep what they need; they
        # are scrubbed when they finish (see _scrub_if_erased).
        self._exec(
            cur,
            "UPDATE events SET payload = NULL, scrubbed_at = ? "
            "WHERE subject_id = ? AND payload IS NOT NULL "
            f"AND NOT ({erasure.KEEPS_PAYLOAD_SQL})",
            (now_s, subject_id),
        )
        return max(cur.rowcount, 0)

    def add_suppression(self, suppress: Sequence[tuple[str, str]], now: datetime) -> None:
        """Put (kind, digest) pairs on the suppression list (again, if lifted)."""
        with self._tx() as cur:
            self._suppress(cur, suppress, ts(now))

    def _suppress(self, cur: Cursor, suppress: Sequence[tuple[str, str]], now_s: float) -> None:
        for kind, digest in suppress:
            self._exec(
                cur,
                "INSERT INTO suppression (digest, kind, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET lifted_at = NULL, lift_reason = NULL",
                (digest, kind, now_s),
            )

    def is_suppressed(self, digest: str) -> bool:
        """Whether a digest (of an erased email or contact id) is on the suppression list."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT 1 FROM suppression WHERE digest = ? AND lifted_at IS NULL",
                (digest,),
            ).fetchone()
        return row is not None

    def lift_suppression(self, digest: str, reason: str, now: datetime) -> bool:
        """Lift a suppression (an operator's decision, with a reason). False if none was active."""
        with self._tx() as cur:
            self._exec(
                cur,
                "UPDATE suppression SET lifted_at = ?, lift_reason = ? "
                "WHERE digest = ? AND lifted_at IS NULL",
                (ts(now), reason, digest),
            )
            return cur.rowcount > 0

    def remember_receipts(self, keys: Sequence[str], now: datetime, ttl: timedelta) -> list[bool]:
        """Record webhook receipts; True for each key not seen (and unexpired) before."""
        now_s = ts(now)
        fresh: list[bool] = []
        with self._tx() as cur:
            for key in keys:
                row = self._exec(
                    cur,
                    "INSERT INTO webhook_receipts (receipt_key, received_at, expires_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (receipt_key) DO UPDATE SET "
                    "received_at = excluded.received_at, expires_at = excluded.expires_at "
                    "WHERE webhook_receipts.expires_at <= excluded.received_at "
                    "RETURNING receipt_key",
                    (key, now_s, ts(now + ttl)),
                ).fetchone()
                fresh.append(row is not None)
        return fresh

    def purge_receipts(self, now: datetime) -> int:
        """Forget expired webhook receipts."""
        with self._tx() as cur:
            self._exec(cur, "DELETE FROM webhook_receipts WHERE expires_at <= ?", (ts(now),))
            purged = max(cur.rowcount, 0)
            self._exec(cur, "DELETE FROM echo_marks WHERE expires_at <= ?", (ts(now),))
            # Processed inbox rows are receipts too; pending ones are kept until processed.
            self._exec(
                cur,
                "DELETE FROM hubspot_inbox WHERE state IN ('done', 'skipped') AND expires_at <= ?",
                (ts(now),),
            )
            return purged + max(cur.rowcount, 0)

    # -- HubSpot webhook inbox -----------------------------------------------

    def store_webhooks(
        self,
        items: Sequence[tuple[str, dict[str, Any]]],
        now: datetime,
        ttl: timedelta,
        set_aside: Sequence[SetAsideItem] = (),
    ) -> list[bool]:
        """Store a webhook batch as received, in one transaction; True for each new key.

        ``items`` are (receipt key, event) pairs, stored ``pending``;
        ``set_aside`` are the batch's malformed items, stored ``failed`` with
        their problem for an operator (``hubsync inbox status``). The answer
        lists ``items`` then ``set_aside``. A key already in the inbox (a
        redelivery, or a second copy in the same batch) answers False and
        changes nothing. ``ttl`` is how long a processed key is remembered.
        """
        now_s, expires_s = ts(now), ts(now + ttl)
        rows: list[tuple[str, str, str, str | None]] = [
            (key, json.dumps(payload), "pending", None) for key, payload in items
        ]
        rows += [(s.receipt_key, json.dumps(s.item), "failed", s.problem) for s in set_aside]
        stored: set[str] = set()
        with self._tx() as cur:
            for chunk in _chunks(rows, INSERT_CHUNK):
                params = [
                    v
                    for key, payload, state, problem in chunk
                    for v in (key, now_s, expires_s, payload, state, problem)
                ]
                values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
                found = self._exec(
                    cur,
                    "INSERT INTO hubspot_inbox (receipt_key, received_at, expires_at, payload, "
                    f"state, problem) VALUES {values} ON CONFLICT (receipt_key) DO NOTHING "
                    "RETURNING receipt_key",
                    params,
                ).fetchall()
                stored.update(r[0] for r in found)
        fresh: list[bool] = []
        for key, *_ in rows:
            fresh.append(key in stored)
            stored.discard(key)  # a second copy in the same batch is a redelivery
        return fresh

    def set_aside_webhooks(self, limit: int = 100) -> list[SetAsideRow]:
        """Failed inbox rows, oldest first: key, when received, and why (no payload)."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT receipt_key, received_at, problem FROM hubspot_inbox "
                "WHERE state = 'failed' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [SetAsideRow(str(r[0]), _dt(r[1]), r[2]) for r in rows]

    def skip_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Failed inbox rows given up by an operator: ``skipped``, payload scrubbed."""
        return self._end_webhooks(keys, "state = 'skipped', payload = NULL", now, "failed")

    def pending_webhooks(self, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Stored webhook events not yet processed, oldest first: (receipt key, event)."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT receipt_key, payload FROM hubspot_inbox WHERE state = 'pending' "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def claim_webhooks(
        self, owner: str, limit: int, now: datetime, lease: timedelta
    ) -> list[tuple[str, dict[str, Any]]]:
        """Lease up to ``limit`` pending webhook events, oldest first: (receipt key, event).

        A lease held by another worker is skipped until it expires, so a
        crashed worker's events come back and two workers never hold one.
        """
        now_s = ts(now)
        with self._tx() as cur:
            rows = self._exec(
                cur,
                "SELECT seq FROM hubspot_inbox WHERE state = 'pending' "
                "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY seq LIMIT ?",
                (now_s, limit),
            ).fetchall()
            seqs = [int(r[0]) for r in rows]
            if not seqs:
                return []
            marks = ", ".join("?" for _ in seqs)
            claimed = self._exec(
                cur,
                f"UPDATE hubspot_inbox SET lease_owner = ?, lease_until = ? "
                f"WHERE seq IN ({marks}) AND state = 'pending' "
                f"AND (lease_until IS NULL OR lease_until <= ?) "
                f"RETURNING seq, receipt_key, payload",
                (owner, ts(now + lease), *seqs, now_s),
            ).fetchall()
        return [(r[1], json.loads(r[2])) for r in sorted(claimed)]

    def release_webhooks(self, owner: str, keys: Sequence[str]) -> int:
        """Give leased webhook events back (to be tried again at once by any worker)."""
        changed = 0
        with self._tx() as cur:
            for chunk in _chunks(keys, 500):
                marks = ", ".join(["?"] * len(chunk))
                self._exec(
                    cur,
                    "UPDATE hubspot_inbox SET lease_owner = NULL, lease_until = NULL "
                    f"WHERE state = 'pending' AND lease_owner = ? AND receipt_key IN ({marks})",
                    (owner, *chunk),
                )
                changed += max(cur.rowcount, 0)
        return changed

    def fail_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Set webhook events aside as failed, payload kept, for an operator to replay."""
        return self._end_webhooks(keys, "state = 'failed'", now)

    def replay_webhooks(self) -> int:
        """Every failed webhook event back to pending; returns how many."""
        with self._tx() as cur:
            self._exec(
                cur,
                "UPDATE hubspot_inbox SET state = 'pending', processed_at = NULL "
                "WHERE state = 'failed'",
            )
            return max(cur.rowcount, 0)

    def webhook_states(self) -> dict[str, int]:
        """Inbox rows by state (``pending``, ``failed``, ``done``)."""
        with self._read() as cur:
            rows = self._exec(
                cur, "SELECT state, COUNT(*) FROM hubspot_inbox GROUP BY state ORDER BY state"
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def finish_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Mark webhook events processed and scrub their payload; returns how many changed."""
        return self._end_webhooks(keys, "state = 'done', payload = NULL", now)

    def _end_webhooks(
        self, keys: Sequence[str], assignments: str, now: datetime, state: str = "pending"
    ) -> int:
        """End the inbox rows in ``state`` named by ``keys`` with ``assignments``."""
        changed = 0
        with self._tx() as cur:
            for chunk in _chunks(keys, 500):
                marks = ", ".join(["?"] * len(chunk))
                self._exec(
                    cur,
                    f"UPDATE hubspot_inbox SET {assignments}, processed_at = ?, "
                    "lease_owner = NULL, lease_until = NULL "
                    f"WHERE state = ? AND receipt_key IN ({marks})",
                    (ts(now), state, *chunk),
                )
                changed += max(cur.rowcount, 0)
        return changed

    # -- echo marks ----------------------------------------------------------

    def remember_writes(
        self, marks: Sequence[tuple[str, str, str]], now: datetime, ttl: timedelta
    ) -> None:
        """Record (contact id, property, value digest) that hubsync just wrote to HubSpot."""
        if not marks:
            return
        expires_s = ts(now + ttl)
        with self._tx() as cur:
            for chunk in _chunks(marks, INSERT_CHUNK):
                values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
                params = [v for mark in chunk for v in (*mark, expires_s)]
                self._exec(
                    cur,
                    f"INSERT INTO echo_marks (contact_id, property, value_digest, expires_at) "
                    f"VALUES {values} ON CONFLICT (contact_id, property, value_digest) "
                    f"DO UPDATE SET expires_at = excluded.expires_at",
                    params,
                )

    def wrote_recently(self, contact_id: str, prop: str, digest: str, now: datetime) -> bool:
        """Whether hubsync wrote this value digest to this property, within its window."""
        mark = (contact_id, prop, digest)
        return mark in self.written_recently([mark], now)

    def written_recently(
        self, marks: Sequence[tuple[str, str, str]], now: datetime
    ) -> set[tuple[str, str, str]]:
        """Which of these (contact id, property, value digest) hubsync wrote, in one read."""
        wanted = set(marks)
        found: set[tuple[str, str, str]] = set()
        with self._read() as cur:
            for chunk in _chunks(sorted({c for c, _, _ in wanted}), 500):
                in_marks = ", ".join("?" for _ in chunk)
                rows = self._exec(
                    cur,
                    "SELECT contact_id, property, value_digest FROM echo_marks "
                    f"WHERE contact_id IN ({in_marks}) AND expires_at > ?",
                    (*chunk, ts(now)),
                ).fetchall()
                found.update(m for r in rows if (m := (r[0], r[1], r[2])) in wanted)
        return found

    # -- counters ------------------------------------------------------------

    def add_counts(self, counts: dict[str, int], now: datetime) -> None:
        """Add to named counters shared by every process (429s, blocked resurrections...)."""
        counts = {name: n for name, n in counts.items() if n}
        if not counts:
            return
        with self._tx() as cur:
            for name, n in sorted(counts.items()):
                self._exec(
                    cur,
                    "INSERT INTO counters (name, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value, "
                    "updated_at = excluded.updated_at",
                    (name, n, ts(now)),
                )

    def counts(self) -> dict[str, int]:
        """Every counter's total."""
        with self._read() as cur:
            rows = self._exec(cur, "SELECT name, value FROM counters ORDER BY name").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    # -- subjects by activity and address -------------------------------------

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """Subjects (not erased) whose known email is this address, compared case-insensitively."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT subject_id FROM subjects WHERE lower(email) = lower(?) "
                "AND erasure IS NULL ORDER BY subject_id",
                (email,),
            ).fetchall()
        return [SubjectId(r[0]) for r in rows]

    def active_subjects(self, since: datetime, limit: int) -> list[SubjectRecord]:
        """Subjects with an email and events received since ``since``, not erased."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT s.subject_id FROM subjects s WHERE s.email IS NOT NULL "
                "AND s.erasure IS NULL AND EXISTS (SELECT 1 FROM events e "
                "WHERE e.subject_id = s.subject_id AND e.received_at >= ?) "
                "ORDER BY s.subject_id LIMIT ?",
                (ts(since), limit),
            ).fetchall()
        records = (self.subject(r[0]) for r in rows)
        return [r for r in records if r is not None]

    # -- retention ---------------------------------------------------------

    def scrub_finished(self, older_than: datetime, now: datetime) -> int:
        """Scrub the payload of events finished before ``older_than``; returns how many."""
        with self._tx() as cur:
            self._exec(
                cur,
                "UPDATE events SET payload = NULL, scrubbed_at = ? "
                "WHERE payload IS NOT NULL AND state IN ('done', 'superseded', 'skipped') "
                "AND finished_at < ?",
                (ts(now), ts(older_than)),
            )
            return max(cur.rowcount, 0)

    # -- rate budgets ------------------------------------------------------

    def take_tokens(
        self, name: str, cost: float, capacity: float, refill_per_s: float, now: datetime
    ) -> float:
        """Take ``cost`` tokens from a shared bucket; returns 0 or the seconds to wait.

        The bucket refills continuously at ``refill_per_s`` up to ``capacity``;
        when it is blocked (after a 429, say) the wait runs to the block's end.
        Nothing is taken when the answer is a wait.
        """
        now_s = ts(now)
        with self._tx() as cur:
            row = self._exec(
                cur,
                "SELECT tokens, updated_at, blocked_until FROM rate_buckets WHERE name = ?",
                (name,),
            ).fetchone()
            tokens, updated, blocked = (capacity, now_s, 0.0) if row is None else row
            if blocked > now_s:
                return float(blocked - now_s)
            tokens = min(capacity, tokens + max(0.0, now_s - updated) * refill_per_s)
            if tokens < cost - 1e-6:  # float refill must not leave a wait of nanoseconds
                return (cost - tokens) / refill_per_s if refill_per_s > 0 else float("inf")
            self._upsert_bucket(cur, name, tokens - cost, now_s, 0.0)
        return 0.0

    def correct_bucket(
        self,
        name: str,
        now: datetime,
        *,
        tokens: float | None = None,
        blocked_until: datetime | None = None,
    ) -> None:
        """Correct a bucket from what HubSpot reported (remaining calls, or a 429's reset)."""
        now_s = ts(now)
        with self._tx() as cur:
            row = self._exec(
                cur, "SELECT tokens, blocked_until FROM rate_buckets WHERE name = ?", (name,)
            ).fetchone()
            current_tokens, current_block = row if row is not None else (0.0, 0.0)
            self._upsert_bucket(
                cur,
                name,
                tokens if tokens is not None else current_tokens,
                now_s,
                max(current_block, ts(blocked_until)) if blocked_until else current_block,
            )

    def rate_bucket(self, name: str) -> RateBucket | None:
        """A bucket as last written (tokens not refilled to now); None before its first use."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT tokens, updated_at, blocked_until FROM rate_buckets WHERE name = ?",
                (name,),
            ).fetchone()
        if row is None:
            return None
        tokens, updated, blocked = row
        return RateBucket(
            name=name,
            tokens=float(tokens),
            updated_at=_dt(float(updated)),
            blocked_until=_dt(float(blocked)) if blocked else None,
        )

    def _upsert_bucket(
        self, cur: Cursor, name: str, tokens: float, now_s: float, blocked: float
    ) -> None:
        self._exec(
            cur,
            "INSERT INTO rate_buckets (name, tokens, updated_at, blocked_until) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, "
            "updated_at = excluded.updated_at, blocked_until = excluded.blocked_until",
            (name, tokens, now_s, blocked),
        )

    # -- audit -------------------------------------------------------------

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        """Append rows to the audit chain in one transaction."""
        with self._tx() as cur:
            return self._append_audit(cur, entries)

    def _append_audit(self, cur: Cursor, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        if not entries:
            return []
        self._lock_audit(cur)
        head = self._exec(cur, "SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
        seq, prev = (int(head[0]), head[1]) if head else (0, GENESIS_HASH)
        rows: list[AuditRow] = []
        # Hash the time as it will be read back (UTC): an aware time in another
        # zone would otherwise hash as "+01:00" and fail verification as changed.
        for entry in [replace(e, at=e.at.astimezone(UTC)) for e in entries]:
            seq += 1
            row_hash = chain_hash(prev, seq, entry)
            rows.append(AuditRow(seq, entry, prev, row_hash))
            prev = row_hash
        for chunk in _chunks(rows, INSERT_CHUNK):
            values = ", ".join([AUDIT_MARKS] * len(chunk))
            params = [v for row in chunk for v in _audit_params(row)]
            self._exec(cur, f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {values}", params)
        self._exec(
            cur,
            "INSERT INTO audit_head (id, seq, row_hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, row_hash = excluded.row_hash",
            (seq, prev),
        )
        return rows

    def _lock_audit(self, cur: Cursor) -> None:  # noqa: B027 - optional hook
        """Serialise appends to the chain (a no-op where the transaction already does)."""

    def audit_rows(self, since: datetime | None = None) -> Iterator[AuditRow]:
        """Audit rows in order, from ``since`` on."""
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit_log"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE at >= ?"
            params.append(ts(since))
        with self._read() as cur:
            rows = self._exec(cur, sql + " ORDER BY seq", params).fetchall()
        for row in rows:
            yield _audit_row(row)

    def verify_audit(self) -> VerifyResult:
        """Check the whole chain; names the first row that does not hold."""
        with self._read() as cur:
            rows = [
                _audit_row(r)
                for r in self._exec(
                    cur, f"SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"
                ).fetchall()
            ]
            head = self._exec(cur, "SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
        return verify_chain(rows, (int(head[0]), head[1]) if head else None)


def _audit_params(row: AuditRow) -> tuple[Any, ...]:
    """An audit row's columns, in the order of ``AUDIT_COLUMNS``."""
    e = row.entry
    return (
        row.seq, ts(e.at), e.actor, e.action, e.direction, e.system, e.subject_pseudonym,
        e.kind, e.event_id, e.outcome, json.dumps(list(e.field_names)),
        json.dumps(list(e.data_categories)), e.http_status, e.correlation_id, e.attempt,
        e.detail, row.prev_hash, row.row_hash,
    )  # fmt: skip


def _check_storable(texts: Iterable[str]) -> None:
    """``UnstorableInput`` unless both backends can store every text as it is.

    PostgreSQL refuses NUL in text and neither backend can encode a lone
    surrogate; SQLite would store NUL, so it is refused here for both and
    the same input gets the same answer whatever the backend.
    """
    for text in texts:
        if UNSTORABLE_TEXT.search(text):
            raise UnstorableInput("the ledger cannot store a value of this input (its characters)")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
