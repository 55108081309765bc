"""The data-residency guard: no transfer to a HubSpot account hosted elsewhere.

Before the first transfer, and then every ``period``, the account's
``dataHostingLocation`` must be one of the allowed locations (compared case-
insensitively). Anything else, including failing to find out, fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.errors import SyncError
from sync.ports import Clock, HubSpot


@dataclass(frozen=True, slots=True)
class Verdict:
    """The residency check's answer, with the reason an operator reads."""

    allowed: bool
    location: str | None
    reason: str
    checked_at: datetime


class ResidencyGuard:
    """Checks (and re-checks periodically) where the HubSpot account keeps its data."""

    def __init__(
        self, hubspot: HubSpot, allowed: list[str], clock: Clock, period: timedelta
    ) -> None:
        self._hubspot = hubspot
        self.allowed = [a.strip().lower() for a in allowed]
        self._clock = clock
        self._period = period
        self._verdict: Verdict | None = None

    def verdict(self, *, fresh: bool = False) -> Verdict:
        """The current verdict, checked again when older than the period (or ``fresh``)."""
        now = self._clock.now()
        last = self._verdict
        if fresh or last is None or now - last.checked_at >= self._period:
            self._verdict = self._check(now)
        assert self._verdict is not None
        return self._verdict

    def _check(self, now: datetime) -> Verdict:
        try:
            location = self._hubspot.hosting_location()
        except SyncError as exc:
            return Verdict(False, None, f"cannot read the account's hosting location: {exc}", now)
        if location.lower() in self.allowed:
            return Verdict(True, location, f"hosted in {location}", now)
        allowed = ", ".join(self.allowed)
        return Verdict(
            False,
            location,
            f"the HubSpot account is hosted in {location}, not in an allowed location "
            f"({allowed}); nothing is sent until [hubspot] allowed_hosting_locations allows it",
            now,
        )
