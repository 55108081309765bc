"""HubSpot's rate limits as budgets shared by every worker on the ledger.

Three token buckets live in the ledger (so they hold across processes on
SQLite and PostgreSQL alike):

- ``hubspot:burst``: HubSpot counts calls in a *rolling* 10-second window.
  A bucket of capacity ``c`` refilled at ``r`` per second lets at most
  ``c + 10 r`` calls into any 10 seconds, so ``c = N/10`` and
  ``r = (N - c)/10`` keep within ``N`` while allowing a small burst;
- ``hubspot:daily``: the daily limit, refilled evenly over the day;
- ``hubspot:search``: search's own per-second limit.

HubSpot's ``X-HubSpot-RateLimit-*`` headers correct the buckets: a window
reported exhausted blocks the bucket until it resets. A wait of up to
``max_sleep_s`` is slept here; a longer one raises ``RateLimited`` so the
event goes back to the ledger and the worker never sleeps for minutes.

Every 429 HubSpot answers is also counted in the ledger's shared counters
(``hubspot_http_429``), and ``daily_usage`` reads the daily bucket back for
``hubsync status`` and ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from connectors.hubspot.errors import header, seconds_until_daily_reset
from sync.errors import RateLimited
from sync.ports import Clock, SharedState
from sync.status import HUBSPOT_HTTP_429, DailyBudget

BURST = "hubspot:burst"
DAILY = "hubspot:daily"
SEARCH = "hubspot:search"


class RateBudget:
    """Decides when the next HubSpot call may go, for every worker sharing a ledger."""

    def __init__(
        self,
        ledger: SharedState,
        clock: Clock,
        *,
        per_10s: int,
        daily: int,
        search_per_s: int,
        max_sleep_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self.max_sleep_s = max_sleep_s
        burst_capacity = max(1.0, per_10s / 10)
        self._buckets: dict[str, tuple[float, float]] = {
            BURST: (burst_capacity, (per_10s - burst_capacity) / 10),
            DAILY: (float(daily), daily / 86400),
            SEARCH: (1.0, float(search_per_s)),
        }
        self.per_10s = per_10s
        self.daily = daily
        self.day_zone: tzinfo = UTC
        """The account's time zone, whose midnight resets the daily limit (set by the client
        from the account details; UTC until then)."""

    def acquire(self, search: bool = False) -> None:
        """Wait (briefly) for room for one call, or raise ``RateLimited``."""
        names = (SEARCH, DAILY) if search else (BURST, DAILY)
        while True:
            wait = 0.0
            for name in names:
                capacity, refill = self._buckets[name]
                wait = self._ledger.take_tokens(name, 1, capacity, refill, self._clock.now())
                if wait > 0:
                    break
            if wait == 0:
                return
            if wait > self.max_sleep_s:
                policy = "DAILY" if name == DAILY else "TEN_SECONDLY_ROLLING"
                error = RateLimited(
                    f"hubsync's {name} budget is spent for {wait:.0f} s",
                    code=f"budget_{name.split(':')[1]}",
                    retry_after_s=wait,
                )
                error.policy = policy
                raise error
            self._sleep(max(wait, 0.001))

    def observe(self, headers: Mapping[str, Any] | None) -> None:
        """Correct the budgets from an answer's ``X-HubSpot-RateLimit-*`` headers."""
        now = self._clock.now()
        remaining = header(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            # The window is rolling: a slot frees as each call leaves it, so pause
            # for a tenth of it, not all of it. Spending the window exactly is
            # what this budget does at full pace; a real 429 blocks the whole
            # interval (rate_limited).
            interval = header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
            seconds = float(interval) / 1000 if interval and interval.isdigit() else 10.0
            self.block(BURST, now + timedelta(seconds=seconds / 10))
        daily = header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily is not None and daily.strip() == "0":
            wait = seconds_until_daily_reset(now, self.day_zone)
            self.block(DAILY, now + timedelta(seconds=wait))

    def rate_limited(self, policy: str | None, wait_s: float) -> None:
        """Record a 429: block the bucket its policy names for ``wait_s``, and count it."""
        name = {"DAILY": DAILY, "SECONDLY": SEARCH}.get(policy or "", BURST)
        now = self._clock.now()
        self.block(name, now + timedelta(seconds=wait_s))
        self._ledger.add_counts({HUBSPOT_HTTP_429: 1}, now)

    def daily_usage(self, now: datetime) -> DailyBudget:
        """How much of the daily limit the shared bucket holds spent at ``now``.

        Spent is the limit less the tokens left, refilled to ``now``; a bucket
        blocked (HubSpot said the day is used up) is all spent.
        """
        bucket = self._ledger.rate_bucket(DAILY)
        if bucket is None:
            return DailyBudget(used=0, limit=self.daily)
        if bucket.blocked_until is not None and bucket.blocked_until > now:
            return DailyBudget(used=self.daily, limit=self.daily)
        capacity, refill = self._buckets[DAILY]
        elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
        tokens = min(capacity, bucket.tokens + elapsed * refill)
        return DailyBudget(used=max(0, round(capacity - tokens)), limit=self.daily)

    def block(self, name: str, until: datetime) -> None:
        """Let no call through ``name`` until ``until``."""
        self._ledger.correct_bucket(name, self._clock.now(), blocked_until=until)
