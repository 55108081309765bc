"""The JSON forms the register connectors exchange: envelopes, events and results.

An event travels as the envelope of DESIGN.md section 6 plus its ``origin``
and ``direction``; a register answers a batch with one result per event id:
``{"event_id", "status": "applied" | "absent" | "error", "code"?, "retryable"?}``.
Parsing raises ``ValueError`` with messages that name fields, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sync.errors import PermanentError
from sync.model import (
    Direction,
    Envelope,
    EventId,
    EventKind,
    Origin,
    StoredEvent,
    SubjectId,
)
from sync.rules import rights
from sync.timefmt import iso_utc

SAFE_CODE = re.compile(r"^[a-z0-9_]{1,64}$")
"""What an error code from a register must look like to be kept (else ``register_error``)."""


def parse_time(value: Any, name: str) -> datetime:
    """An ISO 8601 timestamp with a time zone; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 timestamp") from None
    else:
        raise ValueError(f"{name}: must be a timestamp string")
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: must carry a time zone")
    return parsed


def envelope_to_json(envelope: Envelope) -> dict[str, Any]:
    """The envelope as DESIGN.md section 6 shows it."""
    return {
        "event_id": envelope.event_id,
        "kind": envelope.kind.value,
        "subject_id": envelope.subject_id,
        "email": envelope.email,
        "changes": dict(envelope.changes),
        "subscription_ids": list(envelope.subscription_ids),
        "legal_basis": envelope.legal_basis,
        "reference": envelope.reference,
        "occurred_at": iso_utc(envelope.occurred_at),
    }


def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name}: must be a string or null")
    return value


def _required_str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be a non-empty string")
    return value


def envelope_from_json(data: Any) -> Envelope:
    """Parse an envelope; ``ValueError`` naming the first bad field."""
    if not isinstance(data, Mapping):
        raise ValueError("event: must be a JSON object")
    kind_name = _required_str(data, "kind")
    try:
        kind = EventKind(kind_name)
    except ValueError:
        raise ValueError("kind: not a known event kind") from None
    changes = data.get("changes") or {}
    if not isinstance(changes, Mapping) or not all(isinstance(k, str) for k in changes):
        raise ValueError("changes: must be an object of field names")
    subscriptions = data.get("subscription_ids") or []
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
        raise ValueError("subscription_ids: must be a list of strings")
    return Envelope(
        event_id=EventId(_required_str(data, "event_id")),
        kind=kind,
        subject_id=SubjectId(_required_str(data, "subject_id")),
        occurred_at=parse_time(data.get("occurred_at"), "occurred_at"),
        email=_optional_str(data, "email"),
        changes=dict(changes),
        subscription_ids=tuple(subscriptions),
        legal_basis=_optional_str(data, "legal_basis"),
        reference=_optional_str(data, "reference"),
    )


def register_envelope(event: StoredEvent) -> Envelope:
    """The envelope of a register-bound event, ready to apply.

    Raises ``PermanentError`` when the event is not bound for the register,
    or when its payload was scrubbed and its kind needs it (an erasure or an
    opt-out needs only the subject id, so a scrubbed one still applies).
    """
    if event.direction is not Direction.TO_REGISTER:
        raise PermanentError(
            f"event {event.event_id} is bound for {event.direction.value}, not the register",
            code="not_register_bound",
        )
    if event.payload is None:
        if event.kind in rights.NEEDS_PAYLOAD:
            raise PermanentError(
                f"event {event.event_id} ({event.kind.value}) has no payload any more",
                code="payload_scrubbed",
            )
        return Envelope(event.event_id, event.kind, event.subject_id, event.occurred_at)
    return event.envelope()


def event_to_json(event: StoredEvent, envelope: Envelope) -> dict[str, Any]:
    """A register-bound event on the wire: its envelope, origin and direction."""
    return {
        **envelope_to_json(envelope),
        "origin": event.origin.value,
        "direction": event.direction.value,
    }


def event_from_json(data: Any) -> tuple[Envelope, Origin, Direction]:
    """Parse an event sent to a register (the reference register's side of the wire)."""
    envelope = envelope_from_json(data)
    try:
        origin = Origin(_required_str(data, "origin"))
        direction = Direction(_required_str(data, "direction"))
    except ValueError as exc:
        if "must be" in str(exc):
            raise
        raise ValueError("origin or direction: not a known value") from None
    return envelope, origin, direction


def safe_code(value: Any, default: str = "register_error") -> str:
    """A register's error code when it is a short lower_snake identifier, else ``default``."""
    return value if isinstance(value, str) and SAFE_CODE.match(value) else default
