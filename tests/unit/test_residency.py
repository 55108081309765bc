"""The residency guard: a verdict is kept for the period, a failed check is asked again soon."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from sync.clock import FixedClock
from sync.errors import PermanentError, RateLimited, RetryableError, SyncError
from sync.handlers.residency import ResidencyGuard, retry_delay
from tests.conftest import T0

PERIOD = timedelta(minutes=60)


def _503() -> RetryableError:
    return RetryableError(
        "HubSpot answered 503 to account details", code="http_503", http_status=503
    )


def _403() -> PermanentError:
    return PermanentError(
        "HubSpot answered 403 to account details", code="forbidden", http_status=403
    )


def _429(wait_s: float) -> RateLimited:
    return RateLimited(
        "HubSpot answered 429 to account details: rate limit TEN_SECONDLY_ROLLING",
        code="rate_limited_ten_secondly_rolling",
        http_status=429,
        retry_after_s=wait_s,
    )


@dataclass
class FakeAccount:
    """HubSpot's account details: each call takes the next answer (a location or an error)."""

    clock: FixedClock
    answers: list[str | SyncError]
    asked_at: list[datetime] = field(default_factory=list)

    def hosting_location(self) -> str:
        """The next scripted answer; raises it when it is an error."""
        self.asked_at.append(self.clock.now())
        answer = self.answers.pop(0)
        if isinstance(answer, SyncError):
            raise answer
        return answer


@dataclass(frozen=True)
class Seen:
    """What one ``verdict()`` call at ``at_s`` seconds after T0 should show.

    ``next_in_s`` is how long until the guard asks HubSpot again (None: not checked).
    """

    at_s: float
    allowed: bool
    failed_check: bool
    asked: bool
    next_in_s: float | None = None


