"""The audit log: what was transferred, by whom, with which outcome, never what.

One row per transfer of personal data and per operator action. A row names
the subject only by a pseudonym (a keyed HMAC), the fields only by name and
data category, and HubSpot's answer only by status and correlation id. Rows
form a hash chain: each carries a hash over its own content and the previous
row's hash, so a row changed or deleted by hand is found by ``audit verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sync.errors import SyncError
from sync.model import StoredEvent
from sync.timefmt import iso_utc

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first row."""

HUBSYNC = "hubsync"
"""The ``system`` of a row about hubsync's own ledger (intake, operator actions)."""


class AuditAction:
    """Stable, past-tense names of audited actions."""

    EVENT_SUBMITTED = "event_submitted"
    EVENT_REPLAYED = "event_replayed"
    EVENT_SKIPPED = "event_skipped"
    DEADLINE_EXTENDED = "deadline_extended"
    SUPPRESSION_LIFTED = "suppression_lifted"
    WEBHOOKS_REPLAYED = "webhooks_replayed"
    WEBHOOKS_SKIPPED = "webhooks_skipped"
    OUTBOX_ROWS_SKIPPED = "outbox_rows_skipped"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit row before it is chained. Every field is free of personal data."""

    at: datetime
    actor: str
    action: str
    direction: str
    system: str
    subject_pseudonym: str | None
    kind: str | None
    event_id: str | None
    outcome: str
    field_names: tuple[str, ...] = ()
    data_categories: tuple[str, ...] = ()
    http_status: int | None = None
    correlation_id: str | None = None
    attempt: int | None = None
    detail: str | None = None


EXPORT_FIELDS = ["seq", *(f.name for f in fields(AuditEntry)), "prev_hash", "row_hash"]
"""Columns of an audit export, in order."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """An audit row as stored: the entry, its position and its chain hashes."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    row_hash: str

    def as_dict(self) -> dict[str, Any]:
        """Flat JSON form for export."""
        data = content_of(self.seq, self.entry)
        data["prev_hash"] = self.prev_hash
        data["row_hash"] = self.row_hash
        return data


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What ``audit verify`` found."""

    ok: bool
    rows: int
    first_bad_row: int | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as ``audit verify --json`` prints it."""
        return {
            "ok": self.ok,
            "rows": self.rows,
            "first_bad_row": self.first_bad_row,
            "reason": self.reason,
        }


def content_of(seq: int, entry: AuditEntry) -> dict[str, Any]:
    """The hashed content of a row, as plain JSON values."""
    data = asdict(entry)
    data["at"] = iso_utc(entry.at)
    data["field_names"] = list(entry.field_names)
    data["data_categories"] = list(entry.data_categories)
    return {"seq": seq, **data}


