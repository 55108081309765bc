"""Reconciliation: what differs between one HubSpot contact and the register, by class.

Pure decisions over facts already read (``sync.handlers.reconcile`` reads them):
one contact (``ContactFacts``), the register subjects it may be (found by
normalised email, or linked by the subject map) and the field mapping's
authorities. Each difference is a ``Drift``: a class, the contact and
subject ids, and field names, never an email or a value, so a drift can be
printed, written to a report or audited as it is.

The classes (README, "hubsync reconcile"):

- ``erased_but_present``: the contact is on the suppression list, or linked
  to a subject the register has erased (repair: erase again);
- ``opt_out_missing_in_hubspot``: the register says opted out or restricted,
  HubSpot has not opted the address out of all email;
- ``opt_out_missing_in_register``: HubSpot opted out of all email, the
  register has no opt-out;
- ``field_drift``: a mapped field differs; ``repair`` follows its authority
  (``sync.rules.authority``);
- ``restriction_drift``: the restriction property disagrees with the register;
- ``unlinked``: the email matches a subject the subject map does not link;
- ``unknown_to_register``: no register subject matches (reported only);
- ``ambiguous``: two subjects share the email, the emails differ only in
  case or whitespace, a contact is linked to several subjects, or one
  subject matches several contacts that no merge explains. Never repaired
  on its own: acting on the wrong person is the worst outcome here, so an
  ambiguous contact gets no other drift.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sync.model import Authority, RegisterSubject


class DriftClass(enum.StrEnum):
    """What kind of difference a drift is; the order is the report's order."""

    ERASED_BUT_PRESENT = "erased_but_present"
    OPT_OUT_MISSING_IN_HUBSPOT = "opt_out_missing_in_hubspot"
    OPT_OUT_MISSING_IN_REGISTER = "opt_out_missing_in_register"
    FIELD_DRIFT = "field_drift"
    RESTRICTION_DRIFT = "restriction_drift"
    UNLINKED = "unlinked"
    UNKNOWN_TO_REGISTER = "unknown_to_register"
    AMBIGUOUS = "ambiguous"


class Repair(enum.StrEnum):
    """What ``--apply`` would do about a drift (a dry run only reports it)."""

    ERASE_AGAIN = "erase_again"
    OPT_OUT_IN_HUBSPOT = "opt_out_in_hubspot"
    OPT_OUT_IN_REGISTER = "opt_out_in_register"
    RECTIFY_HUBSPOT = "rectify_hubspot"
    UPDATE_REGISTER = "update_register"
    SET_RESTRICTION = "set_restriction"
    LINK = "link"
    REPORT_ONLY = "report_only"


class Ambiguity(enum.StrEnum):
    """Why a contact is ambiguous (the report's ``reason``)."""

    SHARED_EMAIL = "shared_email"
    EMAIL_CASE = "email_case_or_whitespace"
    LINKED_TO_SEVERAL = "linked_to_several_subjects"
    SEVERAL_CONTACTS = "several_contacts"


