"""A rotated token or a removed scope puts the HubSpot link down: nothing is dead-lettered.

With events in flight, the sandbox's super admin rotates the app's token
(the old one answers 401) or removes a scope (403 ``MISSING_SCOPES``). Every
event stays pending with no attempt counted, the link is down for every
worker on the ledger, ``/readyz`` fails with the reason, ``hubsync status``
(text and JSON) says so, the metric is set, and no address reaches a log,
the status or the metric. Once the token or scope is back, the worker's own
probe finds it and every event completes, without an operator.

The worker runs on a fixed clock, advanced past each probe's interval.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog
from prometheus_client.parser import text_string_to_metric_families

from connectors.hubspot.sandbox.server import RunningSandbox
from sync import bootstrap
from sync.clock import FixedClock
from sync.model import EventState
from sync.serve import serving
from sync.worker import Worker
from tests.integration.worker.conftest import PSEUDONYM_KEY, System, build_system

CLIENT_SECRET = "auth-test-client-secret"
EMAILS = [f"person{n}@example.se" for n in range(4)]
WRITE = "crm.objects.contacts.write"


@dataclass
class Auth:
    """A system on a fixed clock, and what it takes to look at it from outside."""

    system: System
    clock: FixedClock
    ledger_settings: dict[str, Any]

    def worker(self) -> Worker:
        """Another worker on the same ledger (a second process)."""
        return bootstrap.build_worker(self.system.settings, clock=self.clock)

    def rectify(self, n: int) -> None:
        self.system.submit(
            "rectification", f"S-{n}", f"r{n}", email=EMAILS[n], changes={"last_name": "Holm"}
        )

    def states(self, *event_ids: str) -> list[tuple[str, int]]:
        return [
            (self.system.event(e).state.value, self.system.event(e).attempts) for e in event_ids
        ]

    def hubsync(self, *args: str) -> str:
        """``hubsync ARGS`` as an operator runs it, on this ledger; its stdout."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
        env["HUBSYNC_AUDIT__PSEUDONYM_KEY"] = PSEUDONYM_KEY
        env["HUBSYNC_LEDGER__URL"] = self.ledger_settings["url"]
        if "schema" in self.ledger_settings:
            env["HUBSYNC_LEDGER__SCHEMA"] = self.ledger_settings["schema"]
        hubsync = str(Path(sys.executable).with_name("hubsync"))
        done = subprocess.run(
            [hubsync, *args], env=env, check=False, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def auth(sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]) -> Iterator[Auth]:
    """A reset sandbox, contacts for every address, and one event done with the good token.

    The first event has the residency check made, as in a worker that has
    been running: the failures below meet events in flight, not the check.
    """
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    built = build_system(sandbox_server.base_url, ledger_settings, client_secret=CLIENT_SECRET)
    built.worker.close()
    built.operator.ledger.close()
    clock = FixedClock(datetime.now(UTC))
    system = System(
        settings=built.settings,
        operator=bootstrap.build_operator(built.settings, actor="test", clock=clock),
        worker=bootstrap.build_worker(built.settings, clock=clock),
        base_url=built.base_url,
    )
    for email in EMAILS:
        system.contact(email, firstname="First")
    harness = Auth(system, clock, ledger_settings)
    harness.rectify(0)
    system.worker.run_until_idle()
    assert harness.states("r0") == [("done", 1)]
    yield harness
    requests.post(f"{sandbox_server.base_url}/_sandbox/auth", json={"restore": True}, timeout=10)
    system.operator.ledger.close()
    system.worker.close()


def _link_gauges(metrics: str) -> dict[str, float]:
    return {
        s.labels["reason"]: s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "hubsync_hubspot_link_down"
    }


def _lastnames(system: System) -> set[str]:
    contacts = system.state()["contacts"]
    rows = contacts.values() if isinstance(contacts, dict) else contacts
    return {c["properties"].get("lastname") for c in rows if c["properties"]["email"] != EMAILS[0]}