def chain_hash(prev_hash: str, seq: int, entry: AuditEntry) -> str:
    """SHA-256 over the previous row's hash and this row's canonical JSON content."""
    canonical = json.dumps(content_of(seq, entry), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def verify_chain(rows: list[AuditRow], head: tuple[int, str] | None) -> VerifyResult:
    """Check sequence, links and hashes; name the first row that does not hold.

    ``head`` is the (seq, hash) the ledger recorded with the last append; a
    chain whose tail was cut off no longer reaches it.
    """
    prev = GENESIS_HASH
    expected_seq = 1
    for row in rows:
        if row.seq != expected_seq:
            return VerifyResult(False, len(rows), expected_seq, "row missing")
        if row.prev_hash != prev:
            return VerifyResult(False, len(rows), row.seq, "link to previous row broken")
        if chain_hash(row.prev_hash, row.seq, row.entry) != row.row_hash:
            return VerifyResult(False, len(rows), row.seq, "row content changed")
        prev = row.row_hash
        expected_seq += 1
    last = (rows[-1].seq, rows[-1].row_hash) if rows else (0, GENESIS_HASH)
    if head is not None and head != last:
        bad = min(head[0], last[0] + 1)
        return VerifyResult(False, len(rows), bad, "chain head does not match the last row")
    return VerifyResult(True, len(rows), None)


class Pseudonymizer:
    """Keyed HMAC-SHA256 pseudonyms for subjects, emails and contact ids.

    The same key yields the same pseudonym on every worker, so audit rows and
    the suppression list can be joined without holding the identifier.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must be at least 16 bytes")
        self._key = key

    def _digest(self, namespace: str, value: str) -> str:
        message = f"{namespace}:{value}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def subject(self, subject_id: str) -> str:
        """Pseudonym of a register subject id."""
        return "sub_" + self._digest("subject", subject_id)[:32]

    def email(self, email: str) -> str:
        """Digest of an email address, normalised (NFKC, trimmed, lower case)."""
        normalised = unicodedata.normalize("NFKC", email).strip().lower()
        return self._digest("email", normalised)

    def contact(self, contact_id: str) -> str:
        """Digest of a HubSpot contact id."""
        return self._digest("contact", contact_id.strip())

    def value(self, name: str, value: str) -> str:
        """Digest of a property value (echo marks: what hubsync wrote, never the value)."""
        return self._digest(f"value:{name}", value)


AuditBuilder = Callable[[StoredEvent], AuditEntry]
"""Builds the audit row of an operator action on one event, inside its transaction."""

CountAuditBuilder = Callable[[int], AuditEntry]
"""Builds the audit row of an operator action on many rows from how many changed, inside its
transaction (``inbox replay``, ``inbox skip``)."""


def event_entry(
    event: StoredEvent,
    action: str,
    outcome: str,
    *,
    at: datetime,
    actor: str,
    pseudonymizer: Pseudonymizer,
    system: str = HUBSYNC,
    field_names: Sequence[str] | None = None,
    data_categories: Sequence[str] = (),
    error: SyncError | None = None,
    detail: str | None = None,
) -> AuditEntry:
    """The audit row about one stored event: its intake, an operator's action on it, a transfer.

    The event gives the direction, kind, id, attempt and (unless
    ``field_names`` narrows them) the field names; the subject appears only
    as its pseudonym. An ``error`` gives HubSpot's or the register's status,
    correlation id and, without a ``detail``, the error's code.
    """
    return AuditEntry(
        at=at,
        actor=actor,
        action=action,
        direction=event.direction.value,
        system=system,
        subject_pseudonym=pseudonymizer.subject(event.subject_id),
        kind=event.kind.value,
        event_id=event.event_id,
        outcome=outcome,
        field_names=tuple(event.field_names if field_names is None else field_names),
        data_categories=tuple(data_categories),
        http_status=error.http_status if error else None,
        correlation_id=error.correlation_id if error else None,
        attempt=event.attempts,
        detail=detail if detail is not None or error is None else error.code,
    )


def event_builder(
    action: str,
    *,
    at: datetime,
    actor: str,
    pseudonymizer: Pseudonymizer,
    detail: str | None = None,
) -> AuditBuilder:
    """The builder the ledger calls inside its transaction: the row's outcome is the new state."""

    def build(event: StoredEvent) -> AuditEntry:
        return event_entry(
            event,
            action,
            event.state.value,
            at=at,
            actor=actor,
            pseudonymizer=pseudonymizer,
            detail=detail,
        )

    return build


def action_entry(
    action: str,
    outcome: str,
    *,
    at: datetime,
    actor: str,
    direction: str = "none",
    system: str = HUBSYNC,
    subject_pseudonym: str | None = None,
    kind: str | None = None,
    event_id: str | None = None,
    field_names: Sequence[str] = (),
    data_categories: Sequence[str] = (),
    detail: str | None = None,
) -> AuditEntry:
    """The audit row of an action on no stored event: an export, a lifted suppression, the inbox.

    The caller names the subject only by its pseudonym, if at all.
    """
    return AuditEntry(
        at=at,
        actor=actor,
        action=action,
        direction=direction,
        system=system,
        subject_pseudonym=subject_pseudonym,
        kind=kind,
        event_id=event_id,
        outcome=outcome,
        field_names=tuple(field_names),
        data_categories=tuple(data_categories),
        detail=detail,
    )


def submitted_entry(
    event: StoredEvent, *, actor: str, at: datetime, pseudonymizer: Pseudonymizer
) -> AuditEntry:
    """The audit row of an event taken into the ledger (intake, register outbox)."""
    return event_builder(
        AuditAction.EVENT_SUBMITTED, at=at, actor=actor, pseudonymizer=pseudonymizer
    )(event)
