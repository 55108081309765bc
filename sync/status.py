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
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sync.model import SignatureStreak
from sync.rules.link import LINK_UP, LinkState
from sync.rules.signature_streak import signature_alarm

if TYPE_CHECKING:
    from sync.model import RegisterReadiness, StatusReport
    from sync.ports import EventAdmin, HubSpotLink, SharedState, SignatureWatch

    class ReportSource(EventAdmin, SharedState, SignatureWatch, HubSpotLink, Protocol):
        """The ledger roles the report reads: events, shared counters, the signature streak,
        the HubSpot link."""


# The stable vocabulary of shared counters (``Ledger.add_counts`` names).
HUBSPOT_HTTP_429 = "hubspot_http_429"
RESURRECTIONS_BLOCKED = "resurrections_blocked"
WEBHOOK_SIGNATURE_FAILURES = "webhook_signature_failures"
REGISTER_SIGNATURE_FAILURES = "register_signature_failures"
WEBHOOK_ECHOES_DROPPED = "webhook_echoes_dropped"
# The subscription check's own values in the counters table, reported apart (``CheckCost``):
# its calls (added), its calls per day at the present pace and its walk's position (set).
SUBSCRIPTION_CHECK_CALLS = "subscription_check_calls"
SUBSCRIPTION_CHECK_CALLS_PER_DAY = "subscription_check_calls_per_day"
SUBSCRIPTION_CHECK_POSITION = "subscription_check_position"
CHECK_VALUES = (
    SUBSCRIPTION_CHECK_CALLS,
    SUBSCRIPTION_CHECK_CALLS_PER_DAY,
    SUBSCRIPTION_CHECK_POSITION,
)


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
class CheckCost:
    """What the periodic subscription check costs: HubSpot calls counted, and a day's estimate.

    ``calls_per_day`` is the last turn's pace over a day (None before the
    first turn); ``position`` is how far the walk through all subjects is.
    """

    calls: int = 0
    calls_per_day: int | None = None
    position: int | None = None

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> CheckCost:
        """From the ledger's counters table."""
        return cls(
            calls=counts.get(SUBSCRIPTION_CHECK_CALLS, 0),
            calls_per_day=counts.get(SUBSCRIPTION_CHECK_CALLS_PER_DAY),
            position=counts.get(SUBSCRIPTION_CHECK_POSITION),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "calls_counted": self.calls,
            "calls_per_day_estimate": self.calls_per_day,
            "position": self.position,
        }


@dataclass(frozen=True, slots=True)
class OperatorReport:
    """The ledger's status, the shared counters, HubSpot's daily budget and the register's state.

    ``register`` is None when the register was not asked (``/metrics``);
    ``register_outbox_invalid`` counts the register's outbox rows that are
    not valid events (``hubsync outbox status``), None when not asked or
    the register could not answer. ``signature_streak`` is the webhook
    signatures refused in a row; ``signature_alarm`` why that is an alarm
    now (``sync.rules.signature_streak``), None when it is not.
    ``hubspot_link`` says why the HubSpot link is down (``sync.rules.link``),
    None while it is up.
    """

    status: StatusReport
    counters: dict[str, int]
    daily_budget: DailyBudget | None
    register: RegisterReadiness | None = None
    register_outbox_invalid: int | None = None
    signature_streak: SignatureStreak = field(default_factory=SignatureStreak)
    signature_alarm: str | None = None
    hubspot_link: LinkState | None = None
    subscription_check: CheckCost = field(default_factory=CheckCost)

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
            "webhook_signatures": {
                **self.signature_streak.as_dict(),
                "alarm": self.signature_alarm,
            },
            "hubspot_link": self.hubspot_link.as_dict() if self.hubspot_link else dict(LINK_UP),
            "subscription_check": self.subscription_check.as_dict(),
        }


def read_report(
    ledger: ReportSource,
    now: datetime,
    daily_budget: DailyBudgetReader | None = None,
    register: Callable[[], RegisterReadiness] | None = None,
) -> OperatorReport:
    """Read the report now; every known counter is present (0 until first counted)."""
    counted = ledger.counts()
    counters = dict.fromkeys((c.name for c in COUNTERS), 0)
    counters.update({k: v for k, v in counted.items() if k not in CHECK_VALUES})
    streak = ledger.signature_streak()
    return OperatorReport(
        status=ledger.status(now),
        counters=counters,
        daily_budget=daily_budget(now) if daily_budget is not None else None,
        register=register() if register is not None else None,
        signature_streak=streak,
        signature_alarm=signature_alarm(streak, now),
        hubspot_link=ledger.hubspot_link(),
        subscription_check=CheckCost.from_counts(counted),
    )
