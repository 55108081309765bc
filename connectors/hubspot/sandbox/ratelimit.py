"""HubSpot's rate limits: a rolling 10-second window per token, a daily budget, search per second.

Only accepted calls count. Search is exempt from the ten-secondly window (the spec's
`x-hubspot-rate-limit-exemptions: ["ten-secondly"]`) and has its own per-second window;
every authenticated call counts toward the daily budget, which resets at midnight in the
account's time zone (`SandboxConfig.time_zone`).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from connectors.hubspot.sandbox.errors import ApiError
from connectors.hubspot.sandbox.timefmt import Clock, account_day


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer: the headers to send, and the 429 to answer with when refused."""

    headers: dict[str, str]
    error: ApiError | None = None

    @property
    def allowed(self) -> bool:
        """Whether the call may proceed."""
        return self.error is None


@dataclass
class _Windows:
    ten_secondly: deque[float] = field(default_factory=deque)
    secondly: deque[float] = field(default_factory=deque)


class RateLimiter:
    """Counts calls per token and per day, and refuses the ones over a limit with HubSpot's 429."""

    def __init__(
        self,
        *,
        clock: Clock,
        per_interval: int,
        interval_ms: int,
        daily: int,
        search_per_s: int,
        portal_id: int,
        app_id: int,
        retry_after: bool = False,
        time_zone: str = "UTC",
    ) -> None:
        self._clock = clock
        self._time_zone = time_zone
        self._day_ends = 0.0
        self._per_interval = per_interval
        self._interval_s = interval_ms / 1000
        self._interval_ms = interval_ms
        self._daily = daily
        self._search_per_s = search_per_s
        self._portal_id = portal_id
        self._app_id = app_id
        self._retry_after = retry_after
        self._lock = threading.Lock()
        self._windows: dict[str, _Windows] = {}
        self._day = -1
        self._daily_used = 0
        self.refused = 0

    def reset(self) -> None:
        """Forget every window and the day's usage."""
        with self._lock:
            self._windows.clear()
            self._daily_used = 0
            self.refused = 0

    def daily_used(self) -> int:
        """Calls counted today."""
        with self._lock:
            self._roll_day(self._clock())
            return self._daily_used

    def _roll_day(self, now: float) -> None:
        day, self._day_ends = account_day(now, self._time_zone)
        if day != self._day:
            self._day = day
            self._daily_used = 0

    def check(self, token: str, *, search: bool = False) -> Verdict:
        """Count one call for `token`, or refuse it (429 body and headers) without counting it."""
        with self._lock:
            now = self._clock()
            self._roll_day(now)
            windows = self._windows.setdefault(token, _Windows())
            if search:
                window, limit, span = windows.secondly, self._search_per_s, 1.0
            else:
                window, limit, span = windows.ten_secondly, self._per_interval, self._interval_s
            while window and window[0] <= now - span:
                window.popleft()
            if self._daily_used >= self._daily:
                wait = self._day_ends - now
                return self._refuse(self._daily_error(), search, len(window), wait)
            if len(window) >= limit:
                wait = window[0] + span - now
                error = self._secondly_error() if search else self._ten_secondly_error()
                return self._refuse(error, search, len(window), wait)
            window.append(now)
            self._daily_used += 1
            return Verdict(self._headers(search, len(window)))

    def _refuse(self, error: ApiError, search: bool, used: int, wait_s: float) -> Verdict:
        self.refused += 1
        headers = self._headers(search, used)
        if self._retry_after:
            headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
        return Verdict(headers, error)

    def _headers(self, search: bool, used: int) -> dict[str, str]:
        headers = {
            "X-HubSpot-RateLimit-Daily": str(self._daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self._daily - self._daily_used)),
        }
        if search:
            headers["X-HubSpot-RateLimit-Secondly"] = str(self._search_per_s)
            headers["X-HubSpot-RateLimit-Secondly-Remaining"] = str(
                max(0, self._search_per_s - used)
            )
        else:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self._interval_ms)
            headers["X-HubSpot-RateLimit-Max"] = str(self._per_interval)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, self._per_interval - used))
        return headers

    def _ten_secondly_error(self) -> ApiError:
        return ApiError(
            429,
            None,
            "You have reached your ten_secondly_rolling limit.",
            extra={
                "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING",
                "groupName": (
                    f"publicapi:private_app-api-calls-ten-secondly:{self._app_id}:{self._portal_id}"
                ),
            },
        )

    def _daily_error(self) -> ApiError:
        return ApiError(
            429,
            None,
            "You have reached your daily limit.",
            extra={
                "errorType": "RATE_LIMIT",
                "policyName": "DAILY",
                "groupName": f"publicapi:private_app-api-calls-daily:{self._portal_id}",
            },
        )

    def _secondly_error(self) -> ApiError:
        # Search 429s carry no policyName (reference 4.3); clients match on the message.
        return ApiError(
            429, None, "You have reached your secondly limit.", extra={"errorType": "RATE_LIMIT"}
        )
