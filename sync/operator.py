"""What the operator's CLI does, without the CLI: submit, inspect, replay, skip, audit.

Every action that changes an event writes an audit row in the same
transaction. Free-text reasons are kept with emails masked, and nothing
returned here carries a payload: events are shown by ``StoredEvent.public()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sync.audit import (
    AuditAction,
    AuditBuilder,
    AuditEntry,
    AuditRow,
    CountAuditBuilder,
    Pseudonymizer,
    VerifyResult,
    action_entry,
    event_builder,
)
from sync.errors import (
    ConfigurationError,
    EventNotFound,
    InvalidEvent,
    InvalidTransition,
    SyncError,
)
from sync.handlers.access import EXPORTED, AccessExporter, Progress
from sync.logs import EMAIL_PATTERN
from sync.model import (
    Direction,
    Envelope,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    OutboxProblem,
    RegisterReadiness,
    SetAsideRow,
    StoredEvent,
    SubjectId,
    SubmitResult,
)
from sync.ports import Clock, Ledger, Register
from sync.rules.input import problems
from sync.status import DailyBudgetReader, OperatorReport, read_report
from sync.timefmt import iso_utc

REPLAY_BATCH = 100
"""Events returned to pending per ledger transaction by ``Operator.replay``."""


@dataclass
class Operator:
    """The operator's actions on one ledger, attributed to ``actor``.

    The pseudonymizer is built on first need, so reading commands work
    without the audit key while writing ones refuse clearly without it.
    ``daily_budget`` reads HubSpot's daily budget for ``status`` (wired by
    ``sync.bootstrap``; without it the report leaves the budget out), and
    ``register_readiness`` whether the register is set up (likewise);
    ``open_register`` connects to the register for the outbox commands,
    which close it when done.
    """

    ledger: Ledger
    clock: Clock
    actor: str
    pseudonym_key: bytes | None = None
    daily_budget: DailyBudgetReader | None = None
    register_readiness: Callable[[], RegisterReadiness] | None = None
    open_register: Callable[[], Register] | None = None
    _pseudonymizer: Pseudonymizer | None = None

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        """The keyed pseudonymizer; a ConfigurationError when no key is set."""
        if self._pseudonymizer is None:
            if self.pseudonym_key is None:
                raise ConfigurationError(
                    "[audit] pseudonym_key is not set: set HUBSYNC_AUDIT__PSEUDONYM_KEY"
                )
            self._pseudonymizer = Pseudonymizer(self.pseudonym_key)
        return self._pseudonymizer

    def _audit(self, action: str, detail: str | None = None) -> AuditBuilder:
        return event_builder(
            action,
            at=self.clock.now(),
            actor=self.actor,
            pseudonymizer=self.pseudonymizer,
            detail=detail,
        )

    # -- writing -----------------------------------------------------------

    def submit(self, envelope: Envelope, origin: Origin = Origin.OPERATOR) -> SubmitResult:
        """Validate and store one event bound for HubSpot; audited."""
        found = problems(envelope)
        if found:
            raise InvalidEvent(
                "invalid event:\n" + "\n".join(f"  - {p}" for p in found), problems=found
            )
        new = NewEvent(envelope, origin, Direction.TO_HUBSPOT)
        audit = self._audit(AuditAction.EVENT_SUBMITTED)
        return self.ledger.submit([new], self.clock.now(), audit=audit)[0]

    def replay(
        self, events: Sequence[StoredEvent], progress: Callable[[int], None] | None = None
    ) -> list[StoredEvent]:
        """Return failed events to pending, REPLAY_BATCH per transaction, each batch audited in it.

        A long ``replay --all`` commits as it goes; ``progress`` is told how
        many events each committed batch covered.
        """
        replayed: list[StoredEvent] = []
        for start in range(0, len(events), REPLAY_BATCH):
            batch = events[start : start + REPLAY_BATCH]
            audit = self._audit(AuditAction.EVENT_REPLAYED)
            replayed.extend(self.ledger.replay([e.seq for e in batch], self.clock.now(), audit))
            if progress is not None:
                progress(len(batch))
        return replayed

    def skip(self, event: StoredEvent, reason: str) -> StoredEvent:
        """Close a failed or pending event with a reason; audited."""
        safe = mask(reason)
        audit = self._audit(AuditAction.EVENT_SKIPPED, detail=safe)
        return self.ledger.skip([event.seq], safe, self.clock.now(), audit)[0]

    def extend(self, event: StoredEvent, days: int, reason: str) -> StoredEvent:
        """Extend an open event's deadline (Art. 12(3)); audited with the reason."""
        safe = mask(reason)
        audit = self._audit(AuditAction.DEADLINE_EXTENDED, detail=f"+{days}d: {safe}")
        return self.ledger.extend_deadline(event.seq, days, self.clock.now(), audit)

    def lift_suppression(self, email: str, reason: str) -> bool:
        """Let an erased email address be processed again (a new relationship); audited.

        Only an operator does this, with a reason: hubsync never lifts a
        suppression on its own. False when the address was not suppressed.
        """
        digest = self.pseudonymizer.email(email)
        now = self.clock.now()
        lifted = self.ledger.lift_suppression(digest, mask(reason), now)
        if lifted:
            entry = action_entry(
                AuditAction.SUPPRESSION_LIFTED,
                "lifted",
                at=now,
                actor=self.actor,
                field_names=("email",),
                detail=f"suppression {digest[:16]}: {mask(reason)}",
            )
            self.ledger.append_audit([entry])
        return lifted

    def export(
        self, exporter: AccessExporter, subject_id: str, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Everything held on a subject, as one document (Art. 15, 20); audited, never its contents.

        The audit row is appended once the document is put together, before
        it is handed on: the personal data has left HubSpot and the register
        by then, whatever becomes of the file.
        """
        pseudonymizer = self.pseudonymizer  # refuse before reading anything without the audit key
        document = exporter.document(subject_id, progress=progress)
        contacts = len(document["hubspot"]["contacts"])
        record = "yes" if document["register"] is not None else "no"
        entry = action_entry(
            EXPORTED,
            "done",
            at=self.clock.now(),
            actor=self.actor,
            subject_pseudonym=pseudonymizer.subject(subject_id),
            kind=EventKind.ACCESS.value,
            detail=f"hubspot contacts: {contacts}; register record: {record}",
        )
        self.ledger.append_audit([entry])
        return document

    def apply_retention(self, payload_days: float) -> dict[str, int]:
        """Scrub finished events older than the retention period; forget expired receipts.

        Receipts carry their own expiry, set when they were stored.
        """
        now = self.clock.now()
        return {
            "payloads_scrubbed": self.ledger.scrub_finished(
                now - timedelta(days=payload_days), now
            ),
            "receipts_purged": self.ledger.purge_receipts(now),
        }

    def upgrade(self) -> tuple[int, int]:
        """Apply schema migrations."""
        return self.ledger.upgrade(self.clock.now())

    def replay_webhooks(self) -> int:
        """Every failed webhook event back to pending; audited in the same transaction."""
        audit = self._inbox_audit(AuditAction.WEBHOOKS_REPLAYED, "replayed")
        return self.ledger.replay_webhooks(audit)

    def skip_webhooks(self, receipt_keys: Sequence[str], reason: str) -> int:
        """Give up failed webhook events (payload scrubbed); audited with the reason, same tx."""
        audit = self._inbox_audit(
            AuditAction.WEBHOOKS_SKIPPED, "skipped", detail=mask(reason)[:200]
        )
        return self.ledger.skip_webhooks(list(receipt_keys), self.clock.now(), audit)

    def outbox(self, shown: int = 20) -> OutboxReport:
        """The register's outbox rows that are not valid events (id, when, problems).

        Counted as far as the register reads (``Register.outbox_problems``).
        """
        with self._register() as register:
            found = register.outbox_problems(OUTBOX_COUNTED)
        return OutboxReport(len(found), found[:shown])

    def skip_outbox(self, outbox_ids: Sequence[str], reason: str) -> list[str]:
        """Give up register outbox rows that are not valid events; returns the ids skipped.

        Only rows ``outbox`` lists can be skipped: a valid row is hubsync's to
        take. The audit row (the ids and the masked reason) is written first,
        then the rows are acknowledged in the register, so a skip is never
        unaudited; doing it again skips nothing twice.
        """
        safe = mask(reason)[:200]
        with self._register() as register:
            waiting = {p.outbox_id for p in register.outbox_problems(OUTBOX_COUNTED)}
            chosen = [i for i in dict.fromkeys(outbox_ids) if i in waiting]
            if chosen:
                self.ledger.append_audit(
                    [
                        action_entry(
                            AuditAction.OUTBOX_ROWS_SKIPPED,
                            f"{len(chosen)} skipped",
                            at=self.clock.now(),
                            actor=self.actor,
                            direction=Direction.TO_HUBSPOT.value,
                            system=Origin.REGISTER.value,
                            detail=f"outbox ids {', '.join(chosen)}: {safe}"[:500],
                        )
                    ]
                )
                register.acknowledge(chosen)
        return chosen

    @contextmanager
    def _register(self) -> Iterator[Register]:
        if self.open_register is None:
            raise ConfigurationError("no register is configured for this operator")
        register = self.open_register()
        try:
            yield register
        finally:
            register.close()

    def _inbox_audit(self, action: str, verb: str, detail: str | None = None) -> CountAuditBuilder:
        """The audit row of an action on the webhook inbox (no subject, no event), by count."""
        now = self.clock.now()

        def build(count: int) -> AuditEntry:
            return action_entry(
                action,
                f"{count} {verb}",
                at=now,
                actor=self.actor,
                direction=Direction.TO_REGISTER.value,
                detail=detail,
            )

        return build

    # -- reading -----------------------------------------------------------

    def event(self, event_id: str, origin: Origin | None = None) -> StoredEvent:
        """One event by id; an id used by several origins needs ``origin``."""
        found = self.ledger.find(event_id, origin)
        if not found:
            raise EventNotFound(f"no event {event_id}")
        if len(found) > 1:
            origins = ", ".join(e.origin.value for e in found)
            raise InvalidTransition(
                f"event id {event_id} is used by several origins ({origins}): pass --origin"
            )
        return found[0]

    def events(
        self,
        *,
        state: EventState | None = None,
        kind: EventKind | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
    ) -> list[StoredEvent]:
        """Events matching the filters, oldest first."""
        return self.ledger.list_events(
            state=state, kind=kind, subject_id=subject_id, since=since, limit=limit
        )

    def status(self) -> OperatorReport:
        """Counts by state and kind, deadlines, oldest ready age, counters, budget, register.

        And how many register outbox rows wait because they are not valid
        events (None when the register cannot be asked: ``register`` says why).
        """
        report = read_report(
            self.ledger, self.clock.now(), self.daily_budget, self.register_readiness
        )
        if self.open_register is None:
            return report
        try:
            waiting: int | None = self.outbox(0).waiting
        except (SyncError, ConfigurationError):
            waiting = None
        return replace(report, register_outbox_invalid=waiting)

    def verify_audit(self) -> VerifyResult:
        """Check the audit chain."""
        return self.ledger.verify_audit()

    def audit_rows(self, since: datetime | None = None) -> Iterator[AuditRow]:
        """Audit rows from ``since`` on."""
        return self.ledger.audit_rows(since)

    def inbox(self, shown: int = 20) -> InboxReport:
        """Webhook events by state, and up to ``shown`` failed ones (key, when, why)."""
        return InboxReport(self.ledger.webhook_states(), self.ledger.set_aside_webhooks(shown))


INBOX_STATES = ("pending", "failed", "done", "skipped")

OUTBOX_COUNTED = 1000
"""Register outbox rows that are not valid events, counted at most (``outbox``, ``status``)."""


@dataclass(frozen=True)
class OutboxReport:
    """What ``outbox status`` shows: the register's outbox rows hubsync cannot take, no values."""

    waiting: int
    rows: list[OutboxProblem]

    def as_dict(self) -> dict[str, Any]:
        """JSON form: how many wait (``OUTBOX_COUNTED`` at most) and the rows shown."""
        return {
            "invalid": self.waiting,
            "rows": [
                {
                    "outbox_id": r.outbox_id,
                    "written_at": iso_utc(r.written_at) if r.written_at else None,
                    "problems": list(r.problems),
                }
                for r in self.rows
            ],
        }


@dataclass(frozen=True)
class InboxReport:
    """What ``inbox status`` shows: webhook events by state and the failed ones, no payload."""

    counts: dict[str, int]
    failed_items: list[SetAsideRow]

    def as_dict(self) -> dict[str, Any]:
        """JSON form: a count per state and ``failed_items`` (key, received_at, problem)."""
        report: dict[str, Any] = {s: self.counts.get(s, 0) for s in INBOX_STATES}
        report["failed_items"] = [
            {
                "receipt_key": r.receipt_key,
                "received_at": iso_utc(r.received_at),
                "problem": r.problem,
            }
            for r in self.failed_items
        ]
        return report


def mask(text: str) -> str:
    """Free text with anything shaped like an email address masked."""
    return EMAIL_PATTERN.sub("[email]", text).strip()


def new_envelope(
    kind: EventKind,
    subject_id: str,
    occurred_at: datetime,
    event_id: str,
    *,
    email: str | None = None,
    changes: dict[str, Any] | None = None,
    subscription_ids: Sequence[str] = (),
    legal_basis: str | None = None,
    reference: str | None = None,
) -> Envelope:
    """An envelope from loose arguments (the CLI's and the demo's)."""
    return Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=SubjectId(subject_id),
        occurred_at=occurred_at,
        email=email,
        changes=dict(changes or {}),
        subscription_ids=tuple(subscription_ids),
        legal_basis=legal_basis,
        reference=reference,
    )
