"""Prometheus metrics of the intake server, in a registry of their own.

Counters move as requests are handled; the gauge of events by kind and
state is read from the ledger when Prometheus scrapes, so it is never stale
and costs nothing between scrapes. Labels carry only path templates, status
codes, refusal codes, kinds and states: never an id, a body or a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sync.errors import HubsyncError
from sync.ledger.sql import StatusReport

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class LedgerCollector(Collector):
    """Events by kind and state, and whether the ledger answered, read at scrape time."""

    def __init__(self, status: Callable[[], StatusReport]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        """One sample per (kind, state) the ledger holds, plus ``hubsync_ledger_up``."""
        up = GaugeMetricFamily("hubsync_ledger_up", "1 when the ledger answered this scrape.")
        try:
            report = self._status()
        except HubsyncError:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        events = GaugeMetricFamily(
            "hubsync_events", "Events in the ledger by kind and state.", labels=["kind", "state"]
        )
        for kind, states in sorted(report.by_kind.items()):
            for state, count in sorted(states.items()):
                events.add_metric([kind, state], float(count))
        yield events
        overdue = GaugeMetricFamily("hubsync_events_overdue", "Open events past their due date.")
        overdue.add_metric([], float(report.overdue))
        yield overdue


class IntakeMetrics:
    """The intake server's counters, and the text Prometheus scrapes."""

    def __init__(self, status: Callable[[], StatusReport] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.signature_failures = Counter(
            "hubsync_webhook_signature_failures",
            "Webhook requests refused for a missing, invalid or stale v3 signature.",
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
        self.register_events = Counter(
            "hubsync_register_events_received",
            "Register events accepted on /v1/events (duplicates included).",
            registry=self.registry,
        )
        self.register_refusals = Counter(
            "hubsync_register_signature_failures",
            "Register requests refused for a missing, malformed or wrong signature.",
            ["reason"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "hubsync_http_requests",
            "HTTP requests by route template and status code.",
            ["path", "status"],
            registry=self.registry,
        )
        if status is not None:
            self.registry.register(LedgerCollector(status))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
