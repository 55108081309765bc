"""HubSpot to register: stored webhook events become ledger events, notices and audit rows.

The intake stores each webhook event in the ledger's inbox before it answers
204. This use case leases them in arrival order, has the facts each one
needs read (``webhook_facts.FactReader``: the subject map and echo marks of
the whole batch at once, the suppression list, a created contact's address,
when the register last changed a shared field...), asks
``sync.rules.webhook`` what the change means, and carries out the verdicts:
a register-bound event, a revert of a register-owned field or the
re-erasure of a contact that came back after an erasure (events to HubSpot,
applied by the worker like any other), a notice to the register, a link or
a re-key of the subject map. The worker drives it and decides what an
error means (``sync.worker.webhook_round``).
The table of what each change means is in ``sync.rules.webhook``.

Everything is idempotent: an event id is derived from the webhook's receipt
key (a re-erasure's from the contact id), so a worker killed between taking
an inbox row and finishing it does the same again after restart and the
ledger drops the duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

import structlog

from sync.audit import AuditEntry, Pseudonymizer, action_entry
from sync.errors import PermanentError, SyncError
from sync.handlers.webhook_facts import FactReader, FactsLedger, InboxItem, InboxRound
from sync.model import (
    ChangeKind,
    Direction,
    Envelope,
    EventId,
    EventKind,
    HubSpotChange,
    HubSpotContactId,
    NewEvent,
    NoticeKind,
    Origin,
    RegisterNotice,
    SubjectId,
)
from sync.ports import (
    AuditLog,
    Clock,
    EventQueue,
    Fields,
    HubSpot,
    Register,
    SharedState,
    WebhookInbox,
)
from sync.rules import authority, webhook
from sync.rules.webhook import Verdict
from sync.status import RESURRECTIONS_BLOCKED, WEBHOOK_ECHOES_DROPPED

log = structlog.get_logger("hubsync.inbound")

ParseChange = Callable[[dict[str, Any]], HubSpotChange]

NOTICE_ACTIONS = {
    NoticeKind.CONTACT_ARCHIVED: "contact_archived_noticed",
    NoticeKind.MERGE_CONFLICT: "merge_conflict_raised",
}
"""The audit action of each notice this use case sends, one row per subject."""


class InboundLedger(FactsLedger, EventQueue, WebhookInbox, AuditLog, SharedState, Protocol):
    """The ledger's roles this path uses: the facts', and the inbox, events, audit and counters."""


class HubSpotInbound:
    """The webhook inbox, a batch at a time: ``lease``, ``handle`` each event, ``finish``.

    The worker drives it (``sync.worker.webhook_round``) and decides what an
    event's error means: wait in the inbox, or be set aside.
    """

    def __init__(
        self,
        *,
        ledger: InboundLedger,
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
        self._facts = FactReader(
            ledger=ledger, hubspot=hubspot, fields=fields, pseudonymizer=pseudonymizer
        )

    def lease(self) -> InboxRound | None:
        """Lease a batch of webhook events in arrival order, read and prefetched; None: none.

        An item that cannot be read as a change is kept in place, with its
        problem (a field name, never a value), for the worker to set aside.
        """
        now = self._clock.now()
        leased = self._ledger.claim_webhooks(self._owner, self._batch_size, now, self._lease)
        if not leased:
            return None
        items: list[InboxItem] = []
        for key, raw in leased:
            try:
                items.append(InboxItem(key, self._parse(raw)))
            except ValueError as exc:
                log.error("webhook_unreadable", receipt_key=key, error=str(exc))
                items.append(InboxItem(key, None, str(exc)))
        work = self._facts.prefetch([i.change for i in items if i.change is not None], now)
        work.items = items
        return work

    def handle(self, work: InboxRound, item: InboxItem) -> SyncError | None:
        """Carry out what one webhook event means: None, or the error that stopped it.

        What the event had added to the round is dropped with the error, so a
        failed event leaves nothing half done to commit (what it wrote to the
        ledger or the register on the way is idempotent, and done again).
        """
        if item.change is None:
            return PermanentError(
                f"the webhook event cannot be read: {item.problem}", code="webhook_unreadable"
            )
        mark = work.mark()
        try:
            self._handle(item.change, work)
        except SyncError as exc:
            work.rewind(mark)
            return exc
        return None

    def finish(
        self,
        work: InboxRound,
        finished: Sequence[str],
        set_aside: Sequence[tuple[InboxItem, SyncError]],
    ) -> int:
        """Commit the round: its events, audit rows and counters, then the inbox rows.

        ``finished`` are processed; ``set_aside`` are kept as ``failed`` with
        their payload for an operator (``hubsync inbox replay``), each readable
        one audited ``webhook_not_processed`` with its error's code. The rest
        of the batch keeps its lease and comes back when it ends. Returns how
        many rows were finished or set aside.
        """
        for item, error in set_aside:
            if item.change is not None:
                entry = self._entry("webhook_not_processed", item.change, None, error.code)
                work.audit.append(entry)
        now = self._clock.now()
        opt_outs = webhook.distinct_opt_outs(work.opt_outs)
        events = work.events + [self._to_register(c, v) for c, v in opt_outs]
        if events:
            self._ledger.submit(events, now)
        if work.erased_again:  # after the re-erasures are stored: a crash before redoes both
            suppress = [("contact", self._pseudonymizer.contact(c)) for c in work.erased_again]
            self._ledger.add_suppression(sorted(suppress), now)
        if work.audit:
            self._ledger.append_audit(work.audit)
        self._ledger.add_counts(work.counts, now)
        self._ledger.finish_webhooks(list(finished), now)
        self._ledger.fail_webhooks([item.key for item, _ in set_aside], now)
        return len(finished) + len(set_aside)

    # -- verdicts --------------------------------------------------------------

    def _handle(self, change: HubSpotChange, work: InboxRound) -> None:
        """Read the facts, ask what the change means, carry it out (linking first if asked)."""
        verdicts = webhook.meaning(change, self._facts.facts(change, work))
        links = [v for v in verdicts if isinstance(v, webhook.LinkSubject)]
        if links:
            for link in links:
                self._link(link, work)
            verdicts = webhook.meaning(change, self._facts.facts(change, work))
        for verdict in verdicts:
            self._carry_out(change, verdict, work)

    def _carry_out(self, change: HubSpotChange, verdict: Verdict, work: InboxRound) -> None:  # noqa: PLR0912 - one branch per verdict
        if isinstance(verdict, webhook.DropEcho):
            work.count(WEBHOOK_ECHOES_DROPPED)
            if change.kind is ChangeKind.PROPERTY_CHANGED:
                log.debug(
                    "webhook_echo_dropped",
                    receipt_key=change.receipt_key,
                    property=change.property_name,
                )
        elif isinstance(verdict, webhook.Ignore):
            if verdict.reason is not None:
                log.info(
                    verdict.reason,
                    receipt_key=change.receipt_key,
                    type=change.subscription_type,
                    property=change.property_name,
                )
        elif isinstance(verdict, webhook.RegisterEvent):
            if verdict.kind is EventKind.MARKETING_OPT_OUT:
                work.opt_outs.append((change, verdict))
            else:
                work.events.append(self._to_register(change, verdict))
        elif isinstance(verdict, webhook.RevertHubSpot):
            self._revert(change, verdict, work)
        elif isinstance(verdict, webhook.EraseAgain):
            self._erase_again(change, verdict.contact_id, work)
        elif isinstance(verdict, webhook.EraseInRegister):
            self._erase_in_register(change, verdict.subject, work)
        elif isinstance(verdict, webhook.SuppressContact):
            digest = self._pseudonymizer.contact(verdict.contact_id)
            self._ledger.add_suppression([("contact", digest)], self._clock.now())
            work.audit.append(self._entry("hubspot_erasure_seen", change, None, "not_linked"))
        elif isinstance(verdict, webhook.Notify):
            self._notify(change, verdict, work)
        elif isinstance(verdict, webhook.Rekey):
            self._rekey(change, verdict, work)
        elif isinstance(verdict, webhook.LinkSubject):
            self._link(verdict, work)
        else:
            raise PermanentError(f"the webhook event has no {verdict.missing}", code=verdict.code)

    def _to_register(self, change: HubSpotChange, verdict: webhook.RegisterEvent) -> NewEvent:
        sub = verdict.subscription_id
        envelope = _event(
            change,
            verdict.subject,
            verdict.kind,
            changes=dict(verdict.changes),
            subscription_ids=(sub,) if sub else (),
        )
        return NewEvent(envelope, Origin.HUBSPOT, Direction.TO_REGISTER)

    def _revert(
        self, change: HubSpotChange, verdict: webhook.RevertHubSpot, work: InboxRound
    ) -> None:
        """Queue the register's value for HubSpot (an event the worker applies), if it differs."""
        record = self._register.record(verdict.subject)
        if record is None:
            return
        wanted = record.get(verdict.field_name)
        if not authority.needs_revert(wanted, verdict.hubspot_value):
            return
        new = _event(
            change,
            verdict.subject,
            EventKind.RECTIFICATION,
            changes={verdict.field_name: wanted},
            suffix="revert",
        )
        work.events.append(NewEvent(new, Origin.HUBSPOT, Direction.TO_HUBSPOT))
        work.audit.append(
            self._entry(
                "hubspot_change_reverted",
                change,
                verdict.subject,
                "queued",
                field_names=(verdict.field_name,),
                direction=Direction.TO_HUBSPOT,
            )
        )
        log.info(
            "hubspot_change_reverted", receipt_key=change.receipt_key, field=verdict.field_name
        )

    def _erase_in_register(
        self, change: HubSpotChange, subject: SubjectId, work: InboxRound
    ) -> None:
        """An erasure for the register, and the subject suppressed at once."""
        contact = change.object_id or ""
        record = work.records.get(subject)
        contacts = {contact, *(record.contact_ids if record else ())}
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
        work.forget(sorted(contacts))  # the subject map no longer holds them
        work.audit.append(self._entry("hubspot_erasure_seen", change, subject, "queued"))

    def _erase_again(self, change: HubSpotChange, contact_id: str, work: InboxRound) -> None:
        """A contact that came back after its erasure: an erasure of it, queued like any other.

        The worker applies it (the residency policy, the rate budget, retries,
        dead letters and its audit row apply); it names the contact itself,
        because no register subject holds it any more. The contact is
        suppressed once the event is stored (``_commit``), so its other
        webhooks, and the deletion HubSpot reports afterwards, are not taken
        for a new resurrection.
        """
        envelope = Envelope(
            event_id=EventId(f"hs:resurrection:{contact_id}"),
            kind=EventKind.ERASURE,
            subject_id=resurrected_subject(contact_id),
            occurred_at=change.occurred_at,
            reference="hubspot:resurrection_blocked",
            contact_ids=(contact_id,),
        )
        work.events.append(NewEvent(envelope, Origin.HUBSPOT, Direction.TO_HUBSPOT))
        work.erased_again.add(contact_id)
        self._register.notify(
            RegisterNotice(
                notice_id=f"resurrection_blocked:{contact_id}",
                kind=NoticeKind.RESURRECTION_BLOCKED,
                occurred_at=change.occurred_at,
                contact_ids=(HubSpotContactId(contact_id),),
            )
        )
        work.count(RESURRECTIONS_BLOCKED)
        log.warning("resurrection_blocked", receipt_key=change.receipt_key, contact_id=contact_id)
        work.audit.append(
            self._entry(
                "resurrection_blocked",
                change,
                None,
                "queued",
                direction=Direction.TO_HUBSPOT,
            )
        )

    def _notify(self, change: HubSpotChange, verdict: webhook.Notify, work: InboxRound) -> None:
        self._register.notify(
            RegisterNotice(
                notice_id=f"{verdict.kind.value}:{change.receipt_key}",
                kind=verdict.kind,
                occurred_at=change.occurred_at,
                subject_ids=verdict.subjects,
                contact_ids=(HubSpotContactId(verdict.contact_id),),
            )
        )
        if verdict.kind is NoticeKind.MERGE_CONFLICT:
            log.warning(
                "merge_conflict_raised",
                receipt_key=change.receipt_key,
                subjects=len(verdict.subjects),
            )
        action = NOTICE_ACTIONS[verdict.kind]
        for subject in verdict.subjects:
            work.audit.append(self._entry(action, change, subject, "notified"))

    def _rekey(self, change: HubSpotChange, verdict: webhook.Rekey, work: InboxRound) -> None:
        subjects = self._ledger.rekey_contact(
            list(verdict.old_ids), verdict.new_id, self._clock.now()
        )
        work.forget([*verdict.old_ids, verdict.new_id])
        for subject in subjects:
            work.audit.append(self._entry("contact_rekeyed", change, subject, "rekeyed"))
        for after in webhook.after_rekey(verdict.new_id, subjects):
            self._carry_out(change, after, work)

    def _link(self, verdict: webhook.LinkSubject, work: InboxRound) -> None:
        """Link the contact to the subjects of its address (the ledger's, else the register's).

        Without an address in the verdict, the contact's own is read from
        HubSpot. An erased subject is never linked again.
        """
        contact, email = verdict.contact_id, verdict.email
        if email is None:
            _, email = self._facts.contact(contact, work)
        linked: list[SubjectId] = []
        if email:
            subjects = self._ledger.subjects_for_email(email)
            for subject in subjects or self._register.subjects_for_email(email):
                record = self._ledger.subject(subject)
                if record is not None and record.erasure is not None:
                    continue
                self._ledger.remember_subject(
                    subject, self._clock.now(), email=email, contact_ids=[contact]
                )
                linked.append(subject)
        work.subjects[contact] = linked
        work.linked.add(contact)

    def _entry(
        self,
        action: str,
        change: HubSpotChange,
        subject: SubjectId | None,
        outcome: str,
        *,
        field_names: Sequence[str] = (),
        direction: Direction = Direction.TO_REGISTER,
    ) -> AuditEntry:
        """The audit row of a HubSpot change: kind None (this is HubSpot's event, not a right)."""
        return action_entry(
            action,
            outcome,
            at=self._clock.now(),
            actor=f"inbound:{self._owner}",
            direction=direction.value,
            subject_pseudonym=self._pseudonymizer.subject(subject) if subject else None,
            event_id=change.receipt_key,
            field_names=field_names,
            data_categories=self._fields.categories(field_names) if field_names else (),
            detail=change.subscription_type,
        )


def resurrected_subject(contact_id: str) -> SubjectId:
    """The subject a re-erasure is filed under: the contact itself, which no subject holds.

    The person it was erased for is known only by digests now, so the event
    names the contact (``Envelope.contact_ids``) and the ledger keeps its
    order and its erasure close-out under this id.
    """
    return SubjectId(f"hubspot-contact:{contact_id}")


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
