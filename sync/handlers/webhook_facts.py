"""The facts a HubSpot change is decided on (``rules.webhook.Facts``), read for a leased batch.

``FactReader`` reads what ``sync.rules.webhook`` needs and nothing it does
not: for a batch, the subject map of its property changes' contacts and
which of their values hubsync wrote (two queries), and, for fields both
systems may change, when the register last changed them (one more); per
change, what its kind needs (the suppression list for an address or a
contact, a created contact's address, read once a round, the erasure state
of a deleted contact's subjects). ``InboxRound`` holds what was read and
what the round's verdicts produce, until ``from_hubspot`` commits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from sync.audit import AuditEntry, Pseudonymizer
from sync.model import (
    Authority,
    ChangeKind,
    Direction,
    HubSpotChange,
    NewEvent,
    SubjectId,
    SubjectRecord,
)
from sync.ports import EchoMarks, FieldHistory, Fields, HubSpot, SubjectMap, Suppressions
from sync.rules import echo, webhook
from sync.rules.webhook import Facts


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One leased webhook event: its receipt key and the change it holds (None: unreadable)."""

    key: str
    change: HubSpotChange | None
    problem: str | None = None


@dataclass
class InboxRound:
    """One leased batch: its items, what was read for all of them, what their verdicts produced.

    ``subjects`` (the subject map of the batch's contacts, read in one query)
    and ``written`` (which of the batch's values hubsync wrote, from the
    ``marks`` of its property changes by receipt key) are read first;
    ``linked`` names the contacts linked by email this round. The rest
    is what the round will commit: events, audit rows, counters, the opt-outs
    (merged per subject at the end, ``rules.webhook.distinct_opt_outs``).
    ``records`` and ``contacts`` keep what was read of a subject or (whether it
    exists, its address) of a HubSpot contact, for the verdicts that follow;
    ``erased_again`` the contacts whose re-erasure this round queued;
    ``register_changes`` when the register last changed each field of the
    subjects in ``history_read`` (for fields both systems may change).
    """

    items: list[InboxItem] = field(default_factory=list)
    subjects: dict[str, list[SubjectId]] = field(default_factory=dict)
    marks: dict[str, echo.WriteMark | None] = field(default_factory=dict)
    written: set[tuple[str, str, str]] = field(default_factory=set)
    linked: set[str] = field(default_factory=set)
    records: dict[SubjectId, SubjectRecord | None] = field(default_factory=dict)
    contacts: dict[str, tuple[bool, str | None]] = field(default_factory=dict)
    erased_again: set[str] = field(default_factory=set)
    register_changes: dict[tuple[SubjectId, str], datetime] = field(default_factory=dict)
    history_read: set[SubjectId] = field(default_factory=set)
    events: list[NewEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    opt_outs: list[tuple[HubSpotChange, webhook.RegisterEvent]] = field(default_factory=list)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def mark(self) -> tuple[int, int, int, dict[str, int], frozenset[str]]:
        """Where the round's outputs stand, to drop what one event adds if it fails."""
        outputs = (len(self.events), len(self.audit), len(self.opt_outs))
        return (*outputs, dict(self.counts), frozenset(self.erased_again))

    def rewind(self, mark: tuple[int, int, int, dict[str, int], frozenset[str]]) -> None:
        """Drop the outputs added since ``mark``."""
        events, audit, opt_outs, counts, erased_again = mark
        del self.events[events:], self.audit[audit:], self.opt_outs[opt_outs:]
        self.counts = counts
        self.erased_again = set(erased_again)

    def forget(self, contact_ids: Sequence[str]) -> None:
        """Drop what was read of these contacts' subjects: the map changed under it."""
        for contact_id in contact_ids:
            self.subjects.pop(contact_id, None)
            self.linked.discard(contact_id)


class FactsLedger(SubjectMap, Suppressions, EchoMarks, FieldHistory, Protocol):
    """The ledger's roles the facts come from."""


class FactReader:
    """Reads the facts of a batch and of each change in it; decides nothing."""

    def __init__(
        self, *, ledger: FactsLedger, hubspot: HubSpot, fields: Fields, pseudonymizer: Pseudonymizer
    ) -> None:
        self._ledger = ledger
        self._hubspot = hubspot
        self._fields = fields
        self._pseudonymizer = pseudonymizer

    def prefetch(self, changes: Sequence[HubSpotChange], now: datetime) -> InboxRound:
        """A round with the subject map and echo marks of its property changes, in two reads."""
        work = InboxRound()
        edits = [
            c
            for c in changes
            if c.kind is ChangeKind.PROPERTY_CHANGED and c.object_id and c.property_name
        ]
        if edits:
            contacts = [c.object_id for c in edits if c.object_id]
            found = self._ledger.subjects_for_contacts(contacts)
            work.subjects = {contact: found.get(contact, []) for contact in contacts}
            digest = self._pseudonymizer.value
            work.marks = {c.receipt_key: echo.change_mark(c, digest) for c in edits}
            marks = [m for m in work.marks.values() if m is not None]
            work.written = self._ledger.written_recently(marks, now)
            shared = [c.object_id for c in edits if self._shared(c) and c.object_id]
            self._read_history([s for c in shared for s in work.subjects.get(c, ())], work)
        return work

    def _shared(self, change: HubSpotChange) -> bool:
        """Whether the change is of a field both systems may change (last writer wins)."""
        mapping = self._fields.by_property(change.property_name or "")
        return mapping is not None and mapping.authority is Authority.BOTH

    def _read_history(self, subjects: Sequence[SubjectId], work: InboxRound) -> None:
        """When the register last changed each field of these subjects (once a round each)."""
        if work.history_read.issuperset(subjects):
            return
        unread = sorted(set(subjects) - work.history_read)
        if unread:
            found = self._ledger.last_rectified(unread, Direction.TO_HUBSPOT)
            work.register_changes.update(found)
            work.history_read.update(unread)

    def facts(self, change: HubSpotChange, work: InboxRound) -> Facts:
        """What ``rules.webhook`` needs to decide this change, read for its kind."""
        contact = change.object_id
        if contact is None:
            return Facts()
        kind = change.kind
        if kind is ChangeKind.PROPERTY_CHANGED:
            return self._property_facts(change, contact, work)
        if kind is ChangeKind.ERASED:
            return self._deletion_facts(contact, work)
        if kind is ChangeKind.ARCHIVED:
            return self._archive_facts(contact, work)
        if kind is ChangeKind.CREATED:
            exists, email = self.contact(contact, work)
            return Facts(
                contact_gone=not exists,
                contact_email=email,
                email_suppressed=bool(email) and self._email_suppressed(email or ""),
                contact_suppressed=self._contact_suppressed(contact, work),
                subjects=self._linked(contact, work),
            )
        return Facts()

    def _deletion_facts(self, contact: str, work: InboxRound) -> Facts:
        """An erasure's or an archive's: suppressed, or the map's subjects and their erasure."""
        if self._contact_suppressed(contact, work):
            return Facts(contact_suppressed=True)
        subjects = self._ledger.subjects_for_contact(contact)
        records = {s: self._ledger.subject(s) for s in subjects}
        work.records.update(records)
        erasing = frozenset(s for s, r in records.items() if r and r.erasure is not None)
        return Facts(subjects=tuple(subjects), erasing=erasing)

    def _archive_facts(self, contact: str, work: InboxRound) -> Facts:
        """A deletion's: a deletion's facts, and whether HubSpot still holds it archived.

        A GDPR delete sends a deletion too (hubspot-2026.md section 2); only an
        archived contact can be read back with ``archived=true``. Asked only
        when someone would be told of an archive.
        """
        facts = self._deletion_facts(contact, work)
        if facts.contact_suppressed or not facts.subjects:
            return facts
        held = self._hubspot.get_contact(contact, archived=True) is not None
        return replace(facts, contact_gone=not held)

    def _property_facts(self, change: HubSpotChange, contact: str, work: InboxRound) -> Facts:
        if change.receipt_key in work.marks:
            mark = work.marks[change.receipt_key]
        else:
            mark = echo.change_mark(change, self._pseudonymizer.value)
        mapping = self._fields.by_property(change.property_name or "")
        value = change.property_value or ""
        email_suppressed = change.changes_email and bool(value) and self._email_suppressed(value)
        subjects = self._subjects(contact, work)
        changed_at: dict[SubjectId, datetime] = {}
        if mapping is not None and subjects and self._shared(change):
            self._read_history(subjects, work)
            for subject in subjects:
                at = work.register_changes.get((subject, mapping.field))
                if at is not None:
                    changed_at[subject] = at
        return Facts(
            mapped=None if mapping is None else webhook.Mapped(mapping.field, mapping.authority),
            written=mark in work.written,
            subjects=subjects,
            register_changed_at=changed_at,
            email_suppressed=email_suppressed,
            contact_suppressed=email_suppressed and self._contact_suppressed(contact, work),
        )

    def _subjects(self, contact: str, work: InboxRound) -> tuple[SubjectId, ...] | None:
        """The contact's subjects in the map; None when it has none and was not linked yet."""
        subjects = work.subjects.get(contact)
        if subjects is None:
            subjects = work.subjects[contact] = self._ledger.subjects_for_contact(contact)
        if subjects or contact in work.linked:
            return tuple(subjects)
        return None

    def _linked(self, contact: str, work: InboxRound) -> tuple[SubjectId, ...] | None:
        """The subjects this round linked the contact to by email (None: not linked yet)."""
        return tuple(work.subjects.get(contact, ())) if contact in work.linked else None

    def contact(self, contact: str, work: InboxRound) -> tuple[bool, str | None]:
        """Whether HubSpot has the contact, and its address (read once a round)."""
        if contact not in work.contacts:
            found = self._hubspot.get_contact(contact, properties=["email"])
            email = found.properties.get("email") if found else None
            work.contacts[contact] = (found is not None, email)
        return work.contacts[contact]

    def _email_suppressed(self, email: str) -> bool:
        return self._ledger.is_suppressed(self._pseudonymizer.email(email))

    def _contact_suppressed(self, contact_id: str, work: InboxRound) -> bool:
        """Whether the contact is suppressed, or this round queued its re-erasure."""
        if contact_id in work.erased_again:
            return True
        return self._ledger.is_suppressed(self._pseudonymizer.contact(contact_id))