@dataclass(frozen=True, slots=True)
class Drift:
    """One difference: ids, class, field names and the repair; no email, no value."""

    drift_class: DriftClass
    contact_ids: tuple[str, ...]
    subject_ids: tuple[str, ...] = ()
    field_names: tuple[str, ...] = ()
    repair: Repair = Repair.REPORT_ONLY
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain JSON form for the report."""
        return {
            "class": self.drift_class.value,
            "contact_ids": list(self.contact_ids),
            "subject_ids": list(self.subject_ids),
            "fields": list(self.field_names),
            "repair": self.repair.value,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """What HubSpot says of one contact, and what the ledger knows of it.

    ``values``: the mapped properties' values by *register* field name.
    ``opted_out_all``: None when the statuses could not be read (no
    opt-out drift is then decided). ``suppressed``: its id or email digest
    is on the suppression list. ``linked``: the subjects the subject map
    links to it (or to an id merged into it).
    """

    contact_id: str
    email: str | None
    values: Mapping[str, str | None] = field(default_factory=dict)
    restricted: bool = False
    opted_out_all: bool | None = False
    merged_ids: tuple[str, ...] = ()
    suppressed: bool = False
    linked: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldTimes:
    """When each field last changed on each side, as far as hubsync knows (``both`` fields)."""

    register: Mapping[str, datetime] = field(default_factory=dict)
    hubspot: Mapping[str, datetime] = field(default_factory=dict)


def email_key(email: str | None) -> str | None:
    """The email as compared across systems: NFKC, trimmed, lower case; None when blank."""
    if email is None:
        return None
    key = unicodedata.normalize("NFKC", email).strip().lower()
    return key or None


def field_repair(authority: Authority, name: str, times: FieldTimes) -> Repair:
    """Which way a field drift is repaired: by authority; ``both``: the later change wins.

    With ``both`` and no time known on either side there is no winner: report only.
    A tie goes to HubSpot, as in ``sync.rules.authority``.
    """
    if authority is Authority.REGISTER:
        return Repair.RECTIFY_HUBSPOT
    if authority is Authority.HUBSPOT:
        return Repair.UPDATE_REGISTER
    register_at, hubspot_at = times.register.get(name), times.hubspot.get(name)
    if register_at is None and hubspot_at is None:
        return Repair.REPORT_ONLY
    if hubspot_at is None or (register_at is not None and register_at > hubspot_at):
        return Repair.RECTIFY_HUBSPOT
    return Repair.UPDATE_REGISTER


def _text(value: str | None) -> str:
    return "" if value is None else value


def classify_contact(
    contact: ContactFacts,
    by_email: Sequence[RegisterSubject],
    linked: Sequence[RegisterSubject],
    authorities: Mapping[str, Authority],
    times: FieldTimes | None = None,
) -> tuple[list[Drift], str | None]:
    """The drifts of one contact, and the subject it was matched to (None: none, or ambiguous).

    ``by_email``: the register subjects (erased ones included) whose
    normalised email is the contact's; ``linked``: those the subject map
    links to it. ``authorities``: the mapped register fields compared.
    """
    verdict, subject = _match(contact, by_email, linked)
    if subject is None:
        return ([verdict] if verdict else []), None
    drifts = [verdict] if verdict else []
    drifts += _differences(contact, subject, authorities, times or FieldTimes())
    return drifts, subject.subject_id


def _match(
    contact: ContactFacts, by_email: Sequence[RegisterSubject], linked: Sequence[RegisterSubject]
) -> tuple[Drift | None, RegisterSubject | None]:
    """Which subject the contact is: a drift that ends the comparison, ``unlinked``, or none."""
    cid = (contact.contact_id,)
    erased = sorted({s.subject_id for s in (*by_email, *linked) if s.erased})
    if contact.suppressed or erased:
        return Drift(
            DriftClass.ERASED_BUT_PRESENT, cid, tuple(erased), (), Repair.ERASE_AGAIN
        ), None
    emails = [s for s in by_email if not s.erased]
    for reason, several in (
        (Ambiguity.SHARED_EMAIL, emails),
        (Ambiguity.LINKED_TO_SEVERAL, linked),
    ):
        if len(several) > 1:
            ids = tuple(sorted(s.subject_id for s in several))
            return Drift(DriftClass.AMBIGUOUS, cid, ids, reason=reason), None
    subject = linked[0] if linked else (emails[0] if emails else None)
    if subject is None:
        return Drift(DriftClass.UNKNOWN_TO_REGISTER, cid), None
    sid = (subject.subject_id,)
    if (
        subject.email is not None
        and subject.email != contact.email
        and email_key(subject.email) == email_key(contact.email)
    ):
        return Drift(DriftClass.AMBIGUOUS, cid, sid, reason=Ambiguity.EMAIL_CASE), None
    if not linked:
        return Drift(DriftClass.UNLINKED, cid, sid, repair=Repair.LINK), subject
    return None, subject


def _differences(
    contact: ContactFacts,
    subject: RegisterSubject,
    authorities: Mapping[str, Authority],
    times: FieldTimes,
) -> list[Drift]:
    """What differs between a contact and its subject: opt-outs, restriction, mapped fields."""
    cid, sid = (contact.contact_id,), (subject.subject_id,)
    drifts: list[Drift] = []
    if (subject.opted_out or subject.restricted) and contact.opted_out_all is False:
        drifts.append(
            Drift(DriftClass.OPT_OUT_MISSING_IN_HUBSPOT, cid, sid, repair=Repair.OPT_OUT_IN_HUBSPOT)
        )
    if contact.opted_out_all is True and not subject.opted_out:
        drifts.append(
            Drift(
                DriftClass.OPT_OUT_MISSING_IN_REGISTER, cid, sid, repair=Repair.OPT_OUT_IN_REGISTER
            )
        )
    if contact.restricted != subject.restricted:
        drifts.append(Drift(DriftClass.RESTRICTION_DRIFT, cid, sid, repair=Repair.SET_RESTRICTION))
    register_values = {"email": subject.email, **subject.fields}
    for name in sorted(authorities):
        if name not in contact.values or name not in register_values:
            continue
        ours, theirs = _text(register_values[name]), _text(contact.values[name])
        if name == "email":
            ours, theirs = _text(email_key(ours)), _text(email_key(theirs))
        if ours != theirs:
            repair = field_repair(authorities[name], name, times)
            drifts.append(Drift(DriftClass.FIELD_DRIFT, cid, sid, (name,), repair))
    return drifts


@dataclass(frozen=True, slots=True)
class Match:
    """A contact matched to a subject, with the ids merged into it (``several_contacts``)."""

    contact_id: str
    merged_ids: tuple[str, ...] = ()


def several_contacts(matches: Mapping[str, Sequence[Match]]) -> list[Drift]:
    """Subjects matched by several contacts that no merge explains: one ambiguous drift each.

    A merge explains two contacts when one's merged ids name the other
    (HubSpot lists the merged record; the old id lives on in the subject map).
    """
    drifts: list[Drift] = []
    for subject_id in sorted(matches):
        contacts = matches[subject_id]
        ids = {m.contact_id for m in contacts}
        explained = any((ids - {m.contact_id}) <= set(m.merged_ids) for m in contacts)
        if len(ids) > 1 and not explained:
            drifts.append(
                Drift(
                    DriftClass.AMBIGUOUS,
                    tuple(sorted(ids)),
                    (subject_id,),
                    reason=Ambiguity.SEVERAL_CONTACTS,
                )
            )
    return drifts


def counts(drifts: Sequence[Drift]) -> dict[str, int]:
    """How many drifts of each class, every class named (0 included), in report order."""
    found = dict.fromkeys((c.value for c in DriftClass), 0)
    for drift in drifts:
        found[drift.drift_class.value] += 1
    return found
