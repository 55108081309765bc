"""A periodic look at HubSpot subscription statuses, because HubSpot sends no webhook for them.

HubSpot documents no webhook for communication preferences, and
``hs_email_optout`` may not be offered for property-change webhooks
(hubspot-fidelity.md 2.5), so an opt-out made in HubSpot may reach hubsync
only through this check. An opt-out from all email that the register has
not recorded becomes a ``marketing_opt_out`` for the register. With several
brands (``[hubspot] business_unit_ids``), every brand's unsubscribe-all is
read; one holding for some brands only becomes an opt-out per such brand
(``Envelope.business_unit_id``), not an opt-out from all email. Restricted
subjects are left alone: their unsubscribe is hubsync's own doing
(restriction), not their objection.

Every subject the ledger knows is checked once per cycle (``[subscriptions]
check_cycle_hours``): each turn takes the next share of a walk through all
subjects (``SharedState.walk_subjects``, kept in the ledger), and reads
their statuses 100 addresses a call (``HubSpot.subscription_statuses_many``).
A turn never spends more than ``check_daily_share`` of the daily call limit;
when that is too little for the cycle, the cycle grows and a warning says
so. An address HubSpot cannot answer for is logged by pseudonym and read
again next cycle; the others go on. Several workers share one turn per
period (``SharedState.take_turn``), so the reads are made once, not once per
worker. The statuses are read by email address, which sends the address to
HubSpot: while the residency verdict refuses transfers
(``transfers_allowed``), the check waits for the next period without taking
the turn. Its cost is counted (``subscription_check_calls``) and estimated
per day (``subscription_check_calls_per_day``) for ``hubsync status``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from sync.audit import Pseudonymizer
from sync.errors import RateLimited, SyncError
from sync.model import (
    Direction,
    Envelope,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    SubjectId,
    SubscriptionStatuses,
)
from sync.ports import (
    Clock,
    EventAdmin,
    EventQueue,
    HubSpot,
    Register,
    SharedState,
    SubjectMap,
)
from sync.status import SUBSCRIPTION_CHECK_CALLS, SUBSCRIPTION_CHECK_CALLS_PER_DAY

log = structlog.get_logger("hubsync.subscription_check")

SHARED_TURN = "subscription_check"
"""The name of the turn per period, and of the walk, shared by every worker."""

DAY = timedelta(days=1)


class CheckLedger(SubjectMap, EventQueue, EventAdmin, SharedState, Protocol):
    """The ledger's roles the check uses: subjects, events, the shared turn and walk."""


