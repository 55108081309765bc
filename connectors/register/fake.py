"""``FakeRegister``: the register in memory, with the behaviour of ``SqlRegister``.

For tests of the core (worker, intake, demo) and as the state behind the
test suite's reference HTTP register. It applies the same decisions
(``connectors.register.effects``) as ``SqlRegister``; the contract suite
checks both. ``faults`` makes ``apply`` answer an error for a subject, so
core tests can drive failure paths without patching anything;
``setup_problems`` makes it a register that is not set up: ``readiness``
names them and every call of the port raises ``RegisterNotSetUp``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.register import effects
from connectors.register.effects import ErasureMode
from connectors.register.wire import register_envelope
from sync.errors import RegisterNotSetUp, SyncError
from sync.model import (
    Envelope,
    Origin,
    OutboxProblem,
    RegisterNotice,
    RegisterReadiness,
    RegisterSubject,
    StoredEvent,
    SubjectId,
)
from sync.rules.input import problems
from sync.timefmt import iso_utc


@dataclass(slots=True)
class OutboxRow:
    """One register-side event waiting for hubsync."""

    id: int
    envelope: Envelope
    created_at: datetime
    acknowledged_at: datetime | None = None


class FakeRegister:
    """An in-memory register: customers, an outbox and notices, thread-safe."""

    def __init__(
        self,
        *,
        on_hubspot_erasure: ErasureMode = "notify",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.on_hubspot_erasure: ErasureMode = on_hubspot_erasure
        self._now = now
        self._lock = threading.Lock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.outbox: list[OutboxRow] = []
        self.notices: dict[str, RegisterNotice] = {}
        self.faults: dict[str, SyncError] = {}
        """Subject id -> the error ``apply`` answers for that subject's events."""
        self.applied: list[str] = []
        """Event ids whose effect was applied, in order (repeats included)."""
        self.setup_problems: list[str] = []
        """What is missing (``table dsr_outbox is missing ...``); empty: set up."""

    # -- the register's own side (what its application does) ---------------

    def add_customer(self, subject_id: str, **fields: Any) -> None:
        """Create or replace a customer (``email``, ``first_name``, ... as keyword arguments)."""
        unknown = set(fields) - set(effects.PERSONAL_COLUMNS) - set(effects.FLAG_COLUMNS)
        if unknown:
            raise ValueError(f"unknown customer fields: {', '.join(sorted(unknown))}")
        with self._lock:
            record: dict[str, Any] = dict.fromkeys(effects.RECORD_COLUMNS)
            record.update({"marketing_opt_out": False, "restricted": False, **fields})
            record.update(id=subject_id, updated_at=self._now())
            self.customers[subject_id] = record

    def record_change(self, envelope: Envelope) -> str:
        """Apply a change made in the register and queue it for hubsync (one step).

        The transactional outbox pattern: the customer row and the outbox
        entry change together. Returns the outbox id.
        """
        with self._lock:
            change = effects.change_for(envelope, Origin.REGISTER, "apply")
            if envelope.subject_id in self.customers:
                self._change(envelope.subject_id, change)
            return self._append_outbox(envelope)

    def write_outbox(self, envelope: Envelope) -> str:
        """Only the outbox row, as a faulty application might write it; returns its id."""
        with self._lock:
            return self._append_outbox(envelope)

    def _append_outbox(self, envelope: Envelope) -> str:
        row = OutboxRow(len(self.outbox) + 1, envelope, self._now())
        self.outbox.append(row)
        return str(row.id)

    # -- the port -----------------------------------------------------------

    def apply(self, events: Sequence[StoredEvent]) -> dict[int, SyncError | None]:
        """Apply register-bound events; an outcome per seq (see ``sync.ports.Register``)."""
        outcomes: dict[int, SyncError | None] = {}
        if self.setup_problems:  # each event fails on its own, as in SqlRegister
            return dict.fromkeys((e.seq for e in events), self._not_set_up())
        for event in events:
            try:
                outcomes[event.seq] = self.apply_envelope(register_envelope(event), event.origin)
            except SyncError as error:
                outcomes[event.seq] = error
        return outcomes

    def apply_envelope(self, envelope: Envelope, origin: Origin) -> SyncError | None:
        """Apply one envelope; the error it ends with, or None when applied."""
        with self._lock:
            fault = self.faults.get(envelope.subject_id)
            if fault is not None:
                return fault
            try:
                change = effects.plan(
                    envelope, origin, self.on_hubspot_erasure, self._state(envelope.subject_id)
                )
            except SyncError as error:
                return error
            if change is not None:
                if change.notice is not None:
                    self.notices.setdefault(change.notice.notice_id, change.notice)
                else:
                    self._change(envelope.subject_id, change)
            self.applied.append(envelope.event_id)
            return None

    def notify(self, notice: RegisterNotice) -> None:
        """Keep a notice; the same id twice is kept once."""
        self._check_set_up()
        with self._lock:
            self.notices.setdefault(notice.notice_id, notice)

    def record(self, subject_id: str) -> dict[str, Any] | None:
        """The customer's record, timestamps as ISO strings; None when unknown."""
        self._check_set_up()
        with self._lock:
            record = self.customers.get(subject_id)
            if record is None:
                return None
            return {k: iso_utc(v) if isinstance(v, datetime) else v for k, v in record.items()}

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """Customers (not erased) with this email, whatever its case."""
        self._check_set_up()
        wanted = email.strip().lower()
        with self._lock:
            return sorted(
                SubjectId(subject)
                for subject, record in self.customers.items()
                if record["erased_at"] is None and (record.get("email") or "").lower() == wanted
            )

    def subjects_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RegisterSubject], str | None]:
        """Customers in id order after ``after`` (erased ones included), and the next cursor."""
        self._check_set_up()
        with self._lock:
            ids = sorted(i for i in self.customers if after is None or i > after)
            page = [effects.subject_of(self.customers[i]) for i in ids[: max(0, limit)]]
        more = len(ids) > len(page) and page
        return page, (page[-1].subject_id if more else None)

    def poll_outbox(self, limit: int) -> list[tuple[str, Envelope]]:
        """Unacknowledged outbox entries that are valid events, oldest first."""
        self._check_set_up()
        with self._lock:
            waiting = [
                (str(row.id), row.envelope)
                for row in self.outbox
                if row.acknowledged_at is None and not problems(row.envelope)
            ]
            return waiting[: max(0, limit)]

    def outbox_problems(self, limit: int) -> list[OutboxProblem]:
        """Unacknowledged outbox entries that are not valid events, oldest first."""
        self._check_set_up()
        with self._lock:
            found = [
                OutboxProblem(str(row.id), row.created_at, tuple(problems(row.envelope)))
                for row in self.outbox
                if row.acknowledged_at is None and problems(row.envelope)
            ]
            return found[: max(0, limit)]

    def acknowledge(self, ids: Sequence[str]) -> None:
        """Mark outbox entries as taken; unknown ids are ignored."""
        self._check_set_up()
        wanted = set(ids)
        with self._lock:
            now = self._now()
            for row in self.outbox:
                if str(row.id) in wanted and row.acknowledged_at is None:
                    row.acknowledged_at = now

    def readiness(self) -> RegisterReadiness:
        """Ready unless ``setup_problems`` names something missing."""
        return RegisterReadiness(tuple(self.setup_problems))

    def close(self) -> None:
        """Nothing to release."""

    def list_notices(self) -> list[RegisterNotice]:
        """Every notice kept, in the order first received."""
        with self._lock:
            return list(self.notices.values())

    # -- inside -------------------------------------------------------------

    def _not_set_up(self) -> RegisterNotSetUp:
        return RegisterNotSetUp("the register is not set up: " + "; ".join(self.setup_problems))

    def _check_set_up(self) -> None:
        if self.setup_problems:
            raise self._not_set_up()

    def _state(self, subject_id: str) -> effects.SubjectState:
        record = self.customers.get(subject_id)
        if record is None:
            return "absent"
        return "erased" if record["erased_at"] is not None else "present"

    def _change(self, subject_id: str, change: effects.Change) -> None:
        record = self.customers[subject_id]
        now = self._now()
        if change.erase:
            record.update(dict.fromkeys(effects.PERSONAL_COLUMNS))
            if record["erased_at"] is None:
                record["erased_at"] = now
        record.update(change.values)
        record["updated_at"] = now
