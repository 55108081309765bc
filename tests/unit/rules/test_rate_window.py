"""HubSpot's rolling window as a budget (``sync.rules.rate_window``): admit, or name the wait.

Times are seconds; ``now`` is 100 unless a row says otherwise, so the window
holds calls made after 90.
"""

from __future__ import annotations

import pytest

from sync.rules.rate_window import RollingWindow

NOW = 100.0


@pytest.mark.parametrize(
    ("limit", "margin", "calls", "wait"),
    [
        (100, 2, [], 0.0),  # an empty window admits
        (100, 2, [91.0 + i * 0.01 for i in range(97)], 0.0),  # 97 < 98: one more goes
        (100, 2, [91.0 + i * 0.01 for i in range(98)], 1.0),  # full: until 91.0 leaves at 101
        (100, 0, [91.0 + i * 0.01 for i in range(99)], 0.0),  # no margin: the 100th goes
        (100, 0, [91.0 + i * 0.01 for i in range(100)], 1.0),
        (3, 0, [90.0, 95.0, 99.0], 0.0),  # a call exactly 10 s old has left
        (3, 0, [89.0, 95.0, 96.0, 99.0], 5.0),  # and older ones too: full until 95 leaves
        (3, 0, [99.0, 95.0, 96.0], 5.0),  # unordered times: the oldest is what leaves
        (3, 1, [95.0, 96.0], 5.0),  # margin 1 of 3 allows 2
        (3, 1, [95.0], 0.0),
        # over the allowance (a limit lowered): the count drops below it once 2 have left
        (3, 0, [91.0, 92.0, 93.0, 94.0], 2.0),
        (2, 5, [99.5], 9.5),  # a margin above the limit still lets one call go per window
        (2, 5, [], 0.0),
        (3, 0, [95.0, 96.0, 100.5], 5.0),  # a call stamped ahead (skew) counts
    ],
)
def test_a_call_goes_while_the_window_has_room_else_waits_for_its_oldest_to_leave(
    limit: int, margin: int, calls: list[float], wait: float
) -> None:
    assert RollingWindow(limit=limit, margin=margin).wait(calls, NOW) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("limit", "margin", "allowed"),
    [(100, 2, 98), (190, 2, 188), (250, 0, 250), (1, 2, 1), (10, 10, 1)],
)
def test_the_window_allows_the_limit_less_the_margin_and_at_least_one(
    limit: int, margin: int, allowed: int
) -> None:
    assert RollingWindow(limit=limit, margin=margin).allowed == allowed


@pytest.mark.parametrize(
    ("calls", "frees_at"),
    [
        ([93.0, 95.0], 103.0),  # the oldest call in the window leaves
        ([89.0, 95.0], 105.0),  # one already gone does not count
        ([], 110.0),  # none of ours: every call HubSpot counted is gone a window later
    ],
)
def test_an_exhausted_window_frees_a_slot_when_its_oldest_call_leaves(
    calls: list[float], frees_at: float
) -> None:
    assert RollingWindow(limit=100).frees_at(calls, NOW) == pytest.approx(frees_at)


def test_spending_the_window_at_full_pace_never_puts_more_than_allowed_in_any_window() -> None:
    window = RollingWindow(limit=10, margin=2)
    now, calls = 0.0, list[float]()
    while len(calls) < 50:
        wait = window.wait(calls, now)
        if wait == 0:
            calls.append(now)
        now += wait
    for start in calls:
        assert sum(1 for t in calls if start <= t < start + 10) <= 8
    # and spends it exactly: 8 at once, then 8 more as each 10 s passes
    assert calls[:9] == [0.0] * 8 + [10.0]
    assert calls[-1] == pytest.approx(60.0)
