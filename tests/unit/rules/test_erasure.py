"""Erasure wins (``sync.rules.erasure``): the predicates, the notes and the SQL fragments.

Table-driven over every kind and state, so a new kind or state has to be
placed by someone. The SQL fragments are checked two ways: their lists hold
exactly the constants, and an in-memory SQLite evaluates each fragment to the
same answer as its predicate for every (kind, state) pair, which is what the
ledger relies on when it splices them into its queries.
"""

from __future__ import annotations

import itertools
import re
import sqlite3

import pytest

from sync.model import OPEN_STATES, EventKind, EventState
from sync.rules import erasure

WRITING_KINDS = [k for k in EventKind if k not in (EventKind.ERASURE, EventKind.ACCESS)]


@pytest.mark.parametrize(
    ("kind", "erased_or_erasing", "refused"),
    [
        (EventKind.ERASURE, True, False),
        (EventKind.ACCESS, True, False),
        *[(kind, True, True) for kind in WRITING_KINDS],
        *[(kind, False, False) for kind in EventKind],
    ],
)
def test_an_erased_subject_refuses_every_kind_but_erasure_and_access(
    kind: EventKind, erased_or_erasing: bool, refused: bool
) -> None:
    assert erasure.refused(kind, erased_or_erasing) is refused


@pytest.mark.parametrize(
    ("state", "superseded"),
    [
        (EventState.PENDING, True),
        (EventState.FAILED, True),
        (EventState.IN_PROGRESS, False),  # left to its worker, superseded when it comes back
        (EventState.DONE, False),
        (EventState.SUPERSEDED, False),
        (EventState.SKIPPED, False),
    ],
)
@pytest.mark.parametrize("kind", list(EventKind))
def test_an_erasure_supersedes_the_waiting_events_that_would_write(
    kind: EventKind, state: EventState, superseded: bool
) -> None:
    writes = kind not in (EventKind.ERASURE, EventKind.ACCESS)
    assert erasure.supersedes(kind, state) is (superseded and writes)


@pytest.mark.parametrize(
    ("kind", "state", "kept"),
    [
        (EventKind.ERASURE, EventState.PENDING, True),
        (EventKind.ACCESS, EventState.IN_PROGRESS, True),
        (EventKind.ACCESS, EventState.FAILED, True),
        (EventKind.ERASURE, EventState.DONE, False),
        (EventKind.ACCESS, EventState.SKIPPED, False),
        (EventKind.RECTIFICATION, EventState.PENDING, False),
        (EventKind.MARKETING_OPT_IN, EventState.IN_PROGRESS, False),
    ],
)
def test_only_erasures_and_access_requests_still_to_run_keep_their_payload(
    kind: EventKind, state: EventState, kept: bool
) -> None:
    assert erasure.keeps_payload(kind, state) is kept


@pytest.mark.parametrize(
    ("seq", "note"),
    [
        (None, "superseded_by_erasure"),
        (7, "superseded_by_erasure:7"),
        (0, "superseded_by_erasure:0"),
    ],
)
def test_a_superseded_note_names_the_erasure_when_its_seq_is_known(
    seq: int | None, note: str
) -> None:
    assert erasure.superseded_note(seq) == note


def _listed(fragment: str) -> set[str]:
    match = re.fullmatch(r"\(((?:'[a-z_]+'(?:, )?)+)\)", fragment)
    assert match is not None, fragment
    return set(re.findall(r"'([a-z_]+)'", match.group(1)))


@pytest.mark.parametrize(
    ("fragment", "values"),
    [
        (erasure.SURVIVING_KINDS_SQL, erasure.SURVIVING_KINDS),
        (erasure.SUPERSEDABLE_STATES_SQL, erasure.SUPERSEDABLE_STATES),
        (erasure.OPEN_STATES_SQL, OPEN_STATES),
    ],
)
def test_each_sql_list_holds_exactly_its_constant(fragment: str, values: frozenset[str]) -> None:
    assert _listed(fragment) == {str(v) for v in values}


@pytest.mark.parametrize("values", [[], ["erasure", "it's"], ["Erasure"], ["a; DROP"]])
def test_a_sql_list_refuses_anything_but_lower_snake_strings(values: list[str]) -> None:
    with pytest.raises(ValueError, match="lower_snake"):
        erasure.sql_list(values)


def test_the_sql_conditions_decide_as_the_predicates_for_every_kind_and_state() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE events (kind TEXT, state TEXT)")
    pairs = list(itertools.product(EventKind, EventState))
    db.executemany("INSERT INTO events VALUES (?, ?)", [(k.value, s.value) for k, s in pairs])
    cases = [
        (erasure.supersedes_sql(), erasure.supersedes),
        (erasure.supersedes_sql("events"), erasure.supersedes),
        (erasure.KEEPS_PAYLOAD_SQL, erasure.keeps_payload),
    ]
    for condition, predicate in cases:
        rows = db.execute(f"SELECT kind, state FROM events WHERE {condition}").fetchall()
        expected = {(k.value, s.value) for k, s in pairs if predicate(k, s)}
        assert set(rows) == expected, condition
