"""What operators do to events and read of them: replay, skip, extend, find, list, status."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sync.audit import (
    AuditBuilder,
)
from sync.deadlines import MAX_EXTENSION_DAYS, due_at
from sync.errors import (
    InvalidTransition,
)
from sync.ledger.db import Cursor, Lock, check_storable, chunks, moment, ts
from sync.ledger.events import EVENT_COLUMNS, EventsPart, event_of
from sync.model import (
    Direction,
    EventKind,
    EventState,
    Origin,
    StatusReport,
    StoredEvent,
    SubjectId,
)


class OperationsPart(EventsPart):
    """Operator actions on events (each audited in its transaction) and the CLI's reads."""

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

    def find(self, event_id: str, origin: Origin | None = None) -> list[StoredEvent]:
        """Events with this id (one per origin at most)."""
        check_storable([event_id])
        sql = f"SELECT {EVENT_COLUMNS} FROM events WHERE event_id = ?"
        params: list[Any] = [event_id]
        if origin is not None:
            sql += " AND origin = ?"
            params.append(origin.value)
        with self._read() as cur:
            return [event_of(r) for r in self._exec(cur, sql + " ORDER BY seq", params).fetchall()]

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
            return [event_of(r) for r in self._exec(cur, sql, params).fetchall()]

    def last_rectified(
        self, subject_ids: Sequence[str], direction: Direction
    ) -> dict[tuple[SubjectId, str], datetime]:
        """When each field of these subjects was last rectified going ``direction``, in one read.

        Keyed by (subject, field name), the latest occurrence time among the
        subjects' rectifications that may take effect (superseded and
        skipped ones never do). A field is one the event names
        (``StoredEvent.field_names``: its changes, and ``email`` when it
        carries one). The authority rule reads it (``sync.rules.authority``).
        """
        found: dict[tuple[SubjectId, str], datetime] = {}
        wanted = sorted(set(subject_ids))
        never = (EventState.SUPERSEDED.value, EventState.SKIPPED.value)
        with self._read() as cur:
            for chunk in chunks(wanted, 500):
                marks = ", ".join("?" for _ in chunk)
                rows = self._exec(
                    cur,
                    "SELECT subject_id, field_names, occurred_at FROM events "
                    f"WHERE subject_id IN ({marks}) AND kind = ? AND direction = ? "
                    "AND state NOT IN (?, ?)",
                    (*chunk, EventKind.RECTIFICATION.value, direction.value, *never),
                ).fetchall()
                for subject, names, occurred in rows:
                    at = moment(float(occurred))
                    for name in json.loads(names):
                        key = (SubjectId(subject), str(name))
                        found[key] = max(found.get(key, at), at)
        return found

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
