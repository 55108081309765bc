"""HubSpot's rate limits as budgets shared by every worker on the ledger.

Three budgets live in the ledger (so they hold across processes on SQLite
and PostgreSQL alike):

- ``hubspot:window``: HubSpot counts calls in a *rolling* 10-second window.
  The budget is that window (``sync.rules.rate_window``): a call goes
  whenever fewer than ``N - margin`` calls went out in the last 10 seconds,
  so the window is spent exactly, and a full one names the wait until its
  oldest call leaves. (A token bucket cannot do this: to keep any 10 s within
  ``N`` its refill must stay below ``N/10`` a second.)
- ``hubspot:daily``: a token bucket, the daily limit refilled evenly over the day;
- ``hubspot:search``: a token bucket, search's own per-second limit.

HubSpot's ``X-HubSpot-RateLimit-*`` headers correct the budgets: a window
reported exhausted blocks until it frees a slot (its oldest call leaves), a
day reported used up until the daily reset. A wait of up to
``max_sleep_s`` (for the window: up to one window) is slept here; a longer
one raises ``RateLimited`` so the event goes back to the ledger and the
worker never sleeps for minutes.

Every 429 HubSpot answers is also counted in the ledger's shared counters
(``hubspot_http_429``), and ``daily_usage`` reads the daily bucket back for
``hubsync status`` and ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from connectors.hubspot.errors import header, seconds_until_daily_reset
from sync.errors import RateLimited
from sync.ports import Clock, SharedState
from sync.rules.rate_window import DEFAULT_MARGIN, RollingWindow
from sync.status import HUBSPOT_HTTP_429, DailyBudget

WINDOW = "hubspot:window"
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
        margin: int = DEFAULT_MARGIN,
        max_sleep_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._sleep = sleep
        self.max_sleep_s = max_sleep_s
        self.window = RollingWindow(limit=per_10s, margin=margin)
        self._buckets: dict[str, tuple[float, float]] = {
            DAILY: (float(daily), daily / 86400),
            SEARCH: (1.0, float(search_per_s)),
        }
        self.per_10s = per_10s
        self.daily = daily
        self.day_zone: tzinfo = UTC
        """The account's time zone, whose midnight resets the daily limit (set by the client
        from the account details; UTC until then)."""

    def acquire(self, search: bool = False) -> None:
        """Wait (briefly) for room for one call, or raise ``RateLimited``.

        Search is exempt from HubSpot's ten-secondly window and has its own
        per-second limit; every call counts against the day.
        """
        names = (SEARCH, DAILY) if search else (WINDOW, DAILY)
        while True:
            wait, longest = 0.0, self.max_sleep_s
            for name in names:
                wait, longest = self._take(name)
                if wait > 0:
                    break
            if wait == 0:
                return
            if wait > longest:
                policy = "DAILY" if name == DAILY else "TEN_SECONDLY_ROLLING"
                error = RateLimited(
                    f"hubsync's {name} budget is spent for {wait:.0f} s",
                    code=f"budget_{name.split(':')[1]}",
                    retry_after_s=wait,
                )
                error.policy = policy
                raise error
            self._sleep(max(wait, 0.001))

    def _take(self, name: str) -> tuple[float, float]:
        """One call through ``name``: the wait (0: taken), and the longest wait slept here.

        The window's own wait is at most one window (until its oldest call
        leaves) and comes every window once a worker outpaces the limit: it is
        slept, keeping the batch in hand, where sending it back would make the
        worker claim and return every other batch while the window stays full.
        A block HubSpot reported, like a bucket's wait, is slept up to
        ``max_sleep_s`` only.
        """
        now = self._clock.now()
        if name == WINDOW:
            answer = self._ledger.admit_call(WINDOW, self.window, now)
            own = max(self.max_sleep_s, self.window.seconds)
            return answer.wait, self.max_sleep_s if answer.blocked else own
        capacity, refill = self._buckets[name]
        return self._ledger.take_tokens(name, 1, capacity, refill, now), self.max_sleep_s

    def observe(self, headers: Mapping[str, Any] | None) -> None:
        """Correct the budgets from an answer's ``X-HubSpot-RateLimit-*`` headers."""
        now = self._clock.now()
        remaining = header(headers, "X-HubSpot-RateLimit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            # The window is rolling: a slot frees when the oldest call in it
            # leaves. With the budget spending N - margin this happens only when
            # someone else spends the app's window too, or the limit configured
            # is above the account's; either way the budget waits for HubSpot.
            self._ledger.block_window(WINDOW, self._reported_window(headers), now)
        daily = header(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        if daily is not None and daily.strip() == "0":
            wait = seconds_until_daily_reset(now, self.day_zone)
            self.block(DAILY, now + timedelta(seconds=wait))

    def _reported_window(self, headers: Mapping[str, Any] | None) -> RollingWindow:
        """The window HubSpot says it counts (``Interval-Milliseconds``), else the budget's.

        HubSpot's is 10 s; an answer naming another (a test's sandbox, a
        future policy) frees its slots on its own clock, and blocking for
        ten seconds where one would do would stall every worker for nothing.
        """
        interval = header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if interval is None or not interval.strip().isdigit() or int(interval) <= 0:
            return self.window
        return replace(self.window, seconds=int(interval) / 1000)

    def rate_limited(self, policy: str | None, wait_s: float) -> None:
        """Record a 429: block the bucket its policy names for ``wait_s``, and count it."""
        name = {"DAILY": DAILY, "SECONDLY": SEARCH}.get(policy or "", WINDOW)
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
