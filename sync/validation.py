"""Checks an envelope must pass before it is stored: clear errors that quote no value.

Every intake (CLI, register webhook, outbox) runs these, so bad input is
refused with a list of problems by field name and nothing is stored.
"""

from __future__ import annotations

import re

from sync.model import Envelope, EventKind

MAX_ID_LENGTH = 200
MAX_CHANGES = 100
EMAIL_SHAPE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
SCALARS = (str, int, float, bool, type(None))


def problems(envelope: Envelope) -> list[str]:
    """Every problem with the envelope, by field name; empty when it is valid."""
    found: list[str] = []
    for name, value in (("event_id", envelope.event_id), ("subject_id", envelope.subject_id)):
        if not value or not value.strip():
            found.append(f"{name}: must not be empty")
        elif len(value) > MAX_ID_LENGTH:
            found.append(f"{name}: longer than {MAX_ID_LENGTH} characters")
    if envelope.occurred_at.tzinfo is None:
        found.append("occurred_at: must carry a time zone (e.g. 2026-11-27T10:00:00Z)")
    if envelope.email is not None and not EMAIL_SHAPE.match(envelope.email):
        found.append("email: not a valid email address")
    if envelope.kind is EventKind.RECTIFICATION and not envelope.changes:
        found.append("changes: a rectification needs at least one field")
    if envelope.kind is not EventKind.RECTIFICATION and envelope.changes:
        found.append(f"changes: only a rectification carries changes, not {envelope.kind.value}")
    if len(envelope.changes) > MAX_CHANGES:
        found.append(f"changes: more than {MAX_CHANGES} fields")
    for field, value in envelope.changes.items():
        if not isinstance(value, SCALARS):
            found.append(f"changes.{field}: must be a string, number, boolean or null")
    if envelope.kind is EventKind.MARKETING_OPT_IN and not envelope.legal_basis:
        found.append("legal_basis: a marketing opt-in needs an explicit legal basis")
    return found
