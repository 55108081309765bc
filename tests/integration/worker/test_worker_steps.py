"""The worker's steps (webhook inbox, register outbox, subscription check) fail loudly, rarely."""

from __future__ import annotations

from pathlib import Path

import structlog

from sync import bootstrap
from sync.clock import FixedClock
from sync.settings import load_settings
from tests.conftest import T0
from tests.integration.worker.conftest import PSEUDONYM_KEY, TOKEN


def test_a_broken_register_outbox_is_logged_then_rests_before_the_next_try(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        None,
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        hubspot={"base_url": "http://127.0.0.1:9", "access_token": TOKEN},
        audit={"pseudonym_key": PSEUDONYM_KEY},
        register={"url": f"sqlite:///{tmp_path / 'no-tables.db'}"},  # the outbox table is missing
    )
    clock = FixedClock(T0)
    worker = bootstrap.build_worker(settings, clock=clock)
    try:
        with structlog.testing.capture_logs() as logs:
            worker.run_once()
            worker.run_once()
            clock.advance(29)
            worker.run_once()
            clock.advance(2)
            worker.run_once()
    finally:
        worker.close()

    failures = [e for e in logs if e["event"] == "worker_step_failed"]
    assert [(e["step"], e["code"]) for e in failures] == [
        ("RegisterOutbox", "register_db_error"),
        ("RegisterOutbox", "register_db_error"),
    ]
