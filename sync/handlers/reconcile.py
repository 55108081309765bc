"""``hubsync reconcile --dry-run``: read both sides, sort every difference into a class.

Reads the register's subjects page by page (``Register.subjects_page``),
then HubSpot's contacts page by page (``HubSpot.list_contacts``) with their
subscription statuses (100 addresses a call) and what the ledger knows of
each (subject map, suppression list, when fields last changed), and hands
each contact to the pure rules (``sync.rules.reconcile``). Nothing is
written to HubSpot or the register; the run leaves one audit row with its
counts. ``--apply``, a resumable cursor and progress are later steps: they
take the same ``Drift`` list this produces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sync.audit import HUBSYNC, AuditEntry, Pseudonymizer
from sync.model import Authority, Direction, HubSpotContact, RegisterSubject
from sync.ports import Clock, HubSpot, Ledger, Register
from sync.rules import reconcile as rules
from sync.rules.reconcile import ContactFacts, Drift, FieldTimes, Match

SUBJECT_PAGE = 500
RECONCILED = "reconcile_dry_run"
"""The audit action of a dry run."""


@dataclass(frozen=True, slots=True)
class Mapped:
    """One mapped field: the register's name, HubSpot's property, its authority."""

    field: str
    hubspot: str
    authority: Authority


@dataclass(slots=True)
class ReconcileReport:
    """What a run found: ids, classes and field names only."""

    run_id: str
    started_at: datetime
    contacts: int = 0
    subjects: int = 0
    drifts: list[Drift] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Drifts per class, every class named."""
        return rules.counts(self.drifts)

    def as_dict(self) -> dict[str, object]:
        """The JSON report."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "contacts": self.contacts,
            "subjects": self.subjects,
            "counts": self.counts(),
            "drifts": [d.as_dict() for d in self.drifts],
        }


class Reconciler:
    """Compares HubSpot with the register through the ports; changes neither."""

    def __init__(
        self,
        *,
        hubspot: HubSpot,
        register: Register,
        ledger: Ledger,
        mapped: Sequence[Mapped],
        pseudonymizer: Pseudonymizer,
        clock: Clock,
        actor: str,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._hubspot = hubspot
        self._register = register
        self._ledger = ledger
        self._mapped = list(mapped)
        self._pseudonymizer = pseudonymizer
        self._clock = clock
        self._actor = actor
        self._new_id = new_id

    def dry_run(self) -> ReconcileReport:
        """Read everything, classify, audit the counts; returns the report."""
        report = ReconcileReport(self._new_id(), self._clock.now())
        by_id, by_key = self._register_subjects()
        report.subjects = len(by_id)
        matches: dict[str, list[Match]] = {}
        after: str | None = None
        properties = sorted({m.hubspot for m in self._mapped} | {"email"})
        while True:
            contacts, after = self._hubspot.list_contacts(after, properties)
            report.contacts += len(contacts)
            self._page(contacts, by_id, by_key, report.drifts, matches)
            if after is None:
                break
        several = rules.several_contacts(matches)
        if several:
            held = {c for d in several for c in d.contact_ids}
            report.drifts = [d for d in report.drifts if not set(d.contact_ids) <= held]
            report.drifts += several
        order = list(rules.DriftClass)
        report.drifts.sort(key=lambda d: (order.index(d.drift_class), d.contact_ids))
        self._audit(report)
        return report

    def _register_subjects(
        self,
    ) -> tuple[dict[str, RegisterSubject], dict[str, list[RegisterSubject]]]:
        by_id: dict[str, RegisterSubject] = {}
        by_key: dict[str, list[RegisterSubject]] = {}
        after: str | None = None
        while True:
            page, after = self._register.subjects_page(after, SUBJECT_PAGE)
            for subject in page:
                by_id[subject.subject_id] = subject
                key = rules.email_key(subject.email)
                if key is not None:
                    by_key.setdefault(key, []).append(subject)
            if after is None:
                return by_id, by_key

    def _page(
        self,
        contacts: Sequence[HubSpotContact],
        by_id: dict[str, RegisterSubject],
        by_key: dict[str, list[RegisterSubject]],
        drifts: list[Drift],
        matches: dict[str, list[Match]],
    ) -> None:
        """One page of contacts: statuses, links, suppressions and field times in few reads."""
        emails = [e for c in contacts if (e := c.properties.get("email"))]
        statuses = self._hubspot.subscription_statuses_many(emails) if emails else {}
        keys = [k for c in contacts for k in (c.id, *c.merged_ids)]
        links = self._ledger.subjects_for_contacts(keys) if keys else {}
        linked = {
            c.id: sorted({s for k in (c.id, *c.merged_ids) for s in links.get(k, [])})
            for c in contacts
        }
        subject_ids = sorted({s for ids in linked.values() for s in ids})
        register_times = self._times(subject_ids, Direction.TO_HUBSPOT)
        hubspot_times = self._times(subject_ids, Direction.TO_REGISTER)
        authorities = {m.field: m.authority for m in self._mapped}
        for contact in contacts:
            email = contact.properties.get("email")
            status = statuses.get(email) if email else None
            opted_out = getattr(status, "unsubscribed_from_all", None) if email else False
            facts = ContactFacts(
                contact_id=contact.id,
                email=email,
                values={m.field: contact.properties.get(m.hubspot) for m in self._mapped},
                restricted=bool(contact.restricted),
                opted_out_all=opted_out,
                merged_ids=contact.merged_ids,
                suppressed=self._suppressed(contact.id, email),
                linked=tuple(linked[contact.id]),
            )
            key = rules.email_key(email)
            own = linked[contact.id][0] if len(linked[contact.id]) == 1 else None
            times = FieldTimes(register_times.get(own or "", {}), hubspot_times.get(own or "", {}))
            found, matched = rules.classify_contact(
                facts,
                by_key.get(key, []) if key else [],
                [by_id[s] for s in linked[contact.id] if s in by_id],
                authorities,
                times,
            )
            drifts.extend(found)
            if matched is not None:
                matches.setdefault(matched, []).append(Match(contact.id, contact.merged_ids))

    def _times(
        self, subject_ids: Sequence[str], direction: Direction
    ) -> dict[str, dict[str, datetime]]:
        """When each field of each subject last changed going ``direction``, in one read."""
        found: dict[str, dict[str, datetime]] = {}
        if subject_ids:
            for (subject, name), at in self._ledger.last_rectified(subject_ids, direction).items():
                found.setdefault(subject, {})[name] = at
        return found

    def _suppressed(self, contact_id: str, email: str | None) -> bool:
        digests = [self._pseudonymizer.contact(contact_id)]
        if email:
            digests.append(self._pseudonymizer.email(email))
        return any(self._ledger.is_suppressed(d) for d in digests)

    def _audit(self, report: ReconcileReport) -> None:
        """One audit row for the run: its id and counts, no subject, no value."""
        detail = {"contacts": report.contacts, "subjects": report.subjects, **report.counts()}
        self._ledger.append_audit(
            [
                AuditEntry(
                    at=self._clock.now(),
                    actor=self._actor,
                    action=RECONCILED,
                    direction="none",
                    system=HUBSYNC,
                    subject_pseudonym=None,
                    kind=None,
                    event_id=report.run_id,
                    outcome="completed",
                    detail=json.dumps(detail, sort_keys=True),
                )
            ]
        )
