"""HubSpot's timestamp format and the injectable clock type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Seconds since the epoch; `time.time` in production, a fake in tests."""


def iso_ms(epoch_ms: int) -> str:
    """`2019-10-30T03:30:17.883Z` for an epoch in milliseconds."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def now_ms(clock: Clock) -> int:
    """The clock's time in epoch milliseconds."""
    return int(clock() * 1000)
