"""HubSpot to register: turns stored webhook events into ledger events and guarded actions.

The intake stores each webhook event in the ledger's inbox before it answers
204; this module leases them, in arrival order, and decides what each means
(DESIGN.md sections 2 and 4):

=========================  ===================================================
HubSpot event              what hubsync does
=========================  ===================================================
an echo of its own write   nothing (counted): ``source_id`` is hubsync's app
                           id, or the value is one hubsync wrote recently
``propertyChange``,        a ``rectification`` for the register when the
mapped property            field's authority allows it; when the register is
                           the authority, a rectification back to HubSpot
                           with the register's value (``hubspot_change_reverted``)
``hs_email_optout(_<id>)`` a ``marketing_opt_out`` for the register
= ``true``
``privacyDeletion``        an ``erasure`` for the register (the register's
                           settings say apply or notify); the subject is
                           suppressed at once
``deletion`` (archive)     a ``contact_archived`` notice, not an erasure
``merge``                  the subject map is re-keyed; two register subjects
                           on one contact raise a ``merge_conflict`` notice
``creation``, or an email  erased again in HubSpot when it matches the
matching the suppression   suppression list (``resurrection_blocked``: audit
list                       row, counter, log event, notice)
=========================  ===================================================

Everything is idempotent: an event id is derived from the webhook's receipt
key, so a worker killed between taking an inbox row and finishing it does the
same again after restart and the ledger drops the duplicates.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from sync.audit import AuditEntry, Pseudonymizer
from sync.errors import PermanentError, RetryableError, SubjectAbsent, SyncError
from sync.model import (
    Authority,
    ChangeKind,
    Direction,
    Envelope,
    EventId,
    EventKind,
    HubSpotChange,
    HubSpotContactId,
    NewEvent,
    NoticeKind,
    OptOutChange,
    Origin,
    RegisterNotice,
    SubjectId,
)
from sync.ports import Clock, Fields, HubSpot, Ledger, Register

log = structlog.get_logger("hubsync.inbound")

ParseChange = Callable[[dict[str, Any]], HubSpotChange]


class Counter:
    """Names of the shared counters this module adds to (``Ledger.add_counts``)."""

    ECHOES = "webhook_echoes_dropped"
    RESURRECTIONS = "resurrections_blocked"


@dataclass
class _Round:
    """What one round gathered: events to store, audit rows, counters."""

    events: list[NewEvent] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    opt_outs: list[tuple[HubSpotChange, SubjectId, str | None]] = field(default_factory=list)
    # Read once for the whole batch: the subject map of its contacts, and which
    # of its property values hubsync wrote itself.
    subjects: dict[str, list[SubjectId]] = field(default_factory=dict)
    echoes: set[tuple[str, str, str]] = field(default_factory=set)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def forget(self, contact_ids: Iterable[str]) -> None:
        """Drop what was read of these contacts' subjects: the map changed under it."""
        for contact_id in contact_ids:
            self.subjects.pop(contact_id, None)

    def opt_out_events(self) -> list[NewEvent]:
        """The opt-outs seen, one per subject and subscription.

        An unsubscribe from all email changes ``hs_email_optout`` and every
        ``hs_email_optout_<id>`` at once; the register hears one opt-out
        from all, not one per subscription type.
        """
        from_all = {subject for _, subject, sub in self.opt_outs if sub is None}
        seen: set[tuple[SubjectId, str | None]] = set()
        events: list[NewEvent] = []
        for change, subject, sub in self.opt_outs:
            if (sub is not None and subject in from_all) or (subject, sub) in seen:
                continue
            seen.add((subject, sub))
            envelope = _event(
                change, subject, EventKind.MARKETING_OPT_OUT, subscription_ids=(sub,) if sub else ()
            )
            events.append(NewEvent(envelope, Origin.HUBSPOT, Direction.TO_REGISTER))
        return events


