"""What an operator watches, in one report: ``hubsync status`` prints it, ``/metrics`` exports it.

The report joins three readings of the ledger: events by kind and state
with their deadlines (``Ledger.status``), the counters every process adds
to (``Ledger.counts``), and how much of HubSpot's daily budget the shared
bucket holds spent. Counters live in the ledger, not in one process's
memory, so ``hubsync status`` (a process of its own) sees what the server
and the workers counted. ``hubsync status`` also asks the register whether
it is set up (``register``). Nothing here carries personal data: counts,
kinds, states, ages, and table or setting names only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sync.model import RegisterReadiness, StatusReport
    from sync.ports import EventAdmin, SharedState

    class ReportSource(EventAdmin, SharedState, Protocol):
        """The two ledger roles the report reads: event counts and shared counters."""


# The stable vocabulary of shared counters (``Ledger.add_counts`` names).
HUBSPOT_HTTP_429 = "hubspot_http_429"
"""HTTP 429 answers from HubSpot (counted where the rate budget hears of them)."""
RESURRECTIONS_BLOCKED = "resurrections_blocked"
"""Erased people HubSpot tried to bring back, and hubsync refused (sync.handlers.from_hubspot)."""
WEBHOOK_SIGNATURE_FAILURES = "webhook_signature_failures"
"""Webhook requests refused for a missing, invalid or stale v3 signature."""
REGISTER_SIGNATURE_FAILURES = "register_signature_failures"
"""Register requests on /v1/events refused for a missing, malformed or wrong signature."""
WEBHOOK_ECHOES_DROPPED = "webhook_echoes_dropped"
"""Webhook property changes: hubsync's own writes coming back (sync.handlers.from_hubspot)."""

COUNTERS = (
    HUBSPOT_HTTP_429,
    RESURRECTIONS_BLOCKED,
    WEBHOOK_SIGNATURE_FAILURES,
    REGISTER_SIGNATURE_FAILURES,
    WEBHOOK_ECHOES_DROPPED,
)


@dataclass(frozen=True, slots=True)
class DailyBudget:
    """HubSpot's daily budget as hubsync's shared bucket holds it.

    ``used`` is the calls spent and not yet refilled (the bucket refills
    evenly over the day, so this is the last day's pressure, not a count
    since midnight); a window HubSpot reported exhausted counts as all used.
    """

    used: int
    limit: int

    @property
    def ratio(self) -> float:
        """``used`` as a share of the limit, 0 to 1."""
        return round(min(1.0, self.used / self.limit), 6) if self.limit > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"used": self.used, "limit": self.limit, "ratio": self.ratio}


DailyBudgetReader = Callable[[datetime], DailyBudget]
"""now -> the daily budget (``RateBudget.daily_usage``, wired by ``sync.bootstrap``)."""


@dataclass(frozen=True, slots=True)
class OperatorReport:
    """The ledger's status, the shared counters, HubSpot's daily budget and the register's state.

    ``register`` is None when the register was not asked (``/metrics``);
    ``register_outbox_invalid`` counts the register's outbox rows that are
    not valid events (``hubsync outbox status``), None when not asked or
    the register could not answer.
    """

    status: StatusReport
    counters: dict[str, int]
    daily_budget: DailyBudget | None
    register: RegisterReadiness | None = None
    register_outbox_invalid: int | None = None

    @property
    def failed(self) -> int:
        """Dead-lettered events waiting for an operator."""
        return self.status.by_state.get("failed", 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as ``status --json`` prints it: the ledger's keys, then the new ones."""
        return {
            **self.status.as_dict(),
            "failed": self.failed,
            "counters": dict(sorted(self.counters.items())),
            "hubspot_daily_budget": self.daily_budget.as_dict() if self.daily_budget else None,
            "register": self.register.as_dict() if self.register is not None else None,
            "register_outbox_invalid": self.register_outbox_invalid,
        }


def read_report(
    ledger: ReportSource,
    now: datetime,
    daily_budget: DailyBudgetReader | None = None,
    register: Callable[[], RegisterReadiness] | None = None,
) -> OperatorReport:
    """Read the report now; every known counter is present (0 until first counted)."""
    counters = dict.fromkeys(COUNTERS, 0)
    counters.update(ledger.counts())
    return OperatorReport(
        status=ledger.status(now),
        counters=counters,
        daily_budget=daily_budget(now) if daily_budget is not None else None,
        register=register() if register is not None else None,
    )
