"""The register's outbox into the ledger: the transactional outbox pattern, hubsync's half.

A register that keeps its data-subject requests in an outbox table
(``SqlRegister``) writes each request in the same transaction as its own
change; this step polls the entries not yet acknowledged, stores them in the
ledger (idempotently: the register's event id is the key), and only then
acknowledges them. A crash between the two stores nothing twice: the ledger
answers ``duplicate`` and the entry is acknowledged on the next round.

An entry that is not a valid event (``sync.rules.input``, the same rules as
``POST /v1/events``) is never polled: the register reads past it and it
waits there, unacknowledged, until its operators correct it in the
register (it is then taken like any other) or skip it (``hubsync outbox
status`` lists it, ``hubsync outbox skip`` acknowledges it, audited:
``sync.operator``).
"""

from __future__ import annotations

import structlog

from sync.audit import AuditAction, Pseudonymizer, event_builder
from sync.model import Direction, NewEvent, Origin
from sync.ports import Clock, EventQueue, Register

log = structlog.get_logger("hubsync.outbox")

OUTBOX_ACTOR = "register:outbox"


class RegisterOutbox:
    """Moves register-side events from the register's outbox into the ledger."""

    def __init__(
        self,
        *,
        register: Register,
        ledger: EventQueue,
        pseudonymizer: Pseudonymizer,
        clock: Clock,
        batch_size: int = 100,
    ) -> None:
        self._register = register
        self._ledger = ledger
        self._pseudonymizer = pseudonymizer
        self._clock = clock
        self._batch_size = batch_size

    def run_once(self) -> int:
        """One poll: store what the outbox holds, then acknowledge it; returns how many."""
        entries = self._register.poll_outbox(self._batch_size)
        if not entries:
            return 0
        now = self._clock.now()
        events = [NewEvent(e, Origin.REGISTER, Direction.TO_HUBSPOT) for _, e in entries]
        audit = event_builder(
            AuditAction.EVENT_SUBMITTED,
            at=now,
            actor=OUTBOX_ACTOR,
            pseudonymizer=self._pseudonymizer,
        )
        results = self._ledger.submit(events, now, audit)
        self._register.acknowledge([outbox_id for outbox_id, _ in entries])
        log.info(
            "event_received",
            origin=Origin.REGISTER.value,
            source="outbox",
            count=len(results),
            duplicate=sum(r.duplicate for r in results),
        )
        return len(entries)