class HubSpotInbound:
    """Processes the webhook inbox, round after round (called from the worker's loop)."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        hubspot: HubSpot,
        register: Register,
        fields: Fields,
        pseudonymizer: Pseudonymizer,
        clock: Clock,
        parse: ParseChange,
        owner: str,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._ledger = ledger
        self._hubspot = hubspot
        self._register = register
        self._fields = fields
        self._pseudonymizer = pseudonymizer
        self._clock = clock
        self._parse = parse
        self._owner = owner
        self._batch_size = batch_size
        self._lease = lease

    def run_once(self) -> int:
        """Lease a batch of webhook events, handle them in order; returns how many finished.

        A retryable failure (HubSpot or the register unreachable, rate
        limited) stops the round: that event and the ones after it keep
        their lease and come back when it ends, in the same order. A
        permanent one sets the event aside as ``failed`` with its payload,
        audited, until an operator replays it (``hubsync inbox replay``).
        """
        now = self._clock.now()
        items = self._ledger.claim_webhooks(self._owner, self._batch_size, now, self._lease)
        if not items:
            return 0
        finished: list[str] = []
        failed: list[str] = []
        changes: list[tuple[str, HubSpotChange]] = []
        for key, item in items:
            try:
                changes.append((key, self._parse(item)))
            except ValueError as exc:  # set aside for an operator, never dropped
                log.error("webhook_unreadable", receipt_key=key, error=str(exc))
                failed.append(key)
        work = self._prefetch([change for _, change in changes], now)
        for key, change in changes:
            try:
                self._handle(change, work)
            except RetryableError as exc:
                log.warning(
                    "webhook_processing_deferred",
                    receipt_key=key,
                    code=exc.code,
                    http_status=exc.http_status,
                )
                break
            except SyncError as exc:  # permanent: kept for an operator (hubsync inbox replay)
                log.error("webhook_not_processed", receipt_key=key, code=exc.code)
                work.audit.append(self._entry("webhook_not_processed", change, None, exc.code))
                failed.append(key)
                continue
            finished.append(key)
        now = self._clock.now()
        events = work.events + work.opt_out_events()
        if events:
            self._ledger.submit(events, now)
        if work.audit:
            self._ledger.append_audit(work.audit)
        self._ledger.add_counts(work.counts, now)
        self._ledger.finish_webhooks(finished, now)
        self._ledger.fail_webhooks(failed, now)
        return len(finished) + len(failed)

    def _prefetch(self, changes: Sequence[HubSpotChange], now: datetime) -> _Round:
        """A round with what its property changes will look up, read in two queries."""
        work = _Round()
        edits = [
            (c.object_id, c.property_name, c.property_value or "")
            for c in changes
            if c.kind is ChangeKind.PROPERTY_CHANGED and c.object_id and c.property_name
        ]
        if edits:
            contacts = [contact for contact, _, _ in edits]
            found = self._ledger.subjects_for_contacts(contacts)
            work.subjects = {contact: found.get(contact, []) for contact in contacts}
            marks = [(c, p, self._pseudonymizer.value(p, v)) for c, p, v in edits]
            work.echoes = self._ledger.written_recently(marks, now)
        return work

    # -- dispatch -----------------------------------------------------------

    def _handle(self, change: HubSpotChange, work: _Round) -> None:
        kind = change.kind
        if kind is ChangeKind.PROPERTY_CHANGED:
            self._property_change(change, work)
        elif kind is ChangeKind.ERASED:
            self._privacy_deletion(change, work)
        elif kind is ChangeKind.ARCHIVED:
            self._archived(change, work)
        elif kind is ChangeKind.MERGED:
            self._merged(change, work)
        elif kind is ChangeKind.CREATED:
            self._created(change, work)
        else:
            log.info(
                "webhook_ignored", receipt_key=change.receipt_key, type=change.subscription_type
            )

    # -- property changes ------------------------------------------------------

    def _is_echo(self, change: HubSpotChange, work: _Round) -> bool:
        if change.by_this_app:
            return True
        if change.object_id is None or change.property_name is None:
            return False
        digest = self._pseudonymizer.value(change.property_name, change.property_value or "")
        return (change.object_id, change.property_name, digest) in work.echoes

    def _property_change(self, change: HubSpotChange, work: _Round) -> None:
        name, contact_id = change.property_name, change.object_id
        if name is None or contact_id is None:
            raise PermanentError(
                "a propertyChange without a property or object id", code="webhook_incomplete"
            )
        if self._is_echo(change, work):
            work.count(Counter.ECHOES)
            log.debug("webhook_echo_dropped", receipt_key=change.receipt_key, property=name)
            return
        value = change.property_value or ""
        if change.changes_email and value and self._suppressed_email(value):
            self._erase_again(contact_id, change, work)
            return
        if change.opt_out is not None:
            self._opt_out_seen(change, contact_id, change.opt_out, work)
            return
        mapping = self._fields.by_property(name)
        if mapping is None:
            return  # a property the mapping does not carry: nothing for the register
        subjects = self._subjects(contact_id, work, email=value if change.changes_email else None)
        if not subjects:
            log.info("hubspot_change_unlinked", receipt_key=change.receipt_key, property=name)
            return
        for subject in subjects:
            if mapping.authority is Authority.REGISTER:
                self._revert(change, subject, mapping.field, value, work)
            else:
                new = _event(
                    change, subject, EventKind.RECTIFICATION, changes={mapping.field: value or None}
                )
                work.events.append(NewEvent(new, Origin.HUBSPOT, Direction.TO_REGISTER))

    def _opt_out_seen(
        self, change: HubSpotChange, contact_id: str, opt_out: OptOutChange, work: _Round
    ) -> None:
        if not opt_out.opted_out:
            # A resubscribe in HubSpot is not consent the register can record:
            # an opt-in needs a legal basis, which only the register holds.
            log.info("hubspot_opt_in_not_propagated", receipt_key=change.receipt_key)
            return
        for subject in self._subjects(contact_id, work):
            work.opt_outs.append((change, subject, opt_out.subscription_id))

    def _revert(
        self, change: HubSpotChange, subject: SubjectId, field_name: str, value: str, work: _Round
    ) -> None:
        record = self._register.record(subject)
        if record is None:
            return
        wanted = record.get(field_name)
        wanted_text = "" if wanted is None else str(wanted)
        if wanted_text == value:
            return
        new = _event(
            change, subject, EventKind.RECTIFICATION, changes={field_name: wanted}, suffix="revert"
        )
        work.events.append(NewEvent(new, Origin.HUBSPOT, Direction.TO_HUBSPOT))
        work.audit.append(
            self._entry(
                "hubspot_change_reverted",
                change,
                subject,
                "queued",
                field_names=(field_name,),
                direction=Direction.TO_HUBSPOT,
            )
        )
        log.info("hubspot_change_reverted", receipt_key=change.receipt_key, field=field_name)

    # -- deletions, archives, merges -------------------------------------------

    def _privacy_deletion(self, change: HubSpotChange, work: _Round) -> None:
        contact_id = _require(change.object_id, "objectId")
        contact_digest = self._pseudonymizer.contact(contact_id)
        if self._ledger.is_suppressed(contact_digest):
            work.count(Counter.ECHOES)  # hubsync's own erasure, or one already handled
            return
        subjects = self._ledger.subjects_for_contact(contact_id)
        if not subjects:
            self._ledger.add_suppression([("contact", contact_digest)], self._clock.now())
            work.audit.append(self._entry("hubspot_erasure_seen", change, None, "not_linked"))
            return
        for subject in subjects:
            record = self._ledger.subject(subject)
            if record is not None and record.erasure is not None:
                # The register's own erasure of this subject is under way: this
                # deletion is its echo, and the register needs no erasure back.
                work.count(Counter.ECHOES)
                continue
            contacts = {contact_id, *(record.contact_ids if record else ())}
            suppress = [("contact", self._pseudonymizer.contact(c)) for c in sorted(contacts)]
            if record is not None and record.email:
                suppress.append(("email", self._pseudonymizer.email(record.email)))
            new = _event(change, subject, EventKind.ERASURE)
            # Stored before the subject is marked erased, so "erasure wins" applies
            # to its waiting events and this erasure itself is kept.
            self._ledger.submit(
                [NewEvent(new, Origin.HUBSPOT, Direction.TO_REGISTER)], self._clock.now()
            )
            self._ledger.mark_erased(subject, suppress, self._clock.now())
            work.forget(contacts)  # the subject map no longer holds them
            work.audit.append(self._entry("hubspot_erasure_seen", change, subject, "queued"))

    def _archived(self, change: HubSpotChange, work: _Round) -> None:
        contact_id = _require(change.object_id, "objectId")
        if self._ledger.is_suppressed(self._pseudonymizer.contact(contact_id)):
            return  # the archive that goes with an erasure hubsync already knows of
        subjects = self._ledger.subjects_for_contact(contact_id)
        if not subjects:
            return
        self._register.notify(
            RegisterNotice(
                notice_id=f"contact_archived:{change.receipt_key}",
                kind=NoticeKind.CONTACT_ARCHIVED,
                occurred_at=change.occurred_at,
                subject_ids=tuple(subjects),
                contact_ids=(HubSpotContactId(contact_id),),
            )
        )
        for subject in subjects:
            work.audit.append(self._entry("contact_archived_noticed", change, subject, "notified"))

    def _merged(self, change: HubSpotChange, work: _Round) -> None:
        new_id = change.new_id or change.object_id
        new_id = _require(new_id, "newObjectId")
        old_ids = [i for i in (change.primary_id, *change.merged_ids) if i]
        subjects = self._ledger.rekey_contact(old_ids, new_id, self._clock.now())
        work.forget([*old_ids, new_id])
        for subject in subjects:
            work.audit.append(self._entry("contact_rekeyed", change, subject, "rekeyed"))
        if len(subjects) > 1:
            self._register.notify(
                RegisterNotice(
                    notice_id=f"merge_conflict:{change.receipt_key}",
                    kind=NoticeKind.MERGE_CONFLICT,
                    occurred_at=change.occurred_at,
                    subject_ids=tuple(subjects),
                    contact_ids=(HubSpotContactId(new_id),),
                )
            )
            log.warning(
                "merge_conflict_raised", receipt_key=change.receipt_key, subjects=len(subjects)
            )
            for subject in subjects:
                work.audit.append(self._entry("merge_conflict_raised", change, subject, "notified"))

    # -- resurrection guard ------------------------------------------------------

    def _created(self, change: HubSpotChange, work: _Round) -> None:
        contact_id = _require(change.object_id, "objectId")
        contact = self._hubspot.get_contact(contact_id, properties=["email"])
        if contact is None:
            return  # gone already (erased again by an earlier event of the batch)
        email = contact.properties.get("email")
        if email and self._suppressed_email(email):
            self._erase_again(contact.id, change, work)
        elif email:
            work.forget([contact.id])
            self._link_by_email(contact.id, email)

    def _suppressed_email(self, email: str) -> bool:
        return self._ledger.is_suppressed(self._pseudonymizer.email(email))

    def _erase_again(self, contact_id: str, change: HubSpotChange, work: _Round) -> None:
        digest = self._pseudonymizer.contact(contact_id)
        if self._ledger.is_suppressed(digest):
            return  # erased again already, for another event of the same creation
        with contextlib.suppress(SubjectAbsent):  # gone already: suppressed all the same
            self._hubspot.gdpr_delete(contact_id)
        self._register.notify(
            RegisterNotice(
                notice_id=f"resurrection_blocked:{contact_id}",
                kind=NoticeKind.RESURRECTION_BLOCKED,
                occurred_at=change.occurred_at,
                contact_ids=(HubSpotContactId(contact_id),),
            )
        )
        # Suppressed last: a failure above leaves it to be done again in full.
        self._ledger.add_suppression([("contact", digest)], self._clock.now())
        work.count(Counter.RESURRECTIONS)
        log.warning("resurrection_blocked", receipt_key=change.receipt_key, contact_id=contact_id)
        work.audit.append(
            self._entry(
                "resurrection_blocked",
                change,
                None,
                "erased_again",
                system="hubspot",
                direction=Direction.TO_HUBSPOT,
            )
        )

    # -- helpers -----------------------------------------------------------------

    def _subjects(
        self, contact_id: str, work: _Round, *, email: str | None = None
    ) -> list[SubjectId]:
        """Register subjects of a contact: the subject map, else the contact's email."""
        subjects = work.subjects.get(contact_id)
        if subjects is None:
            subjects = self._ledger.subjects_for_contact(contact_id)
        if subjects:
            return subjects
        if email is None:
            contact = self._hubspot.get_contact(contact_id, properties=["email"])
            email = contact.properties.get("email") if contact else None
        subjects = self._link_by_email(contact_id, email) if email else []
        work.subjects[contact_id] = subjects
        return subjects

    def _link_by_email(self, contact_id: str, email: str) -> list[SubjectId]:
        """Subjects known by this address (the ledger's, else the register's), now linked."""
        subjects = self._ledger.subjects_for_email(email) or self._register.subjects_for_email(
            email
        )
        linked: list[SubjectId] = []
        for subject in subjects:
            record = self._ledger.subject(subject)
            if record is not None and record.erasure is not None:
                continue  # an erased subject is never linked again
            self._ledger.remember_subject(
                subject, self._clock.now(), email=email, contact_ids=[contact_id]
            )
            linked.append(subject)
        return linked

    def _entry(
        self,
        action: str,
        change: HubSpotChange,
        subject: SubjectId | None,
        outcome: str,
        *,
        field_names: Sequence[str] = (),
        system: str = "hubsync",
        direction: Direction = Direction.TO_REGISTER,
    ) -> AuditEntry:
        return AuditEntry(
            at=self._clock.now(),
            actor=f"inbound:{self._owner}",
            action=action,
            direction=direction.value,
            system=system,
            subject_pseudonym=self._pseudonymizer.subject(subject) if subject else None,
            kind=None,  # event kinds are the rights' vocabulary; this is HubSpot's event
            event_id=change.receipt_key,
            outcome=outcome,
            field_names=tuple(field_names),
            data_categories=self._fields.categories(field_names) if field_names else (),
            detail=change.subscription_type,
        )


def _require(value: str | None, name: str) -> str:
    if not value:
        raise PermanentError(f"the webhook event has no {name}", code="webhook_incomplete")
    return value


def _event(
    change: HubSpotChange,
    subject: SubjectId,
    kind: EventKind,
    *,
    changes: dict[str, Any] | None = None,
    subscription_ids: tuple[str, ...] = (),
    suffix: str | None = None,
) -> Envelope:
    """The envelope a webhook event becomes; its id is derived, so a repeat is a duplicate."""
    event_id = f"hs:{change.receipt_key}:{subject}" + (f":{suffix}" if suffix else "")
    return Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=subject,
        occurred_at=change.occurred_at,
        changes=dict(changes or {}),
        subscription_ids=subscription_ids,
        reference=f"hubspot:{change.subscription_type}",
    )
