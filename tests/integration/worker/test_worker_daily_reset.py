"""An account in New York that spends its daily limit: work resumes at New York's midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import running_sandbox
from sync.model import EventState
from tests.integration.conftest import TOKEN
from tests.integration.worker.conftest import build_system

NEW_YORK = ZoneInfo("America/New_York")


def _next_midnight(zone: ZoneInfo | type[UTC], now: datetime) -> datetime:
    local = now.astimezone(zone)  # type: ignore[arg-type]
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=local.tzinfo)


def test_a_new_york_account_at_its_daily_limit_resumes_at_new_yorks_midnight(
    ledger_settings: dict[str, Any],
) -> None:
    config = SandboxConfig(port=0, access_token=TOKEN, daily_limit=3, time_zone="America/New_York")
    with running_sandbox(config) as sandbox:
        system = build_system(sandbox.base_url, ledger_settings)
        for n in range(4):
            system.contact(f"p{n}@example.se")  # control actions: not counted
        for n in range(4):
            system.submit(
                "rectification", f"C-{n}", f"r-{n}", email=f"p{n}@example.se",
                changes={"company": "Acme"},
            )  # fmt: skip
        before = datetime.now(UTC)
        system.worker.run_until_idle()

        # HubSpot's Daily-Remaining header reached 0 (or a 429 DAILY came): the
        # shared budget holds every call until the account's next midnight.
        assert len(system.api_requests()) <= 3
        waiting = [system.event(f"r-{n}") for n in range(4)]
        parked = [e for e in waiting if e.state is EventState.PENDING]
        assert parked, "some events wait for the next day"
        new_york, utc = _next_midnight(NEW_YORK, before), _next_midnight(UTC, before)
        assert new_york != utc
        for event in parked:
            assert abs((event.next_attempt_at - new_york).total_seconds()) < 120
        system.operator.ledger.close()
        system.worker.close()
