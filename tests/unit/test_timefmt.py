"""The one timestamp formatter: ISO 8601 in UTC with a ``Z``, the same instant the same text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sync.timefmt import iso_utc

STOCKHOLM_WINTER = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 11, 27, 10, 0, tzinfo=UTC), "2026-11-27T10:00:00Z"),
        (datetime(2026, 11, 27, 11, 0, tzinfo=STOCKHOLM_WINTER), "2026-11-27T10:00:00Z"),
        (datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC), "2026-11-27T10:00:00.123456Z"),
        (datetime(2026, 11, 27, 10, 0), "2026-11-27T10:00:00"),  # naive: no zone to claim
        (None, None),
    ],
)
def test_a_time_is_written_in_utc_with_a_z(value: datetime | None, text: str | None) -> None:
    assert iso_utc(value) == text
