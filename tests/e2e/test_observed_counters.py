"""The counters sync.handlers.from_hubspot adds, caused for real and seen where an operator looks.

An echo (hubsync's own write coming back as a webhook) and a blocked
resurrection (a form re-creating an erased person) move their counters in
the ledger; the intake built by ``bootstrap`` exports them on /metrics with
the daily budget the worker spent, and ``hubsync status`` (another process)
prints the same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from sync.model import EventState
from tests.e2e.conftest import PSEUDONYM_KEY, Loop

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def _metrics(loop: Loop) -> dict[str, float]:
    text = requests.get(loop.intake_url + "/metrics", timeout=10).text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


def _status(loop: Loop) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    ledger = loop.settings.ledger
    env.update({"HUBSYNC_LEDGER__URL": ledger.url, "HUBSYNC_AUDIT__PSEUDONYM_KEY": PSEUDONYM_KEY})
    if ledger.schema_name:
        env["HUBSYNC_LEDGER__SCHEMA"] = ledger.schema_name
    ran = subprocess.run([HUBSYNC, "status", "--json"], env=env, check=False,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    report: dict[str, object] = json.loads(ran.stdout)
    return report


def test_echoes_and_a_blocked_resurrection_move_their_counters_on_metrics_and_status(
    loop: Loop,
) -> None:
    before = _metrics(loop)
    assert before["hubsync_resurrections_blocked_total"] == 0
    assert before["hubsync_webhook_echoes_dropped_total"] == 0

    loop.link("C-1", "anna@example.se", first_name="Anna")  # hubsync writes firstname: an echo
    loop.submit("erasure", "C-1", "erase-1")
    loop.settle()
    assert loop.operator.event("erase-1").state is EventState.DONE
    loop.act("form_submission", email="anna@example.se", properties={"firstname": "A"})
    loop.settle()

    after = _metrics(loop)
    counts = loop.ledger.counts()
    assert counts["resurrections_blocked"] == 1
    assert counts["webhook_echoes_dropped"] >= 1
    assert after["hubsync_resurrections_blocked_total"] == 1
    assert after["hubsync_webhook_echoes_dropped_total"] == counts["webhook_echoes_dropped"]
    assert after["hubsync_hubspot_daily_budget_used_calls"] > 0  # the worker's calls
    assert 0 < after["hubsync_hubspot_daily_budget_used_ratio"] < 0.01
    report = _status(loop)
    assert report["counters"] == {
        "hubspot_http_429": 0,
        "register_signature_failures": 0,
        "resurrections_blocked": 1,
        "webhook_echoes_dropped": counts["webhook_echoes_dropped"],
        "webhook_signature_failures": 0,
    }
