"""`hubsync run` and `hubsync check` as an operator runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from connectors.hubspot.sandbox.server import RunningSandbox
from sync.model import EventState
from tests.integration.worker.conftest import PSEUDONYM_KEY, TOKEN, System

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def _env(system: System, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    ledger = system.settings.ledger
    env.update(
        {
            "HUBSYNC_LEDGER__URL": ledger.url,
            "HUBSYNC_HUBSPOT__BASE_URL": system.base_url,
            "HUBSYNC_HUBSPOT__ACCESS_TOKEN": TOKEN,
            "HUBSYNC_AUDIT__PSEUDONYM_KEY": PSEUDONYM_KEY,
            "HUBSYNC_REGISTER__URL": system.settings.register.url,
            "HUBSYNC_LOGGING__FORMAT": "json",
            **extra,
        }
    )
    if ledger.schema_name:
        env["HUBSYNC_LEDGER__SCHEMA"] = ledger.schema_name
    return env


def test_check_reports_reachability_and_the_residency_verdict(system: System) -> None:
    ok = subprocess.run([HUBSYNC, "check", "--json"], env=_env(system), check=False,
                        capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["ok"] is True
    assert report["checks"]["residency"]["location"] == "eu1"

    refused = subprocess.run(
        [HUBSYNC, "check", "--json"],
        env=_env(system, HUBSYNC_HUBSPOT__ALLOWED_HOSTING_LOCATIONS='["na1"]'),
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1
    residency = json.loads(refused.stdout)["checks"]["residency"]
    assert residency["ok"] is False
    assert "hosted in eu1, not in an allowed location (na1)" in residency["detail"]


def test_check_without_a_token_names_the_variable_to_set(system: System) -> None:
    env = _env(system)
    del env["HUBSYNC_HUBSPOT__ACCESS_TOKEN"]
    ran = subprocess.run([HUBSYNC, "check", "--json"], env=env, check=False,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 1
    assert "HUBSYNC_HUBSPOT__ACCESS_TOKEN" in json.loads(ran.stdout)["checks"]["hubspot"]["detail"]


def test_run_stops_on_sigterm_holding_nothing_and_logs_no_personal_data(
    system: System, sandbox_server: RunningSandbox
) -> None:
    emails = [f"runner{n}@example.se" for n in range(150)]
    for n, email in enumerate(emails):
        system.contact(email, firstname=f"Runnerfirst{n}")
        system.submit("rectification", f"R-{n}", f"run-{n}", email=email,
                      changes={"first_name": f"Renamed{n}"})  # fmt: skip
    # A slow HubSpot keeps the worker busy when the signal arrives.
    system.control("POST", "/_sandbox/faults", {"latency_ms": 20})
    process = subprocess.Popen(
        [HUBSYNC, "run", "--no-server"], env=_env(system),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [e.state for e in system.operator.events(limit=None)]
            if EventState.DONE in states:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        system.control("POST", "/_sandbox/faults", {"latency_ms": 0})
    assert process.returncode == 0, stderr
    events = system.operator.events(limit=None)
    assert not [e for e in events if e.state is EventState.IN_PROGRESS]
    assert {e.state for e in events} <= {EventState.DONE, EventState.PENDING}
    lines: list[dict[str, Any]] = [json.loads(line) for line in stderr.splitlines() if line]
    names = [line["event"] for line in lines]
    assert "worker_started" in names
    assert "stop_requested" in names
    assert names[-1] == "worker_stopped"
    assert "contact_rectified" in names
    for secret in ("runner", "Renamed", "Runnerfirst", "@example.se"):
        assert secret not in stderr
