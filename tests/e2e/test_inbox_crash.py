"""A worker killed between HubSpot's acknowledgement and the processing loses nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot.sandbox.server import running_sandbox
from sync import bootstrap
from sync.clock import FixedClock
from sync.model import EventKind
from tests.contract.ledger_helpers import pending_webhooks
from tests.contract.processes import read_line
from tests.e2e.conftest import Loop, build_loop, e2e_sandbox_config, undated_calls

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LEASE_S = 60.0


@pytest.fixture
def loop(ledger_settings: dict[str, Any], tmp_path: Path) -> Iterator[Loop]:
    """A loop whose sandbox sends `hs_email_optout` changes: two webhooks, not one."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            running_sandbox(e2e_sandbox_config(webhook_email_optout_changes=True))
        )
        yield build_loop(stack, sandbox, ledger_settings, tmp_path)
        assert undated_calls(sandbox.base_url) == []


def test_a_worker_killed_after_the_webhook_was_acknowledged_loses_no_event(loop: Loop) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")
    loop.act("update", contact_id=contact, properties={"firstname": "Annika"})
    loop.act("unsubscribe", email="anna@example.se")
    deadline = time.monotonic() + 10
    while not loop.deliveries_idle() and time.monotonic() < deadline:
        time.sleep(0.02)
    stored = [key for key, _ in pending_webhooks(loop.ledger, 100)]
    assert stored, "HubSpot's deliveries were acknowledged, so they are in the inbox"

    now = datetime.now(UTC)
    ledger = loop.settings.ledger
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    holder = subprocess.Popen(
        [sys.executable, str(HERE / "inbox_holder.py"), "--url", ledger.url,
         "--schema", ledger.schema_name or "", "--now", now.isoformat(),
         "--lease-s", str(LEASE_S)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        held = json.loads(read_line(holder, timeout_s=30))["keys"]
    finally:
        holder.kill()
        holder.communicate()
    assert held == stored

    # While the dead worker's lease lasts, nobody takes its events...
    loop.worker.run_until_idle()
    assert loop.customer("C-1")["first_name"] == "Anna"
    # ...and once it has run out, a restarted worker does all of them.
    clock = FixedClock(now + timedelta(seconds=LEASE_S + 1))
    restarted = bootstrap.build_worker(loop.settings, clock=clock)
    try:
        restarted.run_until_idle()
    finally:
        restarted.close()

    assert pending_webhooks(loop.ledger, 100) == []
    record = loop.customer("C-1")
    assert record["first_name"] == "Annika"
    assert record["marketing_opt_out"] is True
    kinds = sorted(e.kind for e in loop.register_events())
    assert kinds == [EventKind.MARKETING_OPT_OUT, EventKind.RECTIFICATION]
