"""HubSpot's rate limits as budgets in the ledger, shared by every worker (both backends)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from connectors.hubspot.ratelimit import WINDOW, RateBudget
from sync.clock import FixedClock
from sync.errors import RateLimited
from sync.ledger.sql import SqlLedger
from sync.rules.rate_window import RollingWindow
from tests.conftest import T0
from tests.contract.rawdb import Target


def _budget(ledger: SqlLedger, clock: FixedClock, slept: list[float], **kw: float) -> RateBudget:
    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    limits: dict[str, Any] = {"per_10s": 100, "daily": 250_000, "search_per_s": 4, **kw}
    return RateBudget(ledger, clock, sleep=sleep, **limits)


def test_exactly_the_limit_less_the_margin_goes_in_a_window_and_the_next_waits_for_the_oldest(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    for _ in range(98):  # 100 less the default margin of 2, at once
        budget.acquire()
    assert slept == []
    clock.advance(4)
    budget.acquire()  # the 99th waits until the first call leaves the window, 10 s after it
    assert slept == [pytest.approx(6.0)]


def test_at_full_pace_the_window_is_spent_exactly_and_never_overspent(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept, margin=0)
    start = clock.now()
    times = []
    for _ in range(300):
        budget.acquire()
        times.append((clock.now() - start).total_seconds())
    for i, t in enumerate(times):
        in_window = sum(1 for u in times[i:] if u < t + 10)
        assert in_window <= 100
    # 100 calls at 0 s, 10 s and 20 s: the whole limit, where a bucket reached 0.9 of it
    assert times[99] == 0.0
    assert times[100] == pytest.approx(10.0)
    assert times[-1] == pytest.approx(20.0)


def test_two_workers_on_one_ledger_share_one_window(ledger: SqlLedger, clock: FixedClock) -> None:
    slept: list[float] = []
    first, second = _budget(ledger, clock, slept), _budget(ledger, clock, slept)
    for _ in range(49):
        first.acquire()
        second.acquire()
    assert not slept  # the window's 98 calls are shared: exactly used up
    first.acquire()
    assert slept == [pytest.approx(10.0)]  # the 99th waited for the first to leave


def test_workers_asking_at_once_never_admit_more_than_the_window_allows(target: Target) -> None:
    window = RollingWindow(limit=40, margin=2)
    ledgers = [target.ledger() for _ in range(6)]
    ledgers[0].open(T0)

    def ask(ledger: SqlLedger) -> int:
        # each worker asks 20 times in the same second; 120 asks in all for 38 places
        now = [T0 + timedelta(seconds=i / 20) for i in range(20)]
        return sum(1 for moment in now if ledger.admit_call(WINDOW, window, moment).admitted)

    try:
        with ThreadPoolExecutor(len(ledgers)) as pool:
            admitted = list(pool.map(ask, ledgers))
        assert sum(admitted) == 38
        # and the window is full for everyone until its oldest call leaves
        assert ledgers[0].admit_call(WINDOW, window, T0 + timedelta(seconds=9.99)).wait > 0
    finally:
        for opened in ledgers:
            opened.close()


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


def test_an_exhausted_window_reported_by_hubspot_blocks_until_its_oldest_call_leaves(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept, per_10s=190)  # configured above the account's 100
    for _ in range(100):
        budget.acquire()
    clock.advance(3)
    budget.observe(
        {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    )
    with pytest.raises(RateLimited) as held_back:  # a block goes back to the ledger
        budget.acquire()
    # until HubSpot frees a slot: when the first of the 100 leaves, 7 s on
    assert held_back.value.retry_after_s == pytest.approx(7.0)
    assert slept == []
    clock.advance(7)
    budget.acquire()
    assert slept == []


def test_an_exhausted_window_with_none_of_ours_in_it_blocks_for_a_whole_window(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.observe({"X-HubSpot-RateLimit-Remaining": "0"})  # another client spent it
    with pytest.raises(RateLimited) as held_back:
        budget.acquire()
    assert held_back.value.retry_after_s == pytest.approx(10.0)


def test_an_exhausted_window_of_another_length_blocks_for_that_window_only(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    """HubSpot names its window (``Interval-Milliseconds``): a 1 s one frees within 1 s."""
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.observe(
        {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}
    )
    budget.acquire()  # the block is within max_sleep_s: slept in the call, then the call goes
    assert slept == [pytest.approx(1.0)]


def test_a_429s_block_on_the_window_goes_back_to_the_ledger_where_its_own_wait_is_slept(
    ledger: SqlLedger, clock: FixedClock
) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.rate_limited("TEN_SECONDLY_ROLLING", 10.0)
    with pytest.raises(RateLimited) as held_back:  # HubSpot's block: not slept in the call
        budget.acquire()
    assert held_back.value.code == "budget_window"
    assert held_back.value.retry_after_s == pytest.approx(10.0)
    assert slept == []


def test_a_429_blocks_the_bucket_its_policy_names(ledger: SqlLedger, clock: FixedClock) -> None:
    slept: list[float] = []
    budget = _budget(ledger, clock, slept)
    budget.rate_limited("SECONDLY", 1.0)
    budget.acquire()  # the ten-secondly window is untouched
    assert slept == []
    budget.acquire(search=True)
    assert slept == [pytest.approx(1.0)]


def test_a_rate_bucket_reads_back_as_last_written(ledger: SqlLedger, clock: FixedClock) -> None:
    assert ledger.rate_bucket("hubspot:daily") is None
    ledger.take_tokens("hubspot:daily", 3, 1000.0, 0.5, clock.now())
    later = clock.advance(60)
    ledger.correct_bucket(WINDOW, later, blocked_until=later + timedelta(seconds=10))

    daily = ledger.rate_bucket("hubspot:daily")
    burst = ledger.rate_bucket(WINDOW)

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
