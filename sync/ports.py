"""Protocols the core needs from the outside world.

The ledger's port is the ``SqlLedger`` interface (``sync.ledger.sql``), with
one implementation per database; HubSpot and the register get theirs as
their connectors arrive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Where the core gets the time: ``SystemClock`` in production, ``FixedClock`` in tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...
