"""/metrics: the ledger's numbers and shared counters, parsed as Prometheus parses them.

Each counter is caused for real where it can be: a 429 from the sandbox
with a tiny rate limit, a bad signature posted to the served intake. The
two counters ``sync.handlers.from_hubspot`` increments (resurrections blocked, echoes
dropped) are added with ``ledger.add_counts`` here, as that module does;
tests/e2e/test_observed_counters.py causes them for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.ratelimit import RateBudget
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import running_sandbox
from connectors.hubspot.signatures import V3Verifier
from connectors.hubspot.webhook_payloads import inbox_items
from sync.clock import FixedClock
from sync.errors import RateLimited
from sync.intake import IntakeOptions, build_app
from sync.ledger.sql import SqlLedger
from sync.model import ErrorClass, ErrorInfo
from sync.serve import serving
from tests.conftest import T0
from tests.contract.ledger_helpers import record_failure
from tests.integration.intake.conftest import (
    CLIENT_SECRET,
    REGISTER_SECRET,
    URI,
    Client,
    Harness,
    Ready,
    batch,
    envelope,
)

COUNTERS = {
    "hubsync_hubspot_rate_limited_total",
    "hubsync_resurrections_blocked_total",
    "hubsync_webhook_signature_failures_total",
    "hubsync_register_signature_failures_total",
    "hubsync_webhook_echoes_dropped_total",
}


def scrape(client: Client) -> dict[str, list[Sample]]:
    """Every family of /metrics by name, through prometheus_client's own text parser."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    families: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(answer.text):
        assert family.name not in families, f"{family.name} is exported twice"
        families[family.name] = list(family.samples)
    return families


def value(families: dict[str, list[Sample]], sample: str, **labels: str) -> float:
    """The value of one sample (``name_total`` for counters), by its labels."""
    family = sample.removesuffix("_total")
    return next(s.value for s in families[family] if s.name == sample and s.labels == labels)


def test_metrics_parse_with_prometheus_and_every_name_is_conventional(intake: Harness) -> None:
    families = scrape(intake.client)

    assert all(name.startswith("hubsync_") for name in families)
    samples = {s.name for found in families.values() for s in found}
    assert samples >= COUNTERS | {
        "hubsync_events_overdue",
        "hubsync_events_due_within_7_days",
        "hubsync_events_failed",
        "hubsync_oldest_ready_age_seconds",
    }
    # every counter family is exported as <name>_total (and <name>_created), nothing else
    text = intake.client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            assert not family.name.endswith("_total")
            names = {s.name for s in family.samples}
            assert names <= {f"{family.name}_total", f"{family.name}_created"}
    for counter in COUNTERS:
        assert value(families, counter) == 0


def test_a_bad_webhook_signature_moves_the_shared_counter_and_its_metric(
    intake: Harness,
) -> None:
    answer = intake.post_webhooks(batch(1), secret=b"not-the-client-secret")

    assert answer.status_code == 401
    assert intake.ledger.counts()["webhook_signature_failures"] == 1
    families = scrape(intake.client)
    assert value(families, "hubsync_webhook_signature_failures_total") == 1
    assert value(families, "hubsync_register_signature_failures_total") == 0


def test_a_bad_register_signature_moves_the_shared_counter_and_its_metric(
    intake: Harness,
) -> None:
    answer = intake.post_events(envelope("reg-1"), secret=b"not-the-register-secret")

    assert answer.status_code == 401
    assert intake.ledger.counts()["register_signature_failures"] == 1
    families = scrape(intake.client)
    assert value(families, "hubsync_register_signature_failures_total") == 1
    assert (
        value(
            families,
            "hubsync_intake_register_signature_failures_total",
            reason="mismatch",
        )
        == 1
    )
    assert value(families, "hubsync_webhook_signature_failures_total") == 0


def test_a_refusal_stays_a_401_when_the_ledger_cannot_count_it(intake: Harness) -> None:
    with intake.ledger._tx() as cur:  # an administrator's mistake: the table is gone
        cur.execute("DROP TABLE counters")

    webhook = intake.post_webhooks(batch(1), secret=b"not-the-client-secret")
    register = intake.post_events(envelope("reg-1"), secret=b"not-the-register-secret")

    assert (webhook.status_code, register.status_code) == (401, 401)
    families = scrape(intake.client)
    assert value(families, "hubsync_ledger_up") == 0  # and the scrape says so
    assert (
        value(
            families, "hubsync_intake_webhook_signature_failures_total", reason="signature_mismatch"
        )
        == 1
    )


