"""The JSON forms the register connectors exchange: envelopes, events and results.

An event travels as the envelope of DESIGN.md section 6 plus its ``origin``
and ``direction``; a register answers a batch with one result per event id:
``{"event_id", "status": "applied" | "absent" | "error", "code"?, "retryable"?}``.
Parsing raises ``ValueError`` with messages that name fields, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sync.errors import PermanentError
from sync.intake.envelope_json import envelope_from_json
from sync.model import (
    Direction,
    Envelope,
    Origin,
    StoredEvent,
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
    """The envelope as DESIGN.md section 6 shows it.

    An opt-out HubSpot holds for one brand only (a business unit's
    unsubscribe-all, found by the subscription check) adds
    ``business_unit_id``: the register records it for that brand, not as an
    opt-out from all email. Other envelopes do not carry the key.
    """
    brand = (
        {} if envelope.business_unit_id is None else {"business_unit_id": envelope.business_unit_id}
    )
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
        **brand,
    }


def _business_unit_id(data: Mapping[str, Any]) -> int | None:
    """The optional ``business_unit_id``: a brand id (0 or more); ``ValueError`` otherwise."""
    value = data.get("business_unit_id")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("business_unit_id: must be a whole number, 0 or more")
    return value


def _required_str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be a non-empty string")
    return value


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
    """Parse an event sent to a register (the reference register's side of the wire).

    The envelope is read by ``sync.intake.envelope_json``, the one parser of
    envelopes, for its shape only: the register applies its own rules (an
    opt-in without a legal basis is its to refuse). ``ValueError`` lists the
    problems by field name.
    """
    if not isinstance(data, Mapping):
        raise ValueError("event: must be a JSON object")
    try:
        origin = Origin(_required_str(data, "origin"))
        direction = Direction(_required_str(data, "direction"))
    except ValueError as exc:
        if "must be" in str(exc):
            raise
        raise ValueError("origin or direction: not a known value") from None
    brand = _business_unit_id(data)
    fields = {k: v for k, v in data.items() if k not in ("origin", "direction", "business_unit_id")}
    envelope, problems = envelope_from_json(fields, rules=False)
    if envelope is None:
        raise ValueError("; ".join(problems))
    return replace(envelope, business_unit_id=brand), origin, direction


def safe_code(value: Any, default: str = "register_error") -> str:
    """A register's error code when it is a short lower_snake identifier, else ``default``."""
    return value if isinstance(value, str) and SAFE_CODE.match(value) else default
