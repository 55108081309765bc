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
RESURRECTIONS_BLOCKED = "resurrections_blocked"
WEBHOOK_SIGNATURE_FAILURES = "webhook_signature_failures"
REGISTER_SIGNATURE_FAILURES = "register_signature_failures"
WEBHOOK_ECHOES_DROPPED = "webhook_echoes_dropped"


@dataclass(frozen=True, slots=True)
class SharedCounter:
    """A counter every process adds to in the ledger: its name there, its metric, what it counts.

    ``metric`` is the Prometheus name without ``_total`` (``sync.intake.metrics``).
    """

    name: str
    metric: str
    help: str


COUNTERS = (
    SharedCounter(
        HUBSPOT_HTTP_429,
        "hubsync_hubspot_rate_limited",
        "HTTP 429 answers from HubSpot, counted by every process on the ledger.",
    ),
    SharedCounter(
        RESURRECTIONS_BLOCKED,
        "hubsync_resurrections_blocked",
        "Erased people HubSpot tried to bring back, refused by hubsync.",
    ),
    SharedCounter(
        WEBHOOK_SIGNATURE_FAILURES,
        "hubsync_webhook_signature_failures",
        "Webhook requests refused for their v3 signature, by every server on the ledger.",
    ),
    SharedCounter(
        REGISTER_SIGNATURE_FAILURES,
        "hubsync_register_signature_failures",
        "Register requests refused for their signature, by every server on the ledger.",
    ),
    SharedCounter(
        WEBHOOK_ECHOES_DROPPED,
        "hubsync_webhook_echoes_dropped",
        "Webhook property changes that were hubsync's own writes, dropped.",
    ),
)
"""Every shared counter: ``hubsync status`` shows each (0 until first counted), ``/metrics``
exports each, and nothing else adds to the ledger's counters."""


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
    counters = dict.fromkeys((c.name for c in COUNTERS), 0)
    counters.update(ledger.counts())
    return OperatorReport(
        status=ledger.status(now),
        counters=counters,
        daily_budget=daily_budget(now) if daily_budget is not None else None,
        register=register() if register is not None else None,
    )
