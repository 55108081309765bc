"""What a HubSpot change means, decided from facts the handler has already read.

``handlers.from_hubspot`` leases webhook events from the inbox, reads what
each one needs to be decided (``Facts``: the subject map, hubsync's echo
marks, the suppression list, the mapping, the register's last changes) and
asks ``meaning``; the answer is a list of verdicts, values it carries out
(DESIGN.md sections 2 and 4):

=====================  ===================================  ========================
change                 given                                verdicts
=====================  ===================================  ========================
a property change      hubsync wrote it (``rules.echo``)    ``DropEcho``
the email address      it is on the suppression list        ``EraseAgain`` (once)
an opt-out             opted out                            ``RegisterEvent`` opt-out
                       opted back in (needs a legal basis   ``Ignore``
                       only the register holds)
a mapped property      by authority (``rules.authority``)   ``RegisterEvent``
                                                            rectification,
                                                            ``RevertHubSpot`` or
                                                            ``Ignore``
an unmapped property                                        ``Ignore``
created                its address is suppressed            ``EraseAgain`` (once)
                       otherwise                            ``LinkSubject``
erased (GDPR delete)   the contact is suppressed            ``DropEcho``
                       no subject has it                    ``SuppressContact``
                       a subject being erased already       ``DropEcho``
                       any other subject                    ``EraseInRegister``
archived               suppressed, or no subject            ``Ignore``
                       otherwise                            ``Notify`` archived
merged                                                      ``Rekey``; then
                                                            ``after_rekey``:
                                                            ``Notify`` a conflict
                                                            when two or more
                                                            subjects share it
any other                                                   ``Ignore``
=====================  ===================================  ========================

A property change or an opt-out whose contact has no subject in the map yet
gets ``LinkSubject``: the handler links it by email (the ledger, then the
register) and asks again with the subjects found. A change that lacks what
its kind needs (a contact id, say) is ``Incomplete``: it is set aside for an
operator. Nothing here reads, writes, logs or looks at a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sync.model import Authority, ChangeKind, EventKind, HubSpotChange, NoticeKind, SubjectId
from sync.rules import authority, echo
from sync.rules.authority import InboundAction

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Mapped:
    """The register field a HubSpot property maps to, and the field's authority."""

    field_name: str
    authority: Authority


