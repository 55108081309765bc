"""HubSpot's daily limit resets at midnight in the account's time zone, not UTC's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from connectors.hubspot.errors import account_zone, seconds_until_daily_reset

NEW_YORK = ZoneInfo("America/New_York")
PLUS_ONE = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("now", "zone", "hours"),
    [
        (datetime(2026, 12, 4, 22, 0, tzinfo=UTC), UTC, 2.0),
        (datetime(2026, 12, 4, 22, 0, tzinfo=UTC), NEW_YORK, 7.0),  # 17:00 EST
        (datetime(2026, 12, 5, 3, 0, tzinfo=UTC), NEW_YORK, 2.0),  # 22:00 EST
        (datetime(2026, 7, 4, 22, 0, tzinfo=UTC), NEW_YORK, 6.0),  # 18:00 EDT
        (datetime(2026, 12, 4, 22, 0, tzinfo=UTC), timezone(timedelta(hours=1)), 1.0),
    ],
)
def test_the_wait_runs_to_the_accounts_next_midnight(
    now: datetime, zone: timezone | ZoneInfo, hours: float
) -> None:
    assert seconds_until_daily_reset(now, zone) == hours * 3600


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ({"timeZone": "America/New_York", "utcOffsetMilliseconds": -18_000_000}, NEW_YORK),
        (
            {"timeZone": "Not/AZone", "utcOffsetMilliseconds": 3_600_000},
            timezone(timedelta(hours=1)),
        ),
        ({"utcOffsetMilliseconds": -18_000_000}, timezone(timedelta(hours=-5))),
        ({}, UTC),
        ({"timeZone": 5, "utcOffsetMilliseconds": True}, UTC),
    ],
)
def test_the_accounts_zone_comes_from_its_details(
    details: dict[str, object], expected: object
) -> None:
    assert account_zone(details) == expected
