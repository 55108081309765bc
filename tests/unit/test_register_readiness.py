"""The register's readiness as /readyz reads it: asked once a period, joined to residency."""

from __future__ import annotations

from sync.clock import FixedClock
from sync.model import RegisterReadiness
from sync.register_readiness import CachedReadiness, with_register
from tests.conftest import T0

MISSING = RegisterReadiness(("table dsr_outbox is missing ([register] outbox_table)",))


class Answers:
    """A register that answers what the test sets, counting the questions."""

    def __init__(self, state: RegisterReadiness) -> None:
        self.state = state
        self.asked = 0

    def __call__(self) -> RegisterReadiness:
        self.asked += 1
        return self.state


def test_a_ready_register_is_asked_again_only_after_the_period() -> None:
    clock, answers = FixedClock(T0), Answers(RegisterReadiness())
    cached = CachedReadiness(answers, clock)

    assert [cached().ready for _ in range(3)] == [True, True, True]
    clock.advance(29)
    cached()
    assert answers.asked == 1
    clock.advance(1)
    cached()
    assert answers.asked == 2


def test_a_register_that_is_not_ready_is_asked_again_sooner_so_a_fix_shows_quickly() -> None:
    clock, answers = FixedClock(T0), Answers(MISSING)
    cached = CachedReadiness(answers, clock)

    assert cached() == MISSING
    answers.state = RegisterReadiness()
    clock.advance(4)
    assert cached() == MISSING
    clock.advance(1)
    assert cached().ready is True
    assert answers.asked == 2


def test_with_register_keeps_the_reason_when_ready_and_adds_the_register_problem() -> None:
    answers = Answers(RegisterReadiness())
    ready = with_register(lambda: (True, "hosted in eu1"), answers)
    refused = with_register(lambda: (False, "hosted in na1"), answers)

    assert ready() == (True, "hosted in eu1")
    assert refused() == (False, "hosted in na1")
    answers.state = MISSING
    assert ready() == (False, "register: table dsr_outbox is missing ([register] outbox_table)")
    assert refused() == (
        False,
        "hosted in na1; register: table dsr_outbox is missing ([register] outbox_table)",
    )