@dataclass(frozen=True, slots=True)
class Facts:
    """What the handler read before asking what one change means.

    ``mapped`` is the changed property's register field (None: not mapped).
    ``subjects`` are the subjects of the change's contact in the subject map;
    None when the contact has none there and has not been linked by email
    yet (the rule then asks for ``LinkSubject``). ``erasing`` are those among
    them whose erasure is under way or done. ``written``: the change's value
    is one hubsync wrote (its echo mark was found). ``email_suppressed``: the
    address the change sets, or the created contact's, is on the suppression
    list; ``contact_suppressed``: the contact id is (it was erased, or is
    being erased again). ``contact_email`` is a created contact's address
    as HubSpot holds it, and ``contact_gone`` says HubSpot no longer has it
    (for a deletion: not even archived, so it was GDPR-deleted).
    ``register_changed_at`` holds, per subject, when the register's last
    known change of the mapped field occurred.
    """

    mapped: Mapped | None = None
    written: bool = False
    subjects: tuple[SubjectId, ...] | None = None
    erasing: frozenset[SubjectId] = frozenset()
    email_suppressed: bool = False
    contact_suppressed: bool = False
    contact_email: str | None = field(default=None, repr=False)
    contact_gone: bool = False
    register_changed_at: Mapping[SubjectId, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RegisterEvent:
    """A register-bound event for ``subject``: a rectification or an opt-out."""

    subject: SubjectId
    kind: EventKind
    changes: Mapping[str, Any] = field(default_factory=dict, repr=False)
    subscription_id: str | None = None


@dataclass(frozen=True, slots=True)
class RevertHubSpot:
    """Set a register-owned field in HubSpot back to the register's value, if it differs."""

    subject: SubjectId
    field_name: str
    hubspot_value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class EraseAgain:
    """A contact that came back after an erasure: an erasure of it, by id, through the queue."""

    contact_id: str


@dataclass(frozen=True, slots=True)
class EraseInRegister:
    """HubSpot erased a linked subject: an erasure for the register, the subject suppressed."""

    subject: SubjectId


@dataclass(frozen=True, slots=True)
class SuppressContact:
    """HubSpot erased a contact no subject has: only its id goes on the suppression list."""

    contact_id: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A notice for the register's operators about these subjects and contact."""

    kind: NoticeKind
    subjects: tuple[SubjectId, ...]
    contact_id: str


@dataclass(frozen=True, slots=True)
class LinkSubject:
    """Find the contact's subjects by email (``email``, else the contact's own) and link them."""

    contact_id: str
    email: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Rekey:
    """Contacts merged: the subject map follows ``old_ids`` to ``new_id``."""

    old_ids: tuple[str, ...]
    new_id: str


@dataclass(frozen=True, slots=True)
class DropEcho:
    """hubsync's own change coming back (counted, nothing else)."""


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do; ``reason`` is the log event that says why (None: not worth a line)."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Incomplete:
    """The change lacks what its kind needs: set aside for an operator."""

    missing: str

    @property
    def code(self) -> str:
        """The error code the set-aside webhook carries."""
        return "webhook_incomplete"


Verdict = (
    RegisterEvent
    | RevertHubSpot
    | EraseAgain
    | EraseInRegister
    | SuppressContact
    | Notify
    | LinkSubject
    | Rekey
    | DropEcho
    | Ignore
    | Incomplete
)


def meaning(change: HubSpotChange, facts: Facts) -> list[Verdict]:
    """What ``change`` means, given ``facts``; see the module's table."""
    kind = change.kind
    if kind is ChangeKind.PROPERTY_CHANGED:
        return _property_changed(change, facts)
    if kind is ChangeKind.ERASED:
        return _erased(change, facts)
    if kind is ChangeKind.ARCHIVED:
        return _archived(change, facts)
    if kind is ChangeKind.MERGED:
        return _merged(change)
    if kind is ChangeKind.CREATED:
        return _created(change, facts)
    return [Ignore("webhook_ignored")]


def after_rekey(new_id: str, subjects: Sequence[SubjectId]) -> list[Verdict]:
    """After a merge re-keyed the map: two or more subjects on one contact are a conflict."""
    if len(set(subjects)) > 1:
        return [Notify(NoticeKind.MERGE_CONFLICT, tuple(subjects), new_id)]
    return []


def distinct_opt_outs(opt_outs: Sequence[tuple[T, RegisterEvent]]) -> list[tuple[T, RegisterEvent]]:
    """The opt-outs of a round, one per subject and subscription, in order.

    An unsubscribe from all email changes the opt-out from all and each
    subscription's at once: the register hears one opt-out from all, not
    one per subscription as well.
    """
    from_all = {e.subject for _, e in opt_outs if e.subscription_id is None}
    seen: set[tuple[SubjectId, str | None]] = set()
    kept: list[tuple[T, RegisterEvent]] = []
    for item, event in opt_outs:
        key = (event.subject, event.subscription_id)
        if (event.subscription_id is not None and event.subject in from_all) or key in seen:
            continue
        seen.add(key)
        kept.append((item, event))
    return kept


def _property_changed(change: HubSpotChange, facts: Facts) -> list[Verdict]:  # noqa: PLR0911 - the table, row by row
    contact, name = change.object_id, change.property_name
    if contact is None or name is None:
        return [Incomplete("objectId or propertyName")]
    if echo.is_echo(change, facts.written):
        return [DropEcho()]
    value = change.property_value or ""
    if change.changes_email and value and facts.email_suppressed:
        return [] if facts.contact_suppressed else [EraseAgain(contact)]
    if change.opt_out is not None:
        return _opt_out(change, facts, contact)
    if facts.mapped is None:
        return [Ignore()]  # a property the mapping does not carry: nothing for the register
    if facts.subjects is None:
        return [LinkSubject(contact, value if change.changes_email else None)]
    if not facts.subjects:
        return [Ignore("hubspot_change_unlinked")]
    return [_mapped_change(change, facts.mapped, s, facts) for s in facts.subjects]


def _opt_out(change: HubSpotChange, facts: Facts, contact: str) -> list[Verdict]:
    assert change.opt_out is not None
    if not change.opt_out.opted_out:
        return [Ignore("hubspot_opt_in_not_propagated")]
    if facts.subjects is None:
        return [LinkSubject(contact)]
    sub = change.opt_out.subscription_id
    return [
        RegisterEvent(s, EventKind.MARKETING_OPT_OUT, subscription_id=sub) for s in facts.subjects
    ]


def _mapped_change(
    change: HubSpotChange, mapped: Mapped, subject: SubjectId, facts: Facts
) -> Verdict:
    value = change.property_value or ""
    changed_at = facts.register_changed_at.get(subject)
    action = authority.inbound_action(mapped.authority, change.occurred_at, changed_at)
    if action is InboundAction.REVERT_HUBSPOT:
        return RevertHubSpot(subject, mapped.field_name, value)
    if action is InboundAction.RECTIFY_REGISTER:
        return RegisterEvent(subject, EventKind.RECTIFICATION, {mapped.field_name: value or None})
    return Ignore("hubspot_change_older_than_register")


def _erased(change: HubSpotChange, facts: Facts) -> list[Verdict]:
    contact = change.object_id
    if contact is None:
        return [Incomplete("objectId")]
    if facts.contact_suppressed:
        return [DropEcho()]  # hubsync's own erasure, or one already handled
    if not facts.subjects:
        return [SuppressContact(contact)]
    # A subject whose erasure is under way: this deletion is its echo, and the
    # register needs no erasure back.
    return [DropEcho() if s in facts.erasing else EraseInRegister(s) for s in facts.subjects]


def _archived(change: HubSpotChange, facts: Facts) -> list[Verdict]:
    contact = change.object_id
    if contact is None:
        return [Incomplete("objectId")]
    if facts.contact_suppressed or not facts.subjects:
        return [Ignore()]  # the archive that goes with an erasure, or nobody to tell
    if facts.contact_gone:
        # Not held even archived: the deletion half of a GDPR delete, whose
        # contact.privacyDeletion carries the erasure. Not an archive.
        return [Ignore("webhook_deletion_of_a_gdpr_delete")]
    return [Notify(NoticeKind.CONTACT_ARCHIVED, facts.subjects, contact)]


def _merged(change: HubSpotChange) -> list[Verdict]:
    new_id = change.new_id or change.object_id
    if not new_id:
        return [Incomplete("newObjectId")]
    old_ids = tuple(i for i in (change.primary_id, *change.merged_ids) if i)
    return [Rekey(old_ids, new_id)]


def _created(change: HubSpotChange, facts: Facts) -> list[Verdict]:
    contact = change.object_id
    if contact is None:
        return [Incomplete("objectId")]
    if facts.contact_gone or not facts.contact_email:
        return []  # erased again already (by an earlier event), or no address to link by
    if facts.email_suppressed:
        return [] if facts.contact_suppressed else [EraseAgain(contact)]
    if facts.subjects is None:
        return [LinkSubject(contact, facts.contact_email)]
    return []
