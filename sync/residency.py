"""The data-residency guard: no transfer to a HubSpot account hosted elsewhere.

Before the first transfer, and then every ``period``, the account's
``dataHostingLocation`` must be one of the allowed locations (compared case-
insensitively). Anything else fails closed: a location outside the list, a
first check that cannot read it, or a re-check that fails for any reason but
a transient one. A transient failure (a 5xx, a timeout, a rate limit) of a
re-check keeps the last verdict for at most one more period, so one 503 does
not stop every transfer; the location cannot have changed in that answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sync.errors import RetryableError, SyncError
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
            last = self._verdict
            if (
                isinstance(exc, RetryableError)
                and last is not None
                and last.allowed
                and now - last.checked_at < 2 * self._period
            ):
                return last
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
