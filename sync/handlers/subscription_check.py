"""A periodic look at HubSpot subscription statuses, because HubSpot sends no webhook for them.

An unsubscribe usually reaches hubsync as a ``propertyChange`` of
``hs_email_optout``; but HubSpot documents no webhook for communication
preferences, and a change made while the webhook was down would be missed.
So, once per period, the statuses of subjects with recent activity are read
and an opt-out from all email that the register has not recorded becomes a
``marketing_opt_out`` for the register. Restricted subjects are left alone:
their unsubscribe is hubsync's own doing (restriction), not their objection.
Several workers share one turn per period (``SharedState.take_turn``), so
the reads are made once, not once per worker. The statuses are read by email
address, which sends the address to HubSpot: while the residency verdict
refuses transfers (``transfers_allowed``), the check waits for the next
period without taking the turn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from sync.model import Direction, Envelope, EventId, EventKind, EventState, NewEvent, Origin
from sync.ports import (
    Clock,
    EventAdmin,
    EventQueue,
    HubSpot,
    Register,
    SharedState,
    SubjectMap,
)

log = structlog.get_logger("hubsync.subscription_check")

SHARED_TURN = "subscription_check"
"""The name of the turn per period shared by every worker."""


class CheckLedger(SubjectMap, EventQueue, EventAdmin, SharedState, Protocol):
    """The ledger's roles the check uses: active subjects, events, and the shared turn."""


class SubscriptionCheck:
    """Turns opt-outs seen in HubSpot's statuses into register events, once per period."""

    def __init__(
        self,
        *,
        ledger: CheckLedger,
        hubspot: HubSpot,
        register: Register,
        clock: Clock,
        every: timedelta = timedelta(minutes=15),
        active_within: timedelta = timedelta(days=30),
        limit: int = 500,
        transfers_allowed: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ledger = ledger
        self._hubspot = hubspot
        self._register = register
        self._clock = clock
        self._every = every
        self._active_within = active_within
        self._limit = limit
        self._transfers_allowed = transfers_allowed
        self._last: datetime | None = None

    def run_once(self) -> int:
        """Check when the period has passed; returns how many register events it stored."""
        now = self._clock.now()
        if self._last is not None and now - self._last < self._every:
            return 0
        self._last = now
        if not self._transfers_allowed():
            log.warning("subscription_check_held_back", reason="residency refuses transfers")
            return 0
        # One turn per period for all workers on the ledger: the reads are not repeated.
        if not self._ledger.take_turn(SHARED_TURN, self._every, now):
            return 0
        events: list[NewEvent] = []
        checked = 0
        for record in self._ledger.active_subjects(now - self._active_within, self._limit):
            if record.email is None:
                continue
            statuses = self._hubspot.subscription_statuses(record.email)
            checked += 1
            if not statuses.unsubscribed_from_all:
                continue
            held = self._register.record(record.subject_id)
            if held is None or held.get("marketing_opt_out") or held.get("restricted"):
                continue
            if self._on_its_way(record.subject_id):
                continue
            envelope = Envelope(
                event_id=EventId(f"subscription_check:{record.subject_id}:{now.date()}"),
                kind=EventKind.MARKETING_OPT_OUT,
                subject_id=record.subject_id,
                occurred_at=now,
                reference="hubspot:subscription_check",
            )
            events.append(NewEvent(envelope, Origin.HUBSPOT, Direction.TO_REGISTER))
        if events:
            results = self._ledger.submit(events, self._clock.now())
            stored = sum(not r.duplicate for r in results)
        else:
            stored = 0
        log.info("subscriptions_checked", subjects=checked, opt_outs_found=stored)
        return stored

    def _on_its_way(self, subject_id: str) -> bool:
        """Whether an opt-out for the register is already waiting (from a webhook)."""
        waiting = self._ledger.list_events(
            subject_id=subject_id, kind=EventKind.MARKETING_OPT_OUT, state=EventState.PENDING
        )
        return any(e.direction is Direction.TO_REGISTER for e in waiting)
