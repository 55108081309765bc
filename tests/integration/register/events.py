"""Builders for the register tests: stored events as the ledger would hand them over."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sync.model import (
    Direction,
    Envelope,
    EventId,
    EventKind,
    EventState,
    Origin,
    StoredEvent,
    SubjectId,
)
from tests.conftest import T0


def stored(
    seq: int,
    kind: EventKind,
    subject_id: str,
    *,
    event_id: str | None = None,
    origin: Origin = Origin.HUBSPOT,
    direction: Direction = Direction.TO_REGISTER,
    scrubbed: bool = False,
    **fields: Any,
) -> StoredEvent:
    """A held register-bound event (``fields`` are the envelope's: changes, legal_basis...)."""
    envelope = Envelope(
        event_id=EventId(event_id or f"hs-{seq}"),
        kind=kind,
        subject_id=SubjectId(subject_id),
        occurred_at=T0 + timedelta(seconds=seq),
        **fields,
    )
    return StoredEvent(
        seq=seq,
        event_id=envelope.event_id,
        origin=origin,
        direction=direction,
        kind=kind,
        subject_id=envelope.subject_id,
        state=EventState.IN_PROGRESS,
        attempts=0,
        occurred_at=envelope.occurred_at,
        received_at=T0,
        due_at=T0 + timedelta(days=30),
        next_attempt_at=T0,
        field_names=envelope.field_names(),
        payload=None if scrubbed else envelope.payload(),
    )


def register_side(event_id: str, kind: EventKind, subject_id: str, **fields: Any) -> Envelope:
    """An envelope for a change made in the register itself."""
    return Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=SubjectId(subject_id),
        occurred_at=T0,
        **fields,
    )
