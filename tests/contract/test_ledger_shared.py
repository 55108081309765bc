"""Rate buckets and periodic turns shared by every worker, on SQLite and PostgreSQL.

Every test takes the ``ledger`` fixture, parametrized over both backends.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from sync.ledger.sql import SqlLedger
from sync.rules.link import LinkState
from tests.conftest import T0
from tests.contract.ledger_helpers import (
    at,
)
from tests.contract.rawdb import Target

# -- rate buckets --------------------------------------------------------------


def test_take_tokens_spends_a_full_bucket_and_then_names_the_wait(ledger: SqlLedger) -> None:
    def take(now: datetime) -> float:
        return ledger.take_tokens("hubspot_10s", 1.0, capacity=2.0, refill_per_s=0.5, now=now)

    assert take(T0) == 0.0
    assert take(T0) == 0.0
    assert take(T0) == pytest.approx(2.0)
    # A wait takes nothing: after the wait one token is there.
    assert take(at(1)) == pytest.approx(1.0)
    assert take(at(2)) == 0.0
    assert take(at(2)) == pytest.approx(2.0)
    # Refill stops at the capacity.
    assert take(at(1000)) == 0.0
    assert take(at(1000)) == 0.0
    assert take(at(1000)) > 0.0


def test_buckets_are_separate_by_name(ledger: SqlLedger) -> None:
    assert ledger.take_tokens("a", 1.0, capacity=1.0, refill_per_s=0.1, now=T0) == 0.0
    assert ledger.take_tokens("b", 1.0, capacity=1.0, refill_per_s=0.1, now=T0) == 0.0
    assert ledger.take_tokens("a", 1.0, capacity=1.0, refill_per_s=0.1, now=T0) > 0.0


def test_correct_bucket_blocks_until_the_reported_reset(ledger: SqlLedger) -> None:
    def take(now: datetime) -> float:
        return ledger.take_tokens("hubspot_10s", 1.0, capacity=100.0, refill_per_s=10.0, now=now)

    assert take(T0) == 0.0

    ledger.correct_bucket("hubspot_10s", at(1), blocked_until=at(10))

    assert take(at(2)) == pytest.approx(8.0)
    # An earlier reset reported later does not shorten the block.
    ledger.correct_bucket("hubspot_10s", at(3), blocked_until=at(5))
    assert take(at(4)) == pytest.approx(6.0)
    assert take(at(10)) == 0.0


def test_correct_bucket_sets_the_tokens_hubspot_reports(ledger: SqlLedger) -> None:
    ledger.take_tokens("daily", 1.0, capacity=1000.0, refill_per_s=1.0, now=T0)

    ledger.correct_bucket("daily", T0, tokens=0.0)

    assert ledger.take_tokens("daily", 1.0, capacity=1000.0, refill_per_s=1.0, now=T0) == (
        pytest.approx(1.0)
    )
    assert ledger.take_tokens("daily", 1.0, capacity=1000.0, refill_per_s=1.0, now=at(1)) == 0.0


# -- periodic turns ------------------------------------------------------------

PERIOD = timedelta(minutes=15)


def test_a_turn_is_had_once_per_period_and_separately_by_name(ledger: SqlLedger) -> None:
    assert ledger.take_turn("check", PERIOD, at(0)) is True
    assert ledger.take_turn("check", PERIOD, at(1)) is False
    assert ledger.take_turn("check", PERIOD, at(899)) is False
    assert ledger.take_turn("other", PERIOD, at(1)) is True
    assert ledger.take_turn("check", PERIOD, at(900)) is True  # a full period since the last
    assert ledger.take_turn("check", PERIOD, at(901)) is False


def test_of_many_workers_asking_at_once_exactly_one_has_the_turn(target: Target) -> None:
    ledgers = [target.ledger() for _ in range(6)]
    ledgers[0].open(T0)
    try:
        with ThreadPoolExecutor(len(ledgers)) as pool:
            answers = list(pool.map(lambda lg: lg.take_turn("check", PERIOD, at(5)), ledgers))
        assert sorted(answers) == [False] * 5 + [True]
    finally:
        for opened in ledgers:
            opened.close()


# -- the HubSpot link ------------------------------------------------------------


def test_the_link_down_is_one_shared_state_keeping_its_first_moment(ledger: SqlLedger) -> None:
    assert ledger.hubspot_link() is None
    assert ledger.mark_hubspot_link_down(LinkState("unauthorized", at(5), http_status=401))
    # Down again, for another reason: the reason follows, the first moment stays.
    again = LinkState("missing_scopes", at(9), http_status=403, scopes=("oauth", "crm.x"))
    assert not ledger.mark_hubspot_link_down(again)
    assert ledger.hubspot_link() == LinkState(
        "missing_scopes", at(5), http_status=403, scopes=("oauth", "crm.x")
    )
    # Going down took the probes' turn: the first probe waits for its interval.
    assert not ledger.take_turn("hubspot_link_probe", timedelta(seconds=5), at(6))
    assert ledger.mark_hubspot_link_up()
    assert ledger.hubspot_link() is None
    assert not ledger.mark_hubspot_link_up()
