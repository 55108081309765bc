"""The event queue: submit (erasure wins at intake), claim (one per subject, in order), record.

``record`` commits an outcome, the erasure close-out of its subject and its
audit row in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sync.audit import (
    AuditEntry,
)
from sync.deadlines import due_at
from sync.errors import (
    EventNotFound,
    LeaseLost,
)
from sync.ledger.audit_chain import AuditChainPart
from sync.ledger.db import (
    INSERT_CHUNK,
    Cursor,
    Lock,
    check_storable,
    chunks,
    dt,
    moment,
    ts,
)
from sync.ledger.subjects import SubjectsPart
from sync.model import (
    Direction,
    ErrorClass,
    ErrorInfo,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    Outcome,
    StoredEvent,
    SubjectId,
    SubmitResult,
)
from sync.rules import erasure

EVENT_COLUMNS = (
    "seq, event_id, origin, direction, kind, subject_id, state, attempts, occurred_at, "
    "received_at, due_at, next_attempt_at, field_names, payload, lease_owner, lease_until, "
    "last_error, note, finished_at, scrubbed_at, due_extended_days"
)


INSERT_EVENT = (
    "INSERT INTO events (origin, event_id, direction, kind, subject_id, state, attempts, "
    "occurred_at, received_at, due_at, next_attempt_at, field_names, payload, note, "
    "finished_at, scrubbed_at)"
)


INSERT_MARKS = "(?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


INSERT_CONFLICT = " ON CONFLICT (origin, event_id) DO NOTHING"


ERASING_SUBJECTS = "SELECT subject_id FROM subjects WHERE erasure IS NOT NULL"


def event_of(row: Sequence[Any]) -> StoredEvent:
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
        occurred_at=moment(occurred_at),
        received_at=moment(received_at),
        due_at=moment(due),
        next_attempt_at=moment(next_attempt_at),
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


def event_row(new: NewEvent, refused: bool, now_s: float, due_s: float) -> tuple[Any, ...]:
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


class EventsPart(AuditChainPart, SubjectsPart):
    """Stores, leases and records events; the worker's side of the ledger."""

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
        check_storable(t for e in events for t in (e.envelope.event_id, e.envelope.subject_id))
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
            # Audit rows describe the events as stored, before any supersession;
            # without audit nothing is read back (the intake's hot path).
            stored = self._get_many(cur, list(seqs.values())) if audit is not None else []
            first_erasures: dict[SubjectId, int] = {}
            for index, seq in seqs.items():
                envelope = events[index].envelope
                if envelope.kind is EventKind.ERASURE:
                    first_erasures.setdefault(envelope.subject_id, seq)
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
    ) -> tuple[list[SubmitResult], dict[int, int]]:
        """Store events with one multi-row INSERT per 100; ``refused`` ones as skipped.

        Returns the answers, and the seq of each newly stored event by its
        index in ``events`` (in order; a duplicate has none).
        """
        stored: dict[tuple[str, str], int] = {}
        for start in range(0, len(events), INSERT_CHUNK):
            chunk = events[start : start + INSERT_CHUNK]
            flags = refused[start : start + INSERT_CHUNK]
            params = [
                v
                for new, no in zip(chunk, flags, strict=True)
                for v in event_row(new, no, now_s, due_s)
            ]
            values = ", ".join([INSERT_MARKS] * len(chunk))
            sql = f"{INSERT_EVENT} VALUES {values}{INSERT_CONFLICT} RETURNING origin, event_id, seq"
            rows = self._exec(cur, sql, params).fetchall()
            stored.update(((r[0], r[1]), int(r[2])) for r in rows)
        results: list[SubmitResult] = []
        seqs: dict[int, int] = {}
        for index, (new, no) in enumerate(zip(events, refused, strict=True)):
            key = (new.origin.value, new.envelope.event_id)
            seq = stored.pop(key, None)  # a second copy in the same batch is a duplicate
            if seq is not None:
                seqs[index] = seq
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
        for chunk in chunks(subjects, 500):
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
        for chunk in chunks(subjects, INSERT_CHUNK):
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
        for chunk in chunks(subjects, INSERT_CHUNK):
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
            claimed = self._lease_rows(
                cur,
                "events",
                rows,
                "state = 'in_progress', lease_owner = ?, lease_until = ?, attempts = attempts + 1",
                (owner, ts(now + lease)),
                EVENT_COLUMNS,
            )
        return sorted((event_of(r) for r in claimed), key=lambda e: e.seq)

    def _before_claim(self, cur: Cursor) -> None:
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
        for chunk in chunks(seqs, INSERT_CHUNK):
            marks = ", ".join("?" for _ in chunk)
            self._exec(
                cur,
                "UPDATE events SET state = 'superseded', payload = NULL, scrubbed_at = ?, "
                "finished_at = ?, note = ? "
                f"WHERE seq IN ({marks}) AND {erasure.supersedes_sql()} "
                f"AND subject_id IN ({ERASING_SUBJECTS})",
                (now_s, now_s, erasure.superseded_note(), *chunk),
            )

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
        for chunk in chunks(seqs, INSERT_CHUNK):
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
        for chunk in chunks(seqs, INSERT_CHUNK):
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

    def _get(self, cur: Cursor, seq: int) -> StoredEvent:
        row = self._exec(cur, f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?", (seq,))
        found = row.fetchone()
        if found is None:
            raise EventNotFound(f"no event with seq {seq}")
        return event_of(found)

    def _get_many(self, cur: Cursor, seqs: Sequence[int]) -> list[StoredEvent]:
        """Events by seq, in the order of ``seqs`` (500 to a query)."""
        found: dict[int, StoredEvent] = {}
        for chunk in chunks(seqs, 500):
            marks = ", ".join("?" for _ in chunk)
            rows = self._exec(
                cur, f"SELECT {EVENT_COLUMNS} FROM events WHERE seq IN ({marks})", chunk
            ).fetchall()
            found.update((int(r[0]), event_of(r)) for r in rows)
        return [found[seq] for seq in seqs]
