"""HubSpot's timestamp format and the injectable clock type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

Clock = Callable[[], float]
"""Seconds since the epoch; `time.time` in production, a fake in tests."""


def iso_ms(epoch_ms: int) -> str:
    """`2019-10-30T03:30:17.883Z` for an epoch in milliseconds."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def now_ms(clock: Clock) -> int:
    """The clock's time in epoch milliseconds."""
    return int(clock() * 1000)


def account_day(now_s: float, zone: str) -> tuple[int, float]:
    """The account's day (an ordinal) at ``now_s``, and when its next midnight comes (epoch s).

    HubSpot's daily limit resets at midnight in the account's time zone
    (its account details' ``timeZone``), not at midnight UTC.
    """
    local = datetime.fromtimestamp(now_s, tz=ZoneInfo(zone))
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=local.tzinfo)
    return local.date().toordinal(), midnight.timestamp()


def utc_offset(now_s: float, zone: str) -> tuple[str, int]:
    """The zone's offset at ``now_s``: as ``+HH:MM`` and in milliseconds."""
    offset = datetime.fromtimestamp(now_s, tz=ZoneInfo(zone)).utcoffset() or timedelta(0)
    ms = int(offset.total_seconds() * 1000)
    sign = "-" if ms < 0 else "+"
    minutes = abs(ms) // 60_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}", ms
