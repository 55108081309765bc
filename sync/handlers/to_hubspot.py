"""What each right does in HubSpot, for a batch of claimed events (DESIGN.md section 2).

``HubSpotEffects.apply`` takes events of different subjects (the ledger
hands out at most one per subject), batches what HubSpot can batch
(``sync.rules.batching``), and returns one result per event: an ``Applied``
(what was sent, for the audit row) or the ``SyncError`` that stopped it.
Deciding what happens next (retry, dead-letter, done) is the worker's job.
What it writes is remembered as echo marks (``sync.rules.echo``), so the
webhooks HubSpot sends about it do not flow back to the register; which
fields go to HubSpot is the mapping's authority (``sync.rules.authority``);
an opt-in needs its legal basis (``sync.rules.rights``).

Identity: the subject map first, then a read by email (``idProperty=email``,
never search, whose index lags). A rectification of a contact HubSpot does
not have is done with the note ``absent``: hubsync never creates a contact
to correct it. A known id HubSpot does not find may belong to a merged
contact: it is absent only when neither a read by id nor one by address
finds the person (``_live_ids``); otherwise the subject map is re-keyed
and the right applied to the live record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sync.audit import Pseudonymizer
from sync.errors import (
    MappingError,
    PayloadScrubbed,
    PermanentError,
    RetryableError,
    SubjectAbsent,
    SyncError,
    TransferHeld,
)
from sync.handlers.access import EXPORTED, AccessExports, holds_anything
from sync.model import (
    Authority,
    ContactWrites,
    Direction,
    Envelope,
    EventKind,
    StoredEvent,
    SubjectId,
    SubjectRecord,
)
from sync.ports import Clock, EchoMarks, FieldHistory, Fields, HubSpot, SubjectMap
from sync.rules import authority, batching, echo, rights, transfer

ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class Applied:
    """A transfer that succeeded (or had nothing to do), as the audit log records it."""

    action: str
    field_names: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    note: str | None = None
    suppress: tuple[tuple[str, str], ...] = ()
    erased: bool = False


Result = Applied | SyncError


@dataclass
class _Target:
    """One event resolved to the contacts and address it concerns."""

    event: StoredEvent
    envelope: Envelope
    contact_ids: list[str]
    email: str | None
    ids_only: bool = False
    """Released while residency refuses transfers: HubSpot may be sent contact ids only."""

    @property
    def address(self) -> str | None:
        """The address HubSpot may be asked about (never while only ids may go)."""
        return None if self.ids_only else self.email


class EffectsLedger(SubjectMap, EchoMarks, FieldHistory, Protocol):
    """The ledger's roles the effects use: the subject map, echo marks of what they wrote,
    and when HubSpot last changed a field both systems may change."""


class HubSpotEffects:
    """Applies register-side events to HubSpot, batched by kind."""

    def __init__(
        self,
        hubspot: HubSpot,
        ledger: EffectsLedger,
        fields: Fields,
        pseudonymizer: Pseudonymizer,
        clock: Clock,
        *,
        access: AccessExports | None = None,
    ) -> None:
        self._access = access
        self._hubspot = hubspot
        self._ledger = ledger
        self._fields = fields
        self._pseudonymizer = pseudonymizer
        self._clock = clock
        self._handlers: dict[EventKind, Callable[[list[_Target]], dict[int, Result]]] = {
            EventKind.RECTIFICATION: self._rectify,
            EventKind.ERASURE: self._erase,
            EventKind.MARKETING_OPT_OUT: self._opt_out,
            EventKind.MARKETING_OPT_IN: self._opt_in,
            EventKind.RESTRICTION: self._restrict,
            EventKind.RESTRICTION_LIFTED: self._lift_restriction,
            EventKind.ACCESS: self._export,
        }

    def apply(self, events: Sequence[StoredEvent], *, ids_only: bool = False) -> dict[int, Result]:
        """One result per event seq. Errors never escape: each becomes its event's result.

        ``ids_only``: residency refuses transfers, and these are the events
        ``without_personal_data`` let through: HubSpot is sent contact ids
        only, never an address (``_Target.address``).
        """
        results: dict[int, Result] = {}
        for kind, group in batching.by_kind(events).items():
            handler = self._handlers.get(kind)
            if handler is None:
                error = PermanentError(
                    f"{kind.value} events are not applied to HubSpot by the worker",
                    code="kind_not_applied",
                )
                results.update(dict.fromkeys((e.seq for e in group), error))
                continue
            targets: list[_Target] = []
            for event in group:
                try:
                    targets.append(self._resolve(event, ids_only=ids_only))
                except SyncError as exc:
                    results[event.seq] = exc
                except PayloadScrubbed:
                    results[event.seq] = PermanentError(
                        f"event {event.event_id} has no personal data left to apply",
                        code="payload_scrubbed",
                    )
            if not targets:
                continue
            try:
                results.update(handler(targets))
            except SyncError as exc:  # the batch call as a whole failed
                results.update(dict.fromkeys((t.event.seq for t in targets), exc))
        return results

    # -- identity ------------------------------------------------------------

    def without_personal_data(
        self, events: Sequence[StoredEvent]
    ) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """The events that send no personal data to HubSpot, and those that would.

        The residency policy (``sync.rules.transfer``): while transfers are
        refused only the first may be applied. Decided from the subject map
        and the events themselves; HubSpot is not asked (a read by email
        would itself send the address). The worker applies the released ones
        with ``ids_only``: no lookup or delete by address (``_Target``).
        """
        free: list[StoredEvent] = []
        held: list[StoredEvent] = []
        for event in events:
            try:
                envelope: Envelope | None = event.envelope()
            except PayloadScrubbed:
                envelope = None
            record = self._ledger.subject(event.subject_id)
            ids = _contact_ids(record, envelope)
            email = (envelope.email if envelope else None) or (record.email if record else None)
            personal = transfer.carries_personal_data(event.kind, ids, email)
            (held if personal else free).append(event)
        return free, held

    def _resolve(self, event: StoredEvent, *, ids_only: bool = False) -> _Target:
        """The event's contacts: the subject map's and its own, else the one its address finds."""
        envelope = event.envelope()
        record = self._ledger.subject(event.subject_id)
        ids = _contact_ids(record, envelope)
        email = envelope.email or (record.email if record else None)
        found: list[str] = []
        if not ids and email and not ids_only and event.kind is not EventKind.MARKETING_OPT_OUT:
            contact = self._hubspot.get_contact(email, by_email=True)
            if contact is not None:
                ids = found = [contact.id]
        # Write the subject map only when it learns something: a no-op write per
        # event was most of a PostgreSQL round (bench/README.md). Contacts the
        # event names itself are not the subject's to keep (a re-erasure's).
        if found or (email and (record is None or record.email != email)):
            self._ledger.remember_subject(
                event.subject_id, self._clock.now(), email=email, contact_ids=found
            )
        return _Target(event, envelope, ids, email, ids_only)

    # -- the rights ------------------------------------------------------------

    def _rectify(self, targets: list[_Target]) -> dict[int, Result]:
        results: dict[int, Result] = {}
        writes: list[tuple[list[str], dict[str, str]]] = []
        sent: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        hubspot_changed = self._hubspot_changes(targets)
        for target in targets:
            changes = target.envelope.changes
            unknown = self._fields.unknown(changes)
            if unknown:
                results[target.event.seq] = MappingError(
                    f"fields not in the mapping: {', '.join(unknown)}", code="unmapped_field"
                )
                continue
            owned = self._fields.sent_to_hubspot(changes)
            if not owned:
                results[target.event.seq] = Applied("contact_rectified", note="hubspot_authority")
                continue
            names = tuple(sorted(n for n in owned if self._goes_out(target, n, hubspot_changed)))
            if not names:  # HubSpot changed every one of them later: its values stand
                results[target.event.seq] = Applied("contact_rectified", note="hubspot_newer")
                continue
            if not target.contact_ids:
                results[target.event.seq] = Applied("contact_rectified", names, note=ABSENT)
                continue
            mapped = self._fields.to_hubspot({n: changes[n] for n in names})
            values = {k: "" if v is None else str(v) for k, v in mapped.items()}
            writes.append((target.contact_ids, values))
            sent[target.event.seq] = (names, tuple(sorted(values)))
        outcomes = self._write(
            batching.merge_updates(writes), [t for t in targets if t.event.seq in sent]
        )
        for target in targets:
            seq = target.event.seq
            if seq not in sent:
                continue
            failures = _failures(outcomes, target.contact_ids)
            errors = [f for f in failures if not isinstance(f, SubjectAbsent)]
            names, properties = sent[seq]
            if errors:
                results[seq] = errors[0]
            elif len(failures) == len(target.contact_ids):
                results[seq] = Applied("contact_rectified", names, properties, note=ABSENT)
            else:
                results[seq] = Applied("contact_rectified", names, properties)
                new_email = target.envelope.changes.get("email")
                if isinstance(new_email, str) and new_email:
                    self._ledger.remember_subject(
                        target.event.subject_id, self._clock.now(), email=new_email
                    )
        return results

    def _hubspot_changes(self, targets: list[_Target]) -> dict[tuple[SubjectId, str], datetime]:
        """When HubSpot last changed the shared fields of these rectifications (one read)."""
        subjects = [
            t.event.subject_id
            for t in targets
            if any(self._fields.authority_of(n) is Authority.BOTH for n in t.envelope.changes)
        ]
        if not subjects:
            return {}
        return self._ledger.last_rectified(subjects, Direction.TO_REGISTER)

    def _goes_out(
        self, target: _Target, name: str, hubspot_changed: dict[tuple[SubjectId, str], datetime]
    ) -> bool:
        """Whether this field of a rectification is written (``authority.outbound_applies``)."""
        field_authority = self._fields.authority_of(name)
        if field_authority is None:
            return False
        changed_at = hubspot_changed.get((target.event.subject_id, name))
        return authority.outbound_applies(field_authority, target.event.occurred_at, changed_at)

    def _write(
        self, updates: dict[str, dict[str, str]], targets: Sequence[_Target]
    ) -> dict[str, SyncError | None]:
        """Batch-update contacts, following merges (``_follow``) to the records that live."""
        if not updates:
            return {}

        def again(live: dict[str, str]) -> ContactWrites:
            moved: dict[str, dict[str, str]] = {}
            for old, new in live.items():
                moved.setdefault(new, {}).update(updates[old])
            return self._hubspot.update_contacts(moved)

        outcomes, renamed = self._follow(targets, self._hubspot.update_contacts(updates), again)
        failed = [c for c, error in outcomes.items() if error is not None]
        digest = self._pseudonymizer.value
        self._remember(echo.written_marks(updates, failed, renamed, digest))
        return outcomes

    def _follow(
        self,
        targets: Sequence[_Target],
        written: ContactWrites,
        again: Callable[[dict[str, str]], ContactWrites],
    ) -> tuple[dict[str, SyncError | None], dict[str, str]]:
        """A batch write's outcome per id asked, once the ids it did not find were looked for.

        HubSpot may answer an old id of a merged contact with 404 while the
        person's record lives on under a new id: such a contact is absent
        only when ``_live_ids`` finds it nowhere. The others are re-keyed
        and written again (``again``: old id -> live id). Also returns which
        id each write landed on (for the echo marks).
        """
        self._rekey(written.renamed)
        outcomes = dict(written.errors)
        renamed = dict(written.renamed)
        unfound = [c for c, error in outcomes.items() if isinstance(error, SubjectAbsent)]
        live, unread = self._live_ids(targets, unfound)
        for target in targets:  # a lookup that failed leaves its ids not yet absent
            error = unread.get(target.event.seq)
            if error is not None:
                outcomes.update({c: error for c in target.contact_ids if c in unfound})
        if live:
            rewritten = again(live)
            self._rekey(rewritten.renamed)
            for old, new in live.items():
                outcomes[old] = rewritten.errors.get(new)
                renamed[old] = rewritten.renamed.get(new, new)
        return outcomes, renamed

    def _live_ids(
        self, targets: Sequence[_Target], ids: Sequence[str]
    ) -> tuple[dict[str, str], dict[int, SyncError]]:
        """Where these known contacts live now (known id -> live id); the subject map follows.

        One batch read (with ``hs_merged_object_ids``) finds the record a
        merged id went into, where HubSpot's reads resolve old ids. An id it
        does not find is looked up by its subject's address (one read per
        subject that needs it). Ids found nowhere are left out: only they
        are absent. A lookup by address that fails is that event's error (by
        seq), never the whole batch's: one 503 does not fail a hundred.
        """
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}, {}
        live = self._hubspot.resolve_contacts(wanted)
        unread: dict[int, SyncError] = {}
        for target in targets:
            lost = [c for c in target.contact_ids if c in wanted and c not in live]
            if lost and target.address:
                try:
                    found = self._hubspot.get_contact(target.address, by_email=True)
                except SyncError as exc:
                    unread[target.event.seq] = exc
                    continue
                if found is not None:
                    live.update(dict.fromkeys(lost, found.id))
        self._rekey({old: new for old, new in live.items() if old != new})
        return live, unread

    def _rekey(self, moved: Mapping[str, str]) -> None:
        """The subject map follows contacts to the records they now are (old id -> new id)."""
        for old, new in moved.items():
            self._ledger.rekey_contact([old], new, self._clock.now())

    def _remember(self, marks: Sequence[echo.WriteMark]) -> None:
        """Remember what was written, so its webhook echo does not flow back (from_hubspot)."""
        if marks:
            self._ledger.remember_writes(marks, self._clock.now(), echo.ECHO_WINDOW)

    def _erase(self, targets: list[_Target]) -> dict[int, Result]:
        """GDPR-delete the records the subjects' contacts live on now, then check none is left.

        A known id may have been merged into a record with a new id, which
        HubSpot's delete may answer 404 while the person's data lives on:
        every known id is first resolved (``_live_ids``) and the live record
        deleted. The erasure is done only when neither the ids nor the
        address find anything any more. While residency refuses transfers
        only ids are sent (``_Target.address``): no lookup or check by address.
        """
        results: dict[int, Result] = {}
        purged: dict[int, list[str]] = {}
        live, unread = self._live_ids(targets, [c for t in targets for c in t.contact_ids])
        results.update(unread)
        for target in targets:
            if target.event.seq in unread:
                continue
            # The live records, and the known ids no read found (HubSpot's
            # delete may still resolve one that its reads do not).
            ids = list(dict.fromkeys(live.get(c, c) for c in target.contact_ids))
            try:
                for contact_id in ids:
                    self._hubspot.gdpr_delete(contact_id)
                if not any(c in live for c in target.contact_ids) and target.address:
                    # No live contact known: deleting by email still blocklists the address.
                    self._hubspot.gdpr_delete(target.address, by_email=True)
                if target.ids_only and any(c not in live for c in target.contact_ids):
                    # A known id no read finds may live on, merged into another
                    # record: only its address can tell, and it may not go yet.
                    results[target.event.seq] = TransferHeld(
                        f"erasure {target.event.event_id}: a known contact id is not found,"
                        " and only a lookup by address can tell whether it was merged"
                    )
                    continue
                purged[target.event.seq] = ids
            except SyncError as exc:
                results[target.event.seq] = exc
        left = self._erasures_left([t for t in targets if t.event.seq in purged], purged)
        for target in targets:
            seq = target.event.seq
            if seq not in purged:
                continue
            if seq in left:
                results[seq] = left[seq]
                continue
            results[seq] = Applied(
                "contact_erased",
                ("email",) if target.email else (),
                note=None if (purged[seq] or target.email) else ABSENT,
                suppress=self._digests(target, purged[seq]),
                erased=True,
            )
        return results

    def _erasures_left(
        self, targets: Sequence[_Target], purged: dict[int, list[str]]
    ) -> dict[int, SyncError]:
        """The erasures (by seq) not yet verified, and why: HubSpot still finds the person
        by an id or by the address, or the read by address failed.

        The ids are checked in one batch read (old merged ids included,
        where reads resolve them); the address with one read per subject,
        whose failure is that erasure's alone.
        """
        ids = [c for t in targets for c in (*t.contact_ids, *purged[t.event.seq])]
        found = self._hubspot.resolve_contacts(ids) if ids else {}
        left: dict[int, SyncError] = {}
        for target in targets:
            seq = target.event.seq
            try:
                present = any(c in found for c in (*target.contact_ids, *purged[seq])) or (
                    target.address is not None
                    and self._hubspot.get_contact(target.address, by_email=True) is not None
                )
            except SyncError as exc:
                left[seq] = exc
                continue
            if present:
                left[seq] = RetryableError(
                    "contact still readable after the GDPR delete", code="erasure_unverified"
                )
        return left

    def _digests(self, target: _Target, deleted: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
        emails = {e for e in (target.email, target.envelope.email) if e}
        contacts = dict.fromkeys([*target.contact_ids, *deleted])
        return tuple(
            [("email", self._pseudonymizer.email(e)) for e in sorted(emails)]
            + [("contact", self._pseudonymizer.contact(c)) for c in contacts]
        )

    def _opt_out(self, targets: list[_Target]) -> dict[int, Result]:
        results: dict[int, Result] = {}
        from_all: list[tuple[str, int]] = []
        for target in targets:
            seq = target.event.seq
            if not target.email:
                results[seq] = Applied("marketing_opted_out", note=ABSENT)
            elif target.envelope.subscription_ids:
                results[seq] = self._set(target, subscribed=False, action="marketing_opted_out")
            else:
                from_all.append((target.email, seq))
        to_all = batching.by_address(from_all)
        if to_all:
            outcomes = self._hubspot.unsubscribe_all(list(to_all))
            for email, seqs in to_all.items():
                outcome = outcomes.get(email)
                for seq in seqs:
                    results[seq] = outcome or Applied("marketing_opted_out", ("email",))
        self._mark_opted_out(t for t in targets if not isinstance(results[t.event.seq], SyncError))
        return results

    def _mark_opted_out(self, targets: Iterable[_Target]) -> None:
        """Remember the opt-outs HubSpot will report back as changed properties."""
        digest = self._pseudonymizer.value
        self._remember(
            [
                mark
                for t in targets
                for mark in echo.opt_out_marks(t.contact_ids, t.envelope.subscription_ids, digest)
            ]
        )

    def _opt_in(self, targets: list[_Target]) -> dict[int, Result]:
        results: dict[int, Result] = {}
        for target in targets:
            seq = target.event.seq
            unmet = rights.missing_legal_basis(target.event.kind, target.envelope.legal_basis)
            if unmet is not None:
                results[seq] = MappingError(str(unmet), code=unmet.code)
            elif not target.envelope.subscription_ids:
                results[seq] = MappingError(
                    "subscription_ids: a marketing opt-in names its subscriptions",
                    code="missing_subscription_ids",
                )
            elif not target.email:
                results[seq] = Applied("marketing_opted_in", note=ABSENT)
            else:
                results[seq] = self._set(target, subscribed=True, action="marketing_opted_in")
        return results

    def _set(self, target: _Target, *, subscribed: bool, action: str) -> Result:
        """Write the named subscriptions; the event's legal basis goes with its explanation.

        An event without a legal basis sends none: the client adds the
        configured default (``[hubspot] legal_basis``), and an explanation
        alone, without its basis, is never sent.
        """
        assert target.email is not None
        basis = target.envelope.legal_basis
        try:
            self._hubspot.set_subscriptions(
                target.email,
                target.envelope.subscription_ids,
                subscribed=subscribed,
                legal_basis=basis,
                explanation=self._explanation(target) if basis else None,
            )
        except SyncError as exc:
            return exc
        return Applied(action, ("email", "subscription_ids"))

    @staticmethod
    def _explanation(target: _Target) -> str:
        """Where the legal basis was recorded: HubSpot requires an explanation with it."""
        reference = target.envelope.reference
        return f"Recorded in the controller's register (hubsync event {target.event.event_id}" + (
            f", reference {reference})" if reference else ")"
        )

    def _restrict(self, targets: list[_Target]) -> dict[int, Result]:
        return self._restriction(targets, True, "processing_restricted", unsubscribe=True)

    def _lift_restriction(self, targets: list[_Target]) -> dict[int, Result]:
        # Lifting clears the property and subscribes nothing: consent is not restored.
        return self._restriction(targets, False, "restriction_lifted", unsubscribe=False)

    def _restriction(
        self, targets: list[_Target], restricted: bool, action: str, *, unsubscribe: bool
    ) -> dict[int, Result]:
        results: dict[int, Result] = {}
        ids = list(dict.fromkeys(c for t in targets for c in t.contact_ids))

        def again(live: dict[str, str]) -> ContactWrites:
            return self._hubspot.set_restricted(list(dict.fromkeys(live.values())), restricted)

        outcomes, _ = self._follow(targets, self._hubspot.set_restricted(ids, restricted), again)
        emails = [t.email for t in targets if t.email] if unsubscribe else []
        unsubscribed = self._hubspot.unsubscribe_all(emails) if emails else {}
        for target in targets:
            failures = _failures(outcomes, target.contact_ids)
            errors = [f for f in failures if not isinstance(f, SubjectAbsent)]
            mail_error = unsubscribed.get(target.email) if target.email else None
            if mail_error is not None:
                errors.append(mail_error)
            if errors:
                results[target.event.seq] = errors[0]
                continue
            absent = not target.contact_ids or len(failures) == len(target.contact_ids)
            results[target.event.seq] = Applied(
                action,
                ("email",) if unsubscribe and target.email else (),
                note=ABSENT if absent else None,
            )
        return results

    def _export(self, targets: list[_Target]) -> dict[int, Result]:
        """Answer access requests: each subject's document into the export directory."""
        if self._access is None:
            error = PermanentError("no [export] directory to write to", code="export_not_set_up")
            return dict.fromkeys((t.event.seq for t in targets), error)
        results: dict[int, Result] = {}
        for target in targets:
            try:
                _path, document = self._access.export(
                    target.event, email=target.email, contact_ids=target.contact_ids
                )
            except SyncError as exc:
                results[target.event.seq] = exc
                continue
            # The audit row says an export was made; what it holds stays in the file.
            found = holds_anything(document)
            results[target.event.seq] = Applied(EXPORTED, note=None if found else ABSENT)
        return results


def _contact_ids(record: SubjectRecord | None, envelope: Envelope | None) -> list[str]:
    """The subject map's contacts of the event's subject, then those the event names itself."""
    known = record.contact_ids if record else ()
    named = envelope.contact_ids if envelope else ()
    return list(dict.fromkeys([*known, *named]))


def _failures(outcomes: dict[str, SyncError | None], contact_ids: list[str]) -> list[SyncError]:
    """The errors a batch call reported for these contacts."""
    return [error for c in contact_ids if (error := outcomes.get(c)) is not None]
