"""HubSpot's rate limits as budgets in the ledger, shared by every worker (both backends)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.hubspot.ratelimit import RateBudget
from sync.clock import FixedClock
from sync.errors import RateLimited
from sync.ledger.sql import SqlLedger
from tests.conftest import T0


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


def test_a_rate_bucket_reads_back_as_last_written(ledger: SqlLedger, clock: FixedClock) -> None:
    assert ledger.rate_bucket("hubspot:daily") is None
    ledger.take_tokens("hubspot:daily", 3, 1000.0, 0.5, clock.now())
    later = clock.advance(60)
    ledger.correct_bucket("hubspot:burst", later, blocked_until=later + timedelta(seconds=10))

    daily = ledger.rate_bucket("hubspot:daily")
    burst = ledger.rate_bucket("hubspot:burst")

    assert daily is not None
    assert daily.tokens == pytest.approx(997.0)
    assert daily.updated_at == T0
    assert daily.blocked_until is None
    assert burst is not None
    assert burst.blocked_until == later + timedelta(seconds=10)


def test_a_429_is_counted_in_the_shared_counters(ledger: SqlLedger, clock: FixedClock) -> None:
    slept: list[float] = []
    first, second = _budget(ledger, clock, slept), _budget(ledger, clock, slept)

    first.rate_limited("TEN_SECONDLY_ROLLING", 10.0)
    second.rate_limited("DAILY", 3600.0)

    assert ledger.counts()["hubspot_http_429"] == 2


def test_hubsyncs_own_budget_refusing_a_call_is_not_counted_as_a_429(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.observe({"X-HubSpot-RateLimit-Daily-Remaining": "0"})

    with pytest.raises(RateLimited):
        budget.acquire()

    assert "hubspot_http_429" not in ledger.counts()


def test_daily_usage_is_what_the_bucket_holds_spent_and_refills_over_the_day(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept, daily=86_400, per_10s=10_000)
    assert budget.daily_usage(clock.now()).as_dict() == {"used": 0, "limit": 86_400, "ratio": 0.0}
    for _ in range(432):
        budget.acquire()

    assert budget.daily_usage(clock.now()).as_dict() == {
        "used": 432,
        "limit": 86_400,
        "ratio": 0.005,
    }
    # the daily bucket refills one call a second (86,400 a day): 100 s later, 332 are spent
    assert budget.daily_usage(clock.advance(100)).used == 332
    assert budget.daily_usage(clock.advance(1000)).used == 0


def test_a_day_hubspot_reports_used_up_is_all_spent_until_it_resets(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept, daily=1000, per_10s=10_000)
    for _ in range(20):
        budget.acquire()
    budget.rate_limited("DAILY", 60.0)

    assert budget.daily_usage(clock.now()).as_dict() == {"used": 1000, "limit": 1000, "ratio": 1.0}
    # unblocked, the bucket's own reckoning is back: 20 calls, less 61 s of refill (0.7)
    assert budget.daily_usage(clock.advance(61)).used == 19