def test_counters_the_inbound_module_adds_are_exported(intake: Harness) -> None:
    # sync.handlers.from_hubspot counts these through ledger.add_counts; this call stands in.
    intake.ledger.add_counts({"resurrections_blocked": 2, "webhook_echoes_dropped": 5}, T0)
    intake.ledger.add_counts({"resurrections_blocked": 1}, T0)

    families = scrape(intake.client)

    assert value(families, "hubsync_resurrections_blocked_total") == 3
    assert value(families, "hubsync_webhook_echoes_dropped_total") == 5


def test_deadline_age_and_failed_gauges_follow_the_ledger(intake: Harness) -> None:
    assert intake.post_events({"events": [envelope("reg-1"), envelope("reg-2", subject_id="C-2")]})
    families = scrape(intake.client)
    assert value(families, "hubsync_oldest_ready_age_seconds") == 0
    assert value(families, "hubsync_events_due_within_7_days") == 0

    intake.clock.advance(25 * 86400)
    families = scrape(intake.client)
    assert value(families, "hubsync_oldest_ready_age_seconds") == 25 * 86400
    assert value(families, "hubsync_events_due_within_7_days") == 2
    assert value(families, "hubsync_events_overdue") == 0

    now = intake.clock.advance(10 * 86400)
    held = intake.ledger.claim("test-worker", 1, now, timedelta(seconds=60))
    error = ErrorInfo(ErrorClass.PERMANENT, "http_403", http_status=403)
    record_failure(intake.ledger, "test-worker", held[0].seq, error, now, retry_at=None)
    families = scrape(intake.client)
    assert value(families, "hubsync_events_overdue") == 2
    assert value(families, "hubsync_events_due_within_7_days") == 0
    assert value(families, "hubsync_events_failed") == 1
    assert value(families, "hubsync_events", kind="rectification", state="failed") == 1


@pytest.fixture
def tiny_sandbox() -> Iterator[str]:
    """A sandbox that lets two calls into any ten seconds."""
    with running_sandbox(SandboxConfig(port=0, rate_limit_per_10s=2)) as running:
        yield running.base_url


def test_a_429_from_hubspot_moves_the_counter_and_the_daily_budget_shows_the_calls(
    ledger: SqlLedger, clock: FixedClock, tiny_sandbox: str
) -> None:
    # hubsync believes in a far larger limit than the sandbox's, so HubSpot answers 429
    budget = RateBudget(
        ledger, clock, per_10s=10_000, daily=1000, search_per_s=4, sleep=clock.advance
    )
    hubspot = HubSpotClient(base_url=tiny_sandbox, access_token="any", budget=budget, now=clock.now)
    assert hubspot.hosting_location() == "eu1"
    assert hubspot.hosting_location() == "eu1"
    # HubSpot's headers said the window is spent: hubsync's own budget holds back, no call
    with pytest.raises(RateLimited) as held_back:
        hubspot.hosting_location()
    assert held_back.value.code == "budget_window"
    clock.advance(10)  # hubsync's clock runs on; the sandbox's window is still full
    with pytest.raises(RateLimited) as answered:
        hubspot.hosting_location()
    assert answered.value.code == "rate_limited_ten_secondly_rolling"
    assert ledger.counts()["hubspot_http_429"] == 1

    app = build_app(
        ledger,
        clock,
        verify_webhook=V3Verifier(CLIENT_SECRET, URI),
        read_webhooks=inbox_items,
        ready=Ready(),
        options=IntakeOptions(register_secret=REGISTER_SECRET),
        daily_budget=budget.daily_usage,
    )
    with serving(app) as base_url:
        families = scrape(Client(base_url))

    assert value(families, "hubsync_hubspot_rate_limited_total") == 1
    assert value(families, "hubsync_hubspot_daily_budget_used_calls") == 3  # the 429 took one
    assert value(families, "hubsync_hubspot_daily_budget_limit_calls") == 1000
    assert value(families, "hubsync_hubspot_daily_budget_used_ratio") == 0.003
