"""How hubsync writes a time: ISO 8601 in UTC with a ``Z`` (``2026-11-27T10:00:00Z``).

The one formatter for every time hubsync puts in JSON (events shown by the
CLI and the HTTP API, envelopes sent to a register, access exports) and in
the audit chain's hashed content. An aware time in another zone is turned
into UTC first, so the same instant always reads the same; ``None`` stays
``None``, for optional times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso_utc(value: datetime) -> str: ...


@overload
def iso_utc(value: None) -> None: ...


def iso_utc(value: datetime | None) -> str | None:
    """``value`` as ISO 8601 in UTC ending in ``Z``; None for None; a naive time as it is."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")
