"""The register's outbox into the ledger: the transactional outbox pattern, hubsync's half.

A register that keeps its data-subject requests in an outbox table
(``SqlRegister``) writes each request in the same transaction as its own
change; this step polls the entries not yet acknowledged, stores them in the
ledger (idempotently: the register's event id is the key), and only then
acknowledges them. A crash between the two stores nothing twice: the ledger
answers ``duplicate`` and the entry is acknowledged on the next round.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from sync.audit import AuditEntry, Pseudonymizer, submitted_entry
from sync.model import Direction, NewEvent, Origin, StoredEvent
from sync.ports import Clock, Ledger, Register

log = structlog.get_logger("hubsync.outbox")

OUTBOX_ACTOR = "register:outbox"


class RegisterOutbox:
    """Moves register-side events from the register's outbox into the ledger."""

    def __init__(
        self,
        *,
        register: Register,
        ledger: Ledger,
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
        results = self._ledger.submit(events, now, self._audit_builder(now))
        self._register.acknowledge([outbox_id for outbox_id, _ in entries])
        log.info(
            "event_received",
            origin=Origin.REGISTER.value,
            source="outbox",
            count=len(results),
            duplicate=sum(r.duplicate for r in results),
        )
        return len(entries)

    def _audit_builder(self, now: datetime) -> Callable[[StoredEvent], AuditEntry]:
        pseudonymizer = self._pseudonymizer

        def build(event: StoredEvent) -> AuditEntry:
            return submitted_entry(event, actor=OUTBOX_ACTOR, at=now, pseudonymizer=pseudonymizer)

        return build