class SubscriptionCheck:
    """Turns opt-outs seen in HubSpot's statuses into register events, a share per period."""

    def __init__(
        self,
        *,
        ledger: CheckLedger,
        hubspot: HubSpot,
        register: Register,
        clock: Clock,
        pseudonymizer: Pseudonymizer,
        every: timedelta = timedelta(minutes=15),
        cycle: timedelta = DAY,
        daily_share: float = 0.05,
        daily_limit: int = 250_000,
        transfers_allowed: Callable[[], bool] = lambda: True,
    ) -> None:
        self._ledger = ledger
        self._hubspot = hubspot
        self._register = register
        self._clock = clock
        self._pseudonymizer = pseudonymizer
        self._every = every
        self._share = min(1.0, every / cycle)
        self._calls_per_turn = math.floor(daily_share * daily_limit * (every / DAY))
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
        most = self.affordable()
        walk = self._ledger.walk_subjects(SHARED_TURN, self._share, most, now)
        if math.ceil(walk.total * self._share) > most:
            log.warning(
                "subscription_check_cycle_longer",
                subjects=walk.total,
                per_turn=most,
                reason="the daily share allows fewer subjects per turn than the cycle needs",
            )
        emails = sorted({email for _, email in walk.linked})
        try:
            outcomes = self._hubspot.subscription_statuses_many(emails) if emails else {}
        except RateLimited:
            log.warning("subscription_check_rate_limited", subjects=len(walk.linked))
            return 0
        finally:
            self._count(len(emails), min(most, math.ceil(walk.total * self._share)), now)
        return self._record(walk.linked, outcomes, now)

    def affordable(self) -> int:
        """The most subjects one turn may read within its share of the daily limit."""
        low, high = 0, 1
        while self._hubspot.status_read_cost(high) <= self._calls_per_turn:
            low, high = high, high * 2
        while high - low > 1:  # the largest n whose cost fits: cost only grows with n
            middle = (low + high) // 2
            if self._hubspot.status_read_cost(middle) <= self._calls_per_turn:
                low = middle
            else:
                high = middle
        return low

    def _count(self, addresses: int, per_turn: int, now: datetime) -> None:
        """Count this turn's calls, and estimate a day's at this pace."""
        self._ledger.add_counts(
            {SUBSCRIPTION_CHECK_CALLS: self._hubspot.status_read_cost(addresses)}, now
        )
        per_day = self._hubspot.status_read_cost(per_turn) * round(DAY / self._every)
        self._ledger.set_counts({SUBSCRIPTION_CHECK_CALLS_PER_DAY: per_day}, now)

    def _record(
        self,
        linked: tuple[tuple[SubjectId, str], ...],
        outcomes: dict[str, SubscriptionStatuses | SyncError],
        now: datetime,
    ) -> int:
        """Store an opt-out event for each subject opted out in HubSpot but not in the register."""
        events: list[NewEvent] = []
        unread = 0
        for subject_id, email in linked:
            outcome = outcomes.get(email)
            if isinstance(outcome, SyncError):
                unread += 1
                log.warning(
                    "subscription_status_unread",
                    subject=self._pseudonymizer.subject(subject_id),
                    code=outcome.code,
                )
                continue
            if outcome is None or not (
                outcome.unsubscribed_from_all or outcome.unsubscribed_brands
            ):
                continue
            if self._nothing_to_record(subject_id):
                continue
            events.extend(self._opt_outs(subject_id, outcome, now))
        stored = 0
        if events:
            results = self._ledger.submit(events, self._clock.now())
            stored = sum(not r.duplicate for r in results)
        log.info(
            "subscriptions_checked",
            subjects=len(linked),
            unread=unread,
            opt_outs_found=stored,
        )
        return stored

    @staticmethod
    def _opt_outs(
        subject_id: SubjectId, outcome: SubscriptionStatuses, now: datetime
    ) -> list[NewEvent]:
        """The register events for one subject's opt-outs: from all, or one per brand.

        An account with several brands (``[hubspot] business_unit_ids``) has an
        unsubscribe-all per brand; one that holds for some brands only is not
        an opt-out from all email, so each such brand gets its own event
        carrying ``business_unit_id``.
        """
        if outcome.unsubscribed_from_all:
            brands: tuple[int | None, ...] = (None,)
        else:
            brands = outcome.unsubscribed_brands
        events = []
        for brand in brands:
            which = "" if brand is None else f"brand-{brand}:"
            envelope = Envelope(
                event_id=EventId(f"subscription_check:{subject_id}:{which}{now.date()}"),
                kind=EventKind.MARKETING_OPT_OUT,
                subject_id=subject_id,
                occurred_at=now,
                reference="hubspot:subscription_check",
                business_unit_id=brand,
            )
            events.append(NewEvent(envelope, Origin.HUBSPOT, Direction.TO_REGISTER))
        return events

    def _nothing_to_record(self, subject_id: str) -> bool:
        """The register holds no such subject, or its opt-out or restriction, or one is coming."""
        held = self._register.record(subject_id)
        if held is None or held.get("marketing_opt_out") or held.get("restricted"):
            return True
        return self._on_its_way(subject_id)

    def _on_its_way(self, subject_id: str) -> bool:
        """Whether an opt-out for the register is already waiting (from a webhook)."""
        waiting = self._ledger.list_events(
            subject_id=subject_id, kind=EventKind.MARKETING_OPT_OUT, state=EventState.PENDING
        )
        return any(e.direction is Direction.TO_REGISTER for e in waiting)
