"""HubSpot's rate limits as budgets in the ledger, shared by every worker (both backends)."""

from __future__ import annotations

import pytest

from connectors.hubspot.ratelimit import RateBudget
from sync.clock import FixedClock
from sync.errors import RateLimited
from sync.ledger.sql import SqlLedger


def _budget(ledger: SqlLedger, clock: FixedClock, slept: list[float], **kw: int) -> RateBudget:
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    limits = {"per_10s": 100, "daily": 250_000, "search_per_s": 4, **kw}
    return RateBudget(ledger, clock, sleep=sleep, **limits)


def test_no_ten_second_window_ever_holds_more_calls_than_the_limit(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    start = clock.now()
    times = []
    for _ in range(300):
        budget.acquire()
        times.append((clock.now() - start).total_seconds())
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 10)
        assert in_window <= 100
    # and it keeps close to the limit: a burst of 10, then 9 a second (90% of 10 a second)
    assert times[-1] < 10 + 290 / 9 + 0.1


def test_two_workers_on_one_ledger_share_one_budget(ledger: SqlLedger, clock: FixedClock) -> None:
    slept: list[float] = []
    first, second = _budget(ledger, clock, slept), _budget(ledger, clock, slept)
    for _ in range(5):
        first.acquire()
        second.acquire()
    assert not slept  # the burst allowance (10) is shared: exactly used up
    first.acquire()
    assert slept  # the eleventh call waited


def test_a_long_wait_goes_back_to_the_ledger_as_rate_limited(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.observe({"X-HubSpot-RateLimit-Daily-Remaining": "0"})
    with pytest.raises(RateLimited) as caught:
        budget.acquire()
    assert caught.value.policy == "DAILY"
    assert caught.value.retry_after_s is not None
    assert caught.value.retry_after_s > 2
    assert slept == []


def test_an_exhausted_window_reported_by_hubspot_pauses_for_a_tenth_of_it(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.observe(
        {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    )
    budget.acquire()  # the rolling window frees a slot soon: a 1 s pause, slept in the call
    assert slept == [pytest.approx(1.0)]


def test_a_429_blocks_the_bucket_its_policy_names(ledger: SqlLedger, clock: FixedClock) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.rate_limited("SECONDLY", 1.0)
    budget.acquire()  # the ten-secondly bucket is untouched
    assert slept == []
    budget.acquire(search=True)
    assert slept == [pytest.approx(1.0)]
