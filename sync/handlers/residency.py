"""The data-residency guard: no transfer to a HubSpot account hosted elsewhere.

Before the first transfer, and then every ``period``, the account's
``dataHostingLocation`` must be one of the allowed locations (compared case-
insensitively). The guard tells two kinds of outcome apart:

- A *verdict*: HubSpot answered with a location. Inside the list, transfers
  are allowed; outside it, they are refused (fail closed) and the worker
  defers them a minute at a time. Either verdict is kept for the period.
- A *failed check* (``failed_check``): HubSpot or the network did not say
  where the account is hosted. Nothing is allowed (fail closed), but nothing
  is kept for the period either: the guard asks again at ``retry_at``, 5 s
  after the first failed check, doubling with each consecutive one up to
  60 s (never more than the period; at least any Retry-After the answer
  named), and back to 5 s after the next answer. A worker started during a
  HubSpot outage so resumes within a minute of HubSpot's recovery: the
  worker defers its events only until ``retry_at``.

A transient failure (a 5xx, a timeout, a rate limit) of a re-check after a
good verdict keeps that verdict for at most one more period, so one 503 does
not stop every transfer (the location cannot have changed in that answer);
meanwhile the guard re-asks on the same backoff. A non-transient failure (a
``SyncError`` that is not a ``RetryableError``: a 401 or 403 for a revoked
token or a missing scope, account details without a location) is a failed
check too, not an answer about the location: it fails closed even after a
good verdict, its reason (HubSpot's status and the error code) is in the
verdict for the operator (``permanent_failure``), and the guard waits the
cap at once (one call a minute): asking sooner will not fix a token, and an
operator's fix is still seen within a minute.

The guard decides only from HubSpot's answers and the injected clock; it
neither logs nor sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sync.errors import RetryableError, SyncError
from sync.ports import Clock

FIRST_RETRY = timedelta(seconds=5)
MAX_RETRY = timedelta(seconds=60)


class HostingLocation(Protocol):
    """What the guard needs of HubSpot: ``HubSpot.hosting_location``."""

    def hosting_location(self) -> str:
        """The account's ``dataHostingLocation``; raises ``SyncError`` when it is not read."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """The residency check's outcome, with the reason an operator reads.

    ``failed_check`` is set when HubSpot did not say where the account is
    hosted (``location`` is then None): the guard asks again at
    ``retry_at``, and ``error_code``, ``http_status`` and
    ``permanent_failure`` say what failed. Otherwise HubSpot answered, and
    the verdict holds for the guard's period.
    """

    allowed: bool
    location: str | None
    reason: str
    checked_at: datetime
    failed_check: bool = False
    retry_at: datetime | None = None
    error_code: str | None = None
    http_status: int | None = None
    permanent_failure: bool = False


def retry_delay(
    failures: int,
    *,
    permanent: bool,
    retry_after_s: float | None = None,
    first: timedelta = FIRST_RETRY,
    cap: timedelta = MAX_RETRY,
) -> timedelta:
    """How long to wait before asking again after ``failures`` consecutive failed checks.

    ``first``, doubled for each failure after the first, up to ``cap``; a
    permanent failure waits the cap at once; a Retry-After (or rate-limit
    window) that the answer named is honoured when it is longer.
    """
    doubled = first * 2 ** min(max(failures - 1, 0), 30)  # the bound keeps it finite
    delay = cap if permanent else min(doubled, cap)
    if retry_after_s is not None and retry_after_s > delay.total_seconds():
        delay = timedelta(seconds=retry_after_s)
    return delay


class ResidencyGuard:
    """Checks (and re-checks periodically) where the HubSpot account keeps its data."""

    def __init__(
        self,
        hubspot: HostingLocation,
        allowed: list[str],
        clock: Clock,
        period: timedelta,
        *,
        first_retry: timedelta = FIRST_RETRY,
        max_retry: timedelta = MAX_RETRY,
    ) -> None:
        self._hubspot = hubspot
        self.allowed = [a.strip().lower() for a in allowed]
        self._clock = clock
        self._period = period
        self._first_retry = first_retry
        self._max_retry = min(max_retry, period)
        self._current: Verdict | None = None  # what verdict() returns until the next check
        self._answer: Verdict | None = None  # HubSpot's last answer about the location
        self._failures = 0  # consecutive failed checks since that answer
        self._next_check_at: datetime | None = None

    @property
    def next_check_at(self) -> datetime | None:
        """When the guard asks HubSpot again (None before the first check)."""
        return self._next_check_at

    def verdict(self, *, fresh: bool = False) -> Verdict:
        """The current verdict; HubSpot is asked again once its time is up (or when ``fresh``)."""
        now = self._clock.now()
        due = self._next_check_at
        if fresh or self._current is None or due is None or now >= due:
            self._current = self._check(now)
        return self._current

    def _check(self, now: datetime) -> Verdict:
        try:
            location = self._hubspot.hosting_location()
        except SyncError as exc:
            return self._failed_check(now, exc)
        self._failures = 0
        self._next_check_at = now + self._period
        if location.lower() in self.allowed:
            answer = Verdict(True, location, f"hosted in {location}", now)
        else:
            allowed = ", ".join(self.allowed)
            answer = Verdict(
                False,
                location,
                f"the HubSpot account is hosted in {location}, not in an allowed location "
                f"({allowed}); nothing is sent until [hubspot] allowed_hosting_locations "
                "allows it",
                now,
            )
        self._answer = answer
        return answer

    def _failed_check(self, now: datetime, exc: SyncError) -> Verdict:
        """Fail closed and ask again after the backoff; nothing is kept for the period."""
        self._failures += 1
        transient = isinstance(exc, RetryableError)
        delay = retry_delay(
            self._failures,
            permanent=not transient,
            retry_after_s=exc.retry_after_s,
            first=self._first_retry,
            cap=self._max_retry,
        )
        self._next_check_at = now + delay
        last = self._answer
        if (
            transient
            and last is not None
            and last.allowed
            and now - last.checked_at < 2 * self._period
        ):
            return last  # a 503 says nothing new about where the account is hosted
        return Verdict(
            False,
            None,
            f"cannot read the account's hosting location: {exc}; "
            f"asking again in {delay.total_seconds():g} s",
            now,
            failed_check=True,
            retry_at=now + delay,
            error_code=exc.code,
            http_status=exc.http_status,
            permanent_failure=not transient,
        )
