"""Builders shared by the ledger contract files: events, times, audit entries, outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sync.audit import AuditEntry
from sync.ledger.sql import SqlLedger
from sync.model import (
    Direction,
    Envelope,
    ErrorClass,
    ErrorInfo,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    Outcome,
    StoredEvent,
    SubjectId,
    SubmitResult,
)
from tests.conftest import T0

LEASE = timedelta(minutes=5)
EMAIL = "anna.svensson@example.se"


def event(
    event_id: str,
    subject: str = "C-1",
    kind: EventKind = EventKind.RECTIFICATION,
    occurred: datetime = T0,
    *,
    origin: Origin = Origin.REGISTER,
    direction: Direction = Direction.TO_HUBSPOT,
    email: str | None = EMAIL,
    changes: dict[str, Any] | None = None,
) -> NewEvent:
    """A new event; rectifications change a first name unless told otherwise."""
    if changes is None:
        changes = {"first_name": "Anna"} if kind is EventKind.RECTIFICATION else {}
    envelope = Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=SubjectId(subject),
        occurred_at=occurred,
        email=email,
        changes=changes,
        reference="ticket-42",
    )
    return NewEvent(envelope, origin, direction)


def at(seconds: float) -> datetime:
    """T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def submit(ledger: SqlLedger, *events: NewEvent, now: datetime = T0) -> list[SubmitResult]:
    """Submit events in one batch."""
    return ledger.submit(list(events), now)


def seq_of(ledger: SqlLedger, event_id: str, origin: Origin = Origin.REGISTER) -> int:
    """The ledger's key of an event."""
    (found,) = ledger.find(event_id, origin)
    return found.seq


def stored(ledger: SqlLedger, event_id: str, origin: Origin = Origin.REGISTER) -> StoredEvent:
    """An event as stored."""
    (found,) = ledger.find(event_id, origin)
    return found


def ids(events: Sequence[StoredEvent]) -> list[str]:
    """Event ids, in the order given."""
    return [e.event_id for e in events]


def entry(action: str, now: datetime = T0, **fields: Any) -> AuditEntry:
    """An operator action's audit entry without personal data."""
    values: dict[str, Any] = {
        "at": now,
        "actor": "operator:test",
        "action": action,
        "direction": "none",
        "system": "ledger",
        "subject_pseudonym": "sub_0123456789abcdef",
        "kind": None,
        "event_id": None,
        "outcome": "ok",
    }
    values.update(fields)
    return AuditEntry(**values)


def audit_of(action: str, now: datetime = T0) -> Any:
    """An audit builder for operator actions on one event."""

    def build(ev: StoredEvent) -> AuditEntry:
        return entry(
            action,
            now,
            direction=ev.direction.value,
            kind=ev.kind.value,
            event_id=ev.event_id,
            outcome=ev.state.value,
            field_names=ev.field_names,
            attempt=ev.attempts,
        )

    return build


def counted(action: str, now: datetime = T0) -> Callable[[int], AuditEntry]:
    """An audit builder for operator actions on many inbox rows, by how many changed."""

    def build(count: int) -> AuditEntry:
        return entry(
            action, now, direction="to_register", subject_pseudonym=None, outcome=f"{count} changed"
        )

    return build


def refused(count: int) -> AuditEntry:
    """An audit builder that fails, as an append that cannot be written would."""
    raise RuntimeError(f"audit append failed after {count} rows")


def retryable(code: str = "http_503") -> ErrorInfo:
    """A transient failure as the worker records it."""
    return ErrorInfo(ErrorClass.RETRYABLE, code, http_status=503, correlation_id="corr-1")


def permanent(code: str = "http_400") -> ErrorInfo:
    """A failure that repeating will not fix."""
    return ErrorInfo(ErrorClass.PERMANENT, code, http_status=400, correlation_id="corr-2")


def dead_letter(ledger: SqlLedger, event_id: str, now: datetime = T0) -> int:
    """Claim an event and dead-letter it; returns its seq."""
    claimed = ledger.claim("worker-a", 100, now, LEASE)
    seq = next(e.seq for e in claimed if e.event_id == event_id)
    record_failure(ledger, "worker-a", seq, permanent(), now, None)
    others = [e.seq for e in claimed if e.seq != seq]
    if others:
        ledger.release("worker-a", others, T0)
    return seq


def finish(ledger: SqlLedger, event_id: str, now: datetime = T0) -> int:
    """Claim an event and complete it; returns its seq."""
    claimed = ledger.claim("worker-a", 100, now, LEASE)
    seq = next(e.seq for e in claimed if e.event_id == event_id)
    complete(ledger, "worker-a", [seq], now)
    others = [e.seq for e in claimed if e.seq != seq]
    if others:
        ledger.release("worker-a", others, T0)
    return seq


def transfer(seq: int, outcome: str) -> AuditEntry:
    """The audit row of one transfer to HubSpot."""
    return entry(
        "contact_updated", T0, direction="to_hubspot", system="hubspot", outcome=outcome,
        event_id=f"seq-{seq}", http_status=200,
    )  # fmt: skip


def close_erasure(ledger: SqlLedger, seq: int, now: datetime) -> None:
    """Record C-1's held erasure done as the worker does: erased, suppressed, audited."""
    done = Outcome(
        seq,
        EventState.DONE,
        erased_subject="C-1",
        suppress=(("email", "digest-email"), ("contact", "digest-101")),
    )
    ledger.record("worker-a", [done], now, [transfer(seq, "erased")])


# -- shortcuts the worker does not need, for tests only ----------------------


def complete(
    ledger: SqlLedger, owner: str, seqs: Sequence[int], now: datetime, note: str | None = None
) -> None:
    """Mark held events done (``record``, strict: ``LeaseLost`` if one is not held)."""
    ledger.record(owner, [Outcome(s, EventState.DONE, note=note) for s in seqs], now, strict=True)


def record_failure(
    ledger: SqlLedger,
    owner: str,
    seq: int,
    error: ErrorInfo,
    now: datetime,
    retry_at: datetime | None,
) -> EventState:
    """Reschedule a held event to ``retry_at``, or dead-letter it when None; its state after."""
    state = EventState.PENDING if retry_at is not None else EventState.FAILED
    ledger.record(owner, [Outcome(seq, state, error=error, retry_at=retry_at)], now, strict=True)
    return get(ledger, seq).state  # superseded when its subject is being erased


def get(ledger: SqlLedger, seq: int) -> StoredEvent:
    """One event by its seq (``EventNotFound`` when there is none)."""
    with ledger._read() as cur:
        return ledger._get(cur, seq)


def pending_webhooks(ledger: SqlLedger, limit: int) -> list[tuple[str, dict[str, Any]]]:
    """Stored webhook events not yet processed, oldest first: (receipt key, event)."""
    with ledger._read() as cur:
        rows = ledger._exec(
            cur,
            "SELECT receipt_key, payload FROM hubspot_inbox WHERE state = 'pending' "
            "ORDER BY seq LIMIT ?",
            (limit,),
        ).fetchall()
    return [(r[0], json.loads(r[1])) for r in rows]
