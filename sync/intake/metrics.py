"""Prometheus metrics of the intake server, in a registry of their own.

Two kinds of numbers, with names that say which:

- this process's counters, moved as requests are handled
  (``hubsync_http_requests_total``, ``hubsync_webhook_events_received_total``,
  ``hubsync_intake_webhook_signature_failures_total`` by reason...); they
  start at 0 when the server starts;
- the ledger's numbers, read when Prometheus scrapes (``LedgerCollector``):
  events by kind and state, deadlines, the oldest ready event, the counters
  every process adds to in the ledger (429s, refused signatures, blocked
  resurrections, dropped echoes) and HubSpot's daily budget. They are never
  stale, cost nothing between scrapes, and agree with ``hubsync status``.

Labels carry only path templates, status codes, refusal codes, kinds and
states: never an id, a body or a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sync.errors import HubsyncError
from sync.rules.link import REASONS as LINK_REASONS
from sync.status import COUNTERS, OperatorReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

GAUGES = (
    "hubsync_ledger_up",
    "hubsync_events",
    "hubsync_events_overdue",
    "hubsync_events_due_within_7_days",
    "hubsync_events_failed",
    "hubsync_oldest_ready_age_seconds",
    "hubsync_hubspot_daily_budget_used_calls",
    "hubsync_hubspot_daily_budget_limit_calls",
    "hubsync_hubspot_daily_budget_used_ratio",
    "hubsync_webhook_signature_refusal_streak",
    "hubsync_webhook_signature_alarm",
    "hubsync_hubspot_link_down",
)
"""Every gauge the ledger collector may yield."""


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge


def _link_down(report: OperatorReport) -> GaugeMetricFamily:
    """1 for the reason the HubSpot link is down, 0 for every other (``sync.rules.link``)."""
    gauge = GaugeMetricFamily(
        "hubsync_hubspot_link_down",
        "1 while HubSpot refuses hubsync's token (reason: unauthorized, missing_scopes) and "
        "nothing is sent to it; 0 otherwise.",
        labels=["reason"],
    )
    down = report.hubspot_link.reason if report.hubspot_link else None
    for reason in LINK_REASONS:
        gauge.add_metric([reason], 1.0 if reason == down else 0.0)
    return gauge


class LedgerCollector(Collector):
    """The ledger's numbers, read at scrape time, and whether the ledger answered."""

    def __init__(self, report: Callable[[], OperatorReport]) -> None:
        self._report = report

    def describe(self) -> Iterator[Metric]:
        """The families ``collect`` yields, without reading the ledger.

        The registry checks these names against every other metric's when
        the collector is registered, so a clash fails at start, not in a scrape.
        """
        for name in GAUGES:
            yield GaugeMetricFamily(name, name)
        for shared in COUNTERS:
            yield CounterMetricFamily(shared.metric, shared.help)

    def collect(self) -> Iterator[Metric]:
        """Events, deadlines, shared counters and the daily budget, plus ``hubsync_ledger_up``."""
        try:
            report = self._report()
        except HubsyncError:
            yield _gauge("hubsync_ledger_up", "1 when the ledger answered this scrape.", 0.0)
            return
        yield _gauge("hubsync_ledger_up", "1 when the ledger answered this scrape.", 1.0)
        status = report.status
        events = GaugeMetricFamily(
            "hubsync_events", "Events in the ledger by kind and state.", labels=["kind", "state"]
        )
        for kind, states in sorted(status.by_kind.items()):
            for state, count in sorted(states.items()):
                events.add_metric([kind, state], float(count))
        yield events
        yield _gauge(
            "hubsync_events_overdue", "Open events past their due date.", float(status.overdue)
        )
        yield _gauge(
            "hubsync_events_due_within_7_days",
            "Open events due in the next 7 days (not yet overdue).",
            float(status.due_within_7_days),
        )
        yield _gauge(
            "hubsync_events_failed",
            "Dead-lettered events waiting for an operator.",
            float(report.failed),
        )
        yield _gauge(
            "hubsync_oldest_ready_age_seconds",
            "Age of the oldest event ready to be worked on (0 when none is).",
            float(status.oldest_ready_age_s or 0.0),
        )
        for shared in COUNTERS:
            counter = CounterMetricFamily(shared.metric, shared.help)
            counter.add_metric([], float(report.counters.get(shared.name, 0)))
            yield counter
        yield _gauge(
            "hubsync_webhook_signature_refusal_streak",
            "Webhook requests refused for their signature in a row, by every server (0 after "
            "a good one).",
            float(report.signature_streak.refusals),
        )
        yield _gauge(
            "hubsync_webhook_signature_alarm",
            "1 while refused signatures in a row reach [server] signature_failure_threshold.",
            1.0 if report.signature_alarm else 0.0,
        )
        yield _link_down(report)
        budget = report.daily_budget
        if budget is not None:
            yield _gauge(
                "hubsync_hubspot_daily_budget_used_calls",
                "Calls of HubSpot's daily limit the shared budget holds spent (not yet refilled).",
                float(budget.used),
            )
            yield _gauge(
                "hubsync_hubspot_daily_budget_limit_calls",
                "HubSpot's daily call limit, as configured.",
                float(budget.limit),
            )
            yield _gauge(
                "hubsync_hubspot_daily_budget_used_ratio",
                "Share of HubSpot's daily limit spent, 0 to 1.",
                budget.ratio,
            )


class IntakeMetrics:
    """The intake server's counters, and the text Prometheus scrapes."""

    def __init__(self, report: Callable[[], OperatorReport] | None = None) -> None:
        self.registry = CollectorRegistry()
        # The ledger-wide totals are hubsync_*_signature_failures_total; these are
        # this server's, by reason, since it started.
        self.signature_failures = Counter(
            "hubsync_intake_webhook_signature_failures",
            "Webhook requests this server refused for a missing, invalid or stale v3 signature.",
            ["reason"],
            registry=self.registry,
        )
        self.webhook_events = Counter(
            "hubsync_webhook_events_received",
            "HubSpot webhook events stored for the first time.",
            registry=self.registry,
        )
        self.redeliveries = Counter(
            "hubsync_webhook_redeliveries",
            "HubSpot webhook events received again and dropped.",
            registry=self.registry,
        )
        self.set_aside = Counter(
            "hubsync_webhook_items_set_aside",
            "Malformed items of signed webhook batches, stored as failed for an operator.",
            registry=self.registry,
        )
        self.register_events = Counter(
            "hubsync_register_events_received",
            "Register events accepted on /v1/events (duplicates included).",
            registry=self.registry,
        )
        self.register_refusals = Counter(
            "hubsync_intake_register_signature_failures",
            "Register requests this server refused for a missing, malformed or wrong signature.",
            ["reason"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "hubsync_http_requests",
            "HTTP requests by route template and status code.",
            ["path", "status"],
            registry=self.registry,
        )
        if report is not None:
            self.registry.register(LedgerCollector(report))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
