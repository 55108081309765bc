"""Checks input must pass before it is stored: clear errors that quote no value.

Every intake (``POST /v1/events``, the register's outbox, ``hubsync submit``,
HubSpot's webhook items) runs these, so bad input is refused with a list of
problems by field name and nothing is stored. Each string is checked against
one of a few *kinds* of text, each with a length cap and a set of characters
that hubsync can store and compare safely on both ledger backends:

==========  ======  ==============================================================
kind        cap     refused
==========  ======  ==============================================================
id          200     empty, surrounding spaces, anything not printable (control and
                    format characters, lone surrogates, unassigned code points)
email       254     the same, any space, not ``local@domain.tld``; local part > 64
value       65,536  NUL and the other C0 controls but tab, newline and carriage
                    return; lone surrogates (HubSpot's cap on a text property)
label       1,000   as value (a legal basis, a reference)
==========  ======  ==============================================================

The caps are checked before anything else, and every check is a single pass
over the string in C (``str.isprintable``, one character-class search, string
splits), so the time taken grows linearly with the input and no pattern can
backtrack. Lone surrogates come from JSON such as ``"\\ud800"``; neither
SQLite nor PostgreSQL can store them, and PostgreSQL cannot store NUL.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from sync.model import Envelope
from sync.rules import rights

MAX_ID_LENGTH = 200
MAX_EMAIL_LENGTH = 254  # RFC 5321: a path holds at most 256 octets with its angle brackets
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321 section 4.5.3.1.1
MAX_VALUE_LENGTH = 65_536
"""HubSpot's limit on a text property's value set through the CRM API.

knowledge.hubspot.com/properties/property-field-types-in-hubspot: "When the
value is added through the CRM, the character limit is 65,536 characters."
"""
MAX_LABEL_LENGTH = 1_000
MAX_FIELD_NAME_LENGTH = 100
MAX_CHANGES = 100
MAX_SUBSCRIPTIONS = 100
MAX_WEBHOOK_EVENTS = 1000
"""Events in one webhook batch at most: HubSpot sends up to 100 (hubspot-2026.md); ten
times that is not HubSpot, and the bound caps the work one signed request can cause."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far enough; past 9999 a time cannot be stored
SCALARS = (str, int, float, bool, type(None))

# C0 controls but tab, newline and carriage return; DEL; every surrogate code unit.
UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def id_problem(value: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    """Why ``value`` cannot be an id (of an event, a subject, a subscription), or None."""
    if len(value) > max_length:
        return f"longer than {max_length} characters"
    if not value or value.isspace():
        return "must not be empty"
    if not value.isprintable():
        return "must hold printable characters only (no control characters or lone surrogates)"
    if value != value.strip():
        return "must not start or end with a space"
    return None


def email_problem(value: str) -> str | None:
    """Why ``value`` cannot be an email address, or None (a shape check, not RFC 5322)."""
    if len(value) > MAX_EMAIL_LENGTH:
        return f"longer than {MAX_EMAIL_LENGTH} characters"
    if not value.isprintable() or " " in value:
        return "not a valid email address (spaces, control characters or lone surrogates)"
    local, at, domain = value.partition("@")
    if not at or not local or "@" in domain or "." not in domain[1:-1]:
        return "not a valid email address"
    if len(local) > MAX_LOCAL_PART_LENGTH:
        return f"not a valid email address (local part longer than {MAX_LOCAL_PART_LENGTH})"
    return None


def text_problem(value: str, max_length: int = MAX_VALUE_LENGTH) -> str | None:
    """Why ``value`` cannot be stored as free text (a field value, a label), or None."""
    if len(value) > max_length:
        return f"longer than {max_length} characters"
    if not value.isprintable() and UNSTORABLE.search(value):
        return "must not hold NUL, other control characters or lone surrogates"
    return None


def value_problem(value: Any) -> str | None:
    """Why a field's new value cannot be stored, or None: scalars only, finite, safe text."""
    if not isinstance(value, SCALARS):
        return "must be a string, number, boolean or null"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, str):
        return text_problem(value)
    return None


def time_problem(value: datetime) -> str | None:
    """Why ``value`` cannot be an event's time, or None."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "must carry a time zone (e.g. 2026-11-27T10:00:00Z)"
    if not EARLIEST <= value < LATEST:
        return "must be between 1970 and 9000"
    return None


def problems(envelope: Envelope) -> list[str]:
    """Every problem with the envelope, by field name; empty when it is valid."""
    found: list[str] = []

    def check(name: str, problem: str | None) -> None:
        if problem is not None:
            found.append(f"{name}: {problem}")

    check("event_id", id_problem(envelope.event_id))
    check("subject_id", id_problem(envelope.subject_id))
    check("occurred_at", time_problem(envelope.occurred_at))
    if envelope.email is not None:
        check("email", email_problem(envelope.email))
    if envelope.legal_basis is not None:
        check("legal_basis", text_problem(envelope.legal_basis, MAX_LABEL_LENGTH))
    if envelope.reference is not None:
        check("reference", text_problem(envelope.reference, MAX_LABEL_LENGTH))
    if len(envelope.subscription_ids) > MAX_SUBSCRIPTIONS:
        found.append(f"subscription_ids: more than {MAX_SUBSCRIPTIONS}")
    else:
        for index, subscription in enumerate(envelope.subscription_ids):
            check(f"subscription_ids[{index}]", id_problem(subscription))
    found += _change_problems(envelope)
    no_basis = rights.missing_legal_basis(envelope.kind, envelope.legal_basis)
    if no_basis is not None:
        found.append(str(no_basis))
    return found


def _change_problems(envelope: Envelope) -> list[str]:
    changes = envelope.changes
    misfit = rights.changes_problem(envelope.kind, bool(changes))
    if misfit is not None:
        return [str(misfit)]
    if len(changes) > MAX_CHANGES:
        return [f"changes: more than {MAX_CHANGES} fields"]
    found: list[str] = []
    for index, (name, value) in enumerate(changes.items()):
        name_problem = id_problem(name, MAX_FIELD_NAME_LENGTH) if isinstance(name, str) else "?"
        if name_problem is not None:  # the name itself is not safe to show
            found.append(f"changes: the name of field {index + 1} is invalid ({name_problem})")
            continue
        problem = value_problem(value)
        if problem is not None:
            found.append(f"changes.{name}: {problem}")
    return found
