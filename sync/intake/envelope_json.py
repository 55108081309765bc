"""Event envelopes from their JSON form (DESIGN.md section 6), with problems by field.

``/v1/events`` reads register events with this: every problem of every
event is reported at once, by field name (``events[2].email: ...``), and no
message ever quotes a value. ``sync.rules.input.problems`` then applies the
domain checks to each envelope that has the right shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.model import Envelope, EventId, EventKind, SubjectId
from sync.rules.input import problems

FIELDS = frozenset(
    {
        "event_id", "kind", "subject_id", "occurred_at", "email", "changes",
        "subscription_ids", "legal_basis", "reference",
    }
)  # fmt: skip
KINDS = ", ".join(k.value for k in EventKind)
MAX_NAME_SHOWN = 60
MAX_EVENTS = 1000
MAX_TIME_LENGTH = 64
MAX_PROBLEMS = 100


def _name(key: object) -> str:
    """A field name as shown in a problem: printable, and cut short."""
    text = key if isinstance(key, str) else repr(type(key).__name__)
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= MAX_NAME_SHOWN else text[:MAX_NAME_SHOWN] + "..."


def _text(data: dict[str, Any], name: str, found: list[str], *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            found.append(f"{name}: is required")
        return None
    if not isinstance(value, str):
        found.append(f"{name}: must be a string")
        return None
    return value


def _occurred_at(data: dict[str, Any], found: list[str]) -> datetime | None:
    text = _text(data, "occurred_at", found, required=True)
    if text is None:
        return None
    if len(text) > MAX_TIME_LENGTH:
        found.append(f"occurred_at: longer than {MAX_TIME_LENGTH} characters")
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        found.append("occurred_at: must be an ISO 8601 time (e.g. 2026-11-27T10:00:00Z)")
        return None


def _kind(data: dict[str, Any], found: list[str]) -> EventKind | None:
    text = _text(data, "kind", found, required=True)
    if text is None:
        return None
    try:
        return EventKind(text)
    except ValueError:
        found.append(f"kind: must be one of {KINDS}")
        return None


def _subscription_ids(data: dict[str, Any], found: list[str]) -> tuple[str, ...]:
    value = data.get("subscription_ids")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        found.append("subscription_ids: must be an array of strings")
        return ()
    return tuple(value)


def envelope_from_json(data: Any, *, rules: bool = True) -> tuple[Envelope | None, list[str]]:
    """An envelope and no problems, or None and every problem found (by field name).

    ``rules=False`` checks the shape only, not ``sync.rules.input`` (a
    register reading what hubsync sends it applies its own rules).
    """
    if not isinstance(data, dict):
        return None, ["must be a JSON object"]
    found = [f"{_name(k)}: unknown field" for k in data if k not in FIELDS]
    event_id = _text(data, "event_id", found, required=True)
    subject_id = _text(data, "subject_id", found, required=True)
    kind = _kind(data, found)
    occurred_at = _occurred_at(data, found)
    email = _text(data, "email", found, required=False)
    legal_basis = _text(data, "legal_basis", found, required=False)
    reference = _text(data, "reference", found, required=False)
    changes = data.get("changes")
    if changes is None:
        changes = {}
    elif not isinstance(changes, dict):
        found.append("changes: must be an object of field names to values")
        changes = {}
    subscription_ids = _subscription_ids(data, found)
    if found or event_id is None or subject_id is None or kind is None or occurred_at is None:
        return None, found
    envelope = Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=SubjectId(subject_id),
        occurred_at=occurred_at,
        email=email,
        changes=dict(changes),
        subscription_ids=subscription_ids,
        legal_basis=legal_basis,
        reference=reference,
    )
    domain = problems(envelope) if rules else []
    return (None, domain) if domain else (envelope, [])


def envelopes_from_json(document: Any) -> tuple[list[Envelope], list[str]]:
    """One event object or ``{"events": [...]}``: the envelopes, or the problems by field.

    At most ``MAX_PROBLEMS`` problems are listed, then how many more there were.
    """
    envelopes, found = _envelopes(document)
    if len(found) > MAX_PROBLEMS:
        more = len(found) - MAX_PROBLEMS
        found = [*found[:MAX_PROBLEMS], f"... and {more} more problems"]
    return envelopes, found


def _envelopes(document: Any) -> tuple[list[Envelope], list[str]]:
    if isinstance(document, dict) and "events" in document:
        extra = [f"{_name(k)}: unknown field" for k in document if k != "events"]
        items = document["events"]
        if not isinstance(items, list):
            return [], ["events: must be an array of events", *extra]
        if not items:
            return [], ["events: must hold at least one event", *extra]
        if len(items) > MAX_EVENTS:
            return [], [f"events: at most {MAX_EVENTS} events per request", *extra]
        envelopes: list[Envelope] = []
        found = list(extra)
        for index, item in enumerate(items):
            envelope, item_problems = envelope_from_json(item)
            where = f"events[{index}]"
            found.extend(
                f"{where}: {p}" if p.startswith("must") else f"{where}.{p}" for p in item_problems
            )
            if envelope is not None:
                envelopes.append(envelope)
        return (envelopes, []) if not found else ([], found)
    envelope, found = envelope_from_json(document)
    return ([envelope], []) if envelope is not None else ([], found)