def _assert_down(auth: Auth, reason: str, status: int, logs: list[dict[str, Any]]) -> None:
    """Nothing dead-lettered, all pending with no attempt counted, and everyone says why."""
    system = auth.system
    assert auth.states("r1", "r2", "r3") == [("pending", 0)] * 3
    assert system.operator.events(state=EventState.FAILED) == []
    link = system.operator.status().as_dict()["hubspot_link"]
    assert (link["down"], link["reason"], link["http_status"]) == (True, reason, status)

    app = bootstrap.build_intake(system.settings, clock=auth.clock)
    try:
        with serving(app) as base_url:
            ready = requests.get(base_url + "/readyz", timeout=10)
            metrics = requests.get(base_url + "/metrics", timeout=10).text
    finally:
        app.state.intake.ledger.close()
    assert ready.status_code == 503
    assert ready.json()["reason"].startswith("HubSpot link down since")
    assert f"({status})" in ready.json()["reason"]
    assert _link_gauges(metrics) == {
        "unauthorized": 1.0 if reason == "unauthorized" else 0.0,
        "missing_scopes": 1.0 if reason == "missing_scopes" else 0.0,
    }

    as_json = json.loads(auth.hubsync("status", "--json"))["hubspot_link"]
    assert (as_json["down"], as_json["reason"]) == (True, reason)
    text = auth.hubsync("status")
    assert "HUBSPOT LINK DOWN - HubSpot link down since" in text

    down = [e for e in logs if e["event"] == "hubspot_link_down"]
    assert [(e["log_level"], e["reason"], e["http_status"]) for e in down] == [
        ("error", reason, status)
    ]  # once, not once per event
    shown = json.dumps([logs, ready.json(), as_json, text, metrics], default=str).lower()
    assert not any(email in shown for email in EMAILS)


def _assert_resumed(auth: Auth, logs: list[dict[str, Any]]) -> None:
    system = auth.system
    assert auth.states("r1", "r2", "r3") == [("done", 1)] * 3
    assert system.operator.status().as_dict()["hubspot_link"]["down"] is False
    assert _lastnames(system) == {"Holm"}
    assert [e["event"] for e in logs if e["event"].startswith("hubspot_link_")][-1] == (
        "hubspot_link_restored"
    )
    assert not any(email in json.dumps(logs, default=str).lower() for email in EMAILS)


def test_a_rotated_token_pauses_every_worker_and_the_restored_one_lets_all_complete(
    auth: Auth,
) -> None:
    system = auth.system
    system.control("POST", "/_sandbox/auth", {"access_token": "pat-eu1-rotated-token"})
    for n in (1, 2, 3):
        auth.rectify(n)
    with structlog.testing.capture_logs() as logs:
        system.worker.run_until_idle()
    _assert_down(auth, "unauthorized", 401, logs)

    # Another worker on the ledger sends nothing while the link is down.
    other = auth.worker()
    calls = len(system.api_requests())
    try:
        auth.clock.advance(6)  # the events are due again; the probe's turn too
        assert other.run_until_idle() == 3  # taken, held for the link, not sent
    finally:
        other.close()
    sent = system.api_requests()[calls:]
    # The probe (a contact that does not exist) and nothing for the events; the account
    # details are its subscription check asking where the account is hosted, once.
    assert {(c["path"], c["status"]) for c in sent} <= {
        ("/crm/objects/2026-09/contacts/0", 401),
        ("/account-info/2026-09/details", 401),
    }
    assert ("/crm/objects/2026-09/contacts/0", 401) in {(c["path"], c["status"]) for c in sent}
    assert auth.states("r1", "r2", "r3") == [("pending", 0)] * 3
    assert system.event("r1").last_error is not None
    assert system.event("r1").last_error.code == "hubspot_link_down"

    system.control("POST", "/_sandbox/auth", {"restore": True})
    with structlog.testing.capture_logs() as logs:
        auth.clock.advance(60)  # past the next probe
        system.worker.run_until_idle()
    _assert_resumed(auth, logs)


def test_a_removed_scope_pauses_the_worker_and_granting_it_again_lets_all_complete(
    auth: Auth,
) -> None:
    system = auth.system
    system.control("POST", "/_sandbox/auth", {"remove_scopes": [WRITE]})
    for n in (1, 2, 3):
        auth.rectify(n)
    with structlog.testing.capture_logs() as logs:
        system.worker.run_until_idle()
    _assert_down(auth, "missing_scopes", 403, logs)
    assert system.operator.status().as_dict()["hubspot_link"]["scopes"] == [WRITE]
    calls = len(system.api_requests())
    assert system.worker.run_until_idle() == 0
    assert len(system.api_requests()) == calls  # no probe before its interval: no busy loop

    with structlog.testing.capture_logs() as logs:
        auth.clock.advance(6)
        system.worker.run_until_idle()  # the probe: the scope is still missing
    assert [e["event"] for e in logs if e["event"].startswith("hubspot_link_")] == [
        "hubspot_link_still_down"
    ]
    assert auth.states("r1", "r2", "r3") == [("pending", 0)] * 3

    system.control("POST", "/_sandbox/auth", {"add_scopes": [WRITE]})
    with structlog.testing.capture_logs() as logs:
        auth.clock.advance(60)
        system.worker.run_until_idle()
    _assert_resumed(auth, logs)
