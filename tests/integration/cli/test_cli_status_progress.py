"""`hubsync status` reads what other processes counted; `replay --all` shows its progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors.hubspot.ratelimit import RateBudget
from sync.clock import SystemClock
from sync.model import Direction, ErrorClass, ErrorInfo, EventKind, NewEvent, Origin
from sync.operator import new_envelope
from tests.contract.ledger_helpers import record_failure
from tests.integration.cli.conftest import CliEnv

STATUS_KEYS = {"by_state", "by_kind", "overdue", "due_within_7_days", "oldest_ready_age_s"}


def _failed_events(cli_env: CliEnv, count: int) -> None:
    """``count`` dead-lettered rectifications, one subject each, as the worker leaves them."""
    ledger, now = cli_env.ledger, datetime.now(UTC)
    ledger.open(now)
    ledger.submit(
        [
            NewEvent(
                new_envelope(EventKind.RECTIFICATION, f"S-{n}", now, f"reg-{n}",
                             changes={"first_name": "Anna"}),
                Origin.REGISTER,
                Direction.TO_HUBSPOT,
            )
            for n in range(count)
        ],
        now,
    )  # fmt: skip
    error = ErrorInfo(ErrorClass.PERMANENT, "http_403", http_status=403)
    for event in ledger.claim("test-worker", count, now, timedelta(seconds=60)):
        record_failure(ledger, "test-worker", event.seq, error, now, retry_at=None)


def test_status_shows_what_other_processes_counted_and_keeps_its_json_keys(
    cli_env: CliEnv,
) -> None:
    _failed_events(cli_env, 2)
    # this test process stands for a worker: three calls, one answered 429
    budget = RateBudget(cli_env.ledger, SystemClock(), per_10s=100, daily=1000, search_per_s=4)
    for _ in range(3):
        budget.acquire()
    budget.rate_limited("TEN_SECONDLY_ROLLING", 10.0)
    cli_env.ledger.add_counts({"webhook_signature_failures": 4}, datetime.now(UTC))
    cli_env.env["HUBSYNC_HUBSPOT__DAILY_LIMIT"] = "1000"

    ran = cli_env.run("status", "--json")

    assert ran.code == 0, ran.stderr
    report = ran.json()
    assert set(report) >= STATUS_KEYS | {"failed", "counters", "hubspot_daily_budget"}
    assert report["by_state"]["failed"] == report["failed"] == 2
    assert report["by_kind"] == {"rectification": {"failed": 2}}
    assert report["counters"] == {
        "hubspot_http_429": 1,
        "register_signature_failures": 0,
        "resurrections_blocked": 0,
        "webhook_echoes_dropped": 0,
        "webhook_signature_failures": 4,
    }
    assert report["hubspot_daily_budget"] == {"used": 3, "limit": 1000, "ratio": 0.003}

    text = cli_env.run("status")
    assert text.code == 0, text.stderr
    assert "failed: 2" in text.stdout
    assert "HubSpot daily budget: 3 of 1000 calls (0.3%)" in text.stdout
    assert "hubspot_http_429" in text.stdout
    assert "rectification" in text.stdout


def test_replay_of_many_events_shows_a_progress_bar_on_stderr_only(cli_env: CliEnv) -> None:
    _failed_events(cli_env, 120)

    ran = cli_env.run("replay", "--all")

    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith("replayed 120 event(s)")
    assert "replaying" in ran.stderr
    assert "120/120" in ran.stderr
    assert "replaying" not in ran.stdout


def test_replay_as_json_never_shows_a_progress_bar(cli_env: CliEnv) -> None:
    _failed_events(cli_env, 120)

    ran = cli_env.run("replay", "--all", "--json")

    assert ran.code == 0, ran.stderr
    assert len(ran.json()["events"]) == 120
    assert "replaying" not in ran.stderr


def test_replay_of_a_few_events_off_a_terminal_shows_no_progress_bar(cli_env: CliEnv) -> None:
    _failed_events(cli_env, 3)

    ran = cli_env.run("replay", "--all")

    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith("replayed 3 event(s)")
    assert "replaying" not in ran.stderr
