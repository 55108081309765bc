"""Refused webhook signatures in a row: an error each, a metric, and /readyz and status say so."""

from __future__ import annotations

import structlog
from prometheus_client.parser import text_string_to_metric_families

from sync.status import read_report
from tests.integration.intake.conftest import Harness, batch


def gauges(intake: Harness) -> dict[str, float]:
    text = intake.client.get("/metrics").text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("hubsync_webhook_signature_")
    }


def refuse(intake: Harness, times: int) -> None:
    """Batches signed for another URL: what a wrong public_url or a rewriting proxy causes."""
    for n in range(times):
        answer = intake.post_webhooks(batch(n + 1), uri="https://elsewhere.example.com/x")
        assert answer.status_code == 401


def test_refusals_in_a_row_fail_readyz_and_show_in_status_and_metrics(intake: Harness) -> None:
    with structlog.testing.capture_logs() as logs:
        refuse(intake, 4)
    assert intake.client.get("/readyz").status_code == 200  # 4 of 5: not yet
    refusals = [e for e in logs if e["event"] == "webhook_refused"]
    assert [(e["log_level"], e["count"]) for e in refusals] == [("error", n) for n in (1, 2, 3, 4)]
    assert all(e["reason"] == "signature_mismatch" for e in refusals)
    assert "Secret" not in repr(logs)  # the refused body's values never reach a log

    refuse(intake, 1)

    ready = intake.client.get("/readyz")
    assert ready.status_code == 503
    assert "5 webhook requests in a row refused" in ready.json()["reason"]
    assert "public_url" in ready.json()["reason"]
    assert gauges(intake)["hubsync_webhook_signature_refusal_streak"] == 5
    assert gauges(intake)["hubsync_webhook_signature_alarm"] == 1
    status = read_report(intake.ledger, intake.clock.now()).as_dict()["webhook_signatures"]
    assert status["refusals"] == 5
    assert status["threshold"] == 5
    assert status["last_reason"] == "signature_mismatch"
    assert "public_url" in status["alarm"]


def test_a_good_signature_ends_the_streak_and_the_alarm(intake: Harness) -> None:
    refuse(intake, 6)
    assert intake.client.get("/readyz").status_code == 503

    assert intake.post_webhooks(batch(9)).status_code == 204

    assert intake.client.get("/readyz").status_code == 200
    assert gauges(intake)["hubsync_webhook_signature_refusal_streak"] == 0
    assert gauges(intake)["hubsync_webhook_signature_alarm"] == 0
    report = read_report(intake.ledger, intake.clock.now()).as_dict()
    assert report["webhook_signatures"]["alarm"] is None
    assert report["counters"]["webhook_signature_failures"] == 6  # the total stays