SCENARIOS: dict[str, tuple[list[str | SyncError], list[Seen]]] = {
    "a first check failing with a 503 is asked again after 5 s and not before": (
        [_503(), "eu1"],
        [
            Seen(0, allowed=False, failed_check=True, asked=True, next_in_s=5),
            Seen(4.9, allowed=False, failed_check=True, asked=False),
            Seen(5, allowed=True, failed_check=False, asked=True, next_in_s=3600),
            Seen(3604.9, allowed=True, failed_check=False, asked=False),
        ],
    ),
    "consecutive failed checks back off 5, 10, 20, 40, then 60 s; an answer resets it": (
        [_503(), _503(), _503(), _503(), _503(), _503(), "eu1", _503()],
        [
            Seen(0, allowed=False, failed_check=True, asked=True, next_in_s=5),
            Seen(5, allowed=False, failed_check=True, asked=True, next_in_s=10),
            Seen(14.9, allowed=False, failed_check=True, asked=False),
            Seen(15, allowed=False, failed_check=True, asked=True, next_in_s=20),
            Seen(35, allowed=False, failed_check=True, asked=True, next_in_s=40),
            Seen(75, allowed=False, failed_check=True, asked=True, next_in_s=60),
            Seen(135, allowed=False, failed_check=True, asked=True, next_in_s=60),
            Seen(194.9, allowed=False, failed_check=True, asked=False),
            Seen(195, allowed=True, failed_check=False, asked=True, next_in_s=3600),
            Seen(3795, allowed=True, failed_check=False, asked=True, next_in_s=5),
        ],
    ),
    "a good verdict survives transient re-check failures for at most one more period": (
        ["eu1", _503(), _503(), _503(), _503()],
        [
            Seen(0, allowed=True, failed_check=False, asked=True, next_in_s=3600),
            Seen(3600, allowed=True, failed_check=False, asked=True, next_in_s=5),
            Seen(3604, allowed=True, failed_check=False, asked=False),
            Seen(3605, allowed=True, failed_check=False, asked=True, next_in_s=10),
            Seen(7190, allowed=True, failed_check=False, asked=True, next_in_s=20),
            Seen(7210, allowed=False, failed_check=True, asked=True, next_in_s=40),
        ],
    ),
    "a location outside the list is a verdict, kept for the period": (
        ["na1", "na1"],
        [
            Seen(0, allowed=False, failed_check=False, asked=True, next_in_s=3600),
            Seen(60, allowed=False, failed_check=False, asked=False),
            Seen(3599, allowed=False, failed_check=False, asked=False),
            Seen(3600, allowed=False, failed_check=False, asked=True, next_in_s=3600),
        ],
    ),
    "a 403 is a failed check even after a good verdict, asked again after the 60 s cap": (
        ["eu1", _403(), "eu1"],
        [
            Seen(0, allowed=True, failed_check=False, asked=True, next_in_s=3600),
            Seen(3600, allowed=False, failed_check=True, asked=True, next_in_s=60),
            Seen(3659, allowed=False, failed_check=True, asked=False),
            Seen(3660, allowed=True, failed_check=False, asked=True, next_in_s=3600),
        ],
    ),
    "a rate-limit window longer than the backoff is waited out": (
        [_429(12), "eu1"],
        [
            Seen(0, allowed=False, failed_check=True, asked=True, next_in_s=12),
            Seen(5, allowed=False, failed_check=True, asked=False),
            Seen(12, allowed=True, failed_check=False, asked=True, next_in_s=3600),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_guard_asks_hubspot_again_only_when_its_time_is_up(name: str) -> None:
    answers, steps = SCENARIOS[name]
    clock = FixedClock(T0)
    account = FakeAccount(clock, list(answers))
    guard = ResidencyGuard(account, ["eu1"], clock, PERIOD)
    for step in steps:
        clock.advance((T0 + timedelta(seconds=step.at_s) - clock.now()).total_seconds())
        asked_before = len(account.asked_at)
        verdict = guard.verdict()
        seen = Seen(
            step.at_s,
            allowed=verdict.allowed,
            failed_check=verdict.failed_check,
            asked=len(account.asked_at) > asked_before,
            next_in_s=step.next_in_s and _seconds_until(guard.next_check_at, clock.now()),
        )
        assert seen == step
    assert account.answers == []  # every scripted answer was asked for


def _seconds_until(when: datetime | None, now: datetime) -> float:
    assert when is not None
    return (when - now).total_seconds()


def test_a_failed_check_carries_when_and_why_and_no_location() -> None:
    clock = FixedClock(T0)
    guard = ResidencyGuard(FakeAccount(clock, [_503()]), ["eu1"], clock, PERIOD)

    verdict = guard.verdict()

    assert verdict.failed_check
    assert not verdict.allowed
    assert verdict.location is None
    assert verdict.retry_at == T0 + timedelta(seconds=5)
    assert (verdict.error_code, verdict.http_status) == ("http_503", 503)
    assert not verdict.permanent_failure
    assert "HubSpot answered 503 to account details" in verdict.reason


def test_a_permanent_failure_names_its_reason_for_the_operator() -> None:
    clock = FixedClock(T0)
    guard = ResidencyGuard(FakeAccount(clock, [_403()]), ["eu1"], clock, PERIOD)

    verdict = guard.verdict()

    assert verdict.failed_check
    assert verdict.permanent_failure
    assert (verdict.error_code, verdict.http_status) == ("forbidden", 403)
    assert verdict.retry_at == T0 + timedelta(seconds=60)
    assert "HubSpot answered 403 to account details" in verdict.reason


def test_a_refusal_on_location_is_a_verdict_not_a_failed_check() -> None:
    clock = FixedClock(T0)
    guard = ResidencyGuard(FakeAccount(clock, ["NA1"]), ["eu1"], clock, PERIOD)

    verdict = guard.verdict()

    assert not verdict.allowed
    assert not verdict.failed_check
    assert verdict.retry_at is None
    assert verdict.location == "NA1"
    assert "hosted in NA1, not in an allowed location (eu1)" in verdict.reason


def test_a_fresh_verdict_asks_even_before_the_retry_time() -> None:
    clock = FixedClock(T0)
    account = FakeAccount(clock, [_503(), "eu1"])
    guard = ResidencyGuard(account, ["eu1"], clock, PERIOD)
    guard.verdict()

    assert guard.verdict(fresh=True).allowed
    assert len(account.asked_at) == 2


def test_the_backoff_never_exceeds_a_period_shorter_than_the_cap() -> None:
    clock = FixedClock(T0)
    account = FakeAccount(clock, [_403()])
    guard = ResidencyGuard(account, ["eu1"], clock, timedelta(seconds=30))

    assert guard.verdict().retry_at == T0 + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("failures", "permanent", "retry_after_s", "expected_s"),
    [
        (1, False, None, 5),
        (2, False, None, 10),
        (3, False, None, 20),
        (4, False, None, 40),
        (5, False, None, 60),
        (50, False, None, 60),
        (1, True, None, 60),
        (1, False, 2.0, 5),
        (1, False, 30.0, 30),
        (1, True, 120.0, 120),
    ],
)
def test_retry_delay_doubles_from_five_seconds_up_to_a_minute(
    failures: int, permanent: bool, retry_after_s: float | None, expected_s: float
) -> None:
    delay = retry_delay(failures, permanent=permanent, retry_after_s=retry_after_s)
    assert delay == timedelta(seconds=expected_s)
