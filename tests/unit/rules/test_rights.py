"""The preconditions of each right (``sync.rules.rights``), and that every side asks it.

Table-driven over every kind: which need a legal basis, which carry changes,
which need their payload. Intake (``sync.rules.input.problems``) and the
register's pure decisions (``connectors.register.effects``) are checked to
give the rule's own words and code, so the three places cannot drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.register.effects import change_for
from sync.errors import PermanentError
from sync.model import Envelope, EventId, EventKind, Origin, SubjectId
from sync.rules import rights
from sync.rules.input import problems

NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)
OPT_IN, RECT = EventKind.MARKETING_OPT_IN, EventKind.RECTIFICATION


def envelope(kind: EventKind, **fields: Any) -> Envelope:
    return Envelope(EventId("e-1"), kind, SubjectId("C-1"), NOW, **fields)


@pytest.mark.parametrize(
    ("kind", "legal_basis", "unmet"),
    [
        (OPT_IN, None, rights.MISSING_LEGAL_BASIS),
        (OPT_IN, "", rights.MISSING_LEGAL_BASIS),
        (OPT_IN, "consent", None),
        *[(kind, None, None) for kind in EventKind if kind is not OPT_IN],
    ],
)
def test_only_an_opt_in_needs_a_legal_basis(
    kind: EventKind, legal_basis: str | None, unmet: rights.Unmet | None
) -> None:
    assert rights.missing_legal_basis(kind, legal_basis) == unmet


@pytest.mark.parametrize(
    ("kind", "has_changes", "code"),
    [
        (RECT, True, None),
        (RECT, False, "no_changes"),
        *[(kind, False, None) for kind in EventKind if kind is not RECT],
        *[(kind, True, "unexpected_changes") for kind in EventKind if kind is not RECT],
    ],
)
def test_a_rectification_and_only_a_rectification_carries_changes(
    kind: EventKind, has_changes: bool, code: str | None
) -> None:
    problem = rights.changes_problem(kind, has_changes)
    assert (problem.code if problem else None) == code


@pytest.mark.parametrize(
    ("env", "unmet"),
    [
        (envelope(RECT, changes={"first_name": "A"}), []),
        (envelope(RECT), ["changes: a rectification needs at least one field"]),
        (envelope(OPT_IN, legal_basis="consent"), []),
        (envelope(OPT_IN), ["legal_basis: a marketing opt-in needs an explicit legal basis"]),
        (
            envelope(OPT_IN, changes={"first_name": "Anna"}),
            [
                "changes: only a rectification carries changes, not marketing_opt_in",
                "legal_basis: a marketing opt-in needs an explicit legal basis",
            ],
        ),
        (envelope(EventKind.ERASURE), []),
        (envelope(EventKind.MARKETING_OPT_OUT, subscription_ids=("7",)), []),
    ],
)
def test_unmet_lists_every_precondition_by_field_without_quoting_a_value(
    env: Envelope, unmet: list[str]
) -> None:
    found = [str(problem) for problem in rights.unmet(env)]
    assert found == unmet
    assert not any("Anna" in line for line in found)
    # Intake refuses the event with the same words.
    assert [line for line in problems(env) if line in found] == unmet


@pytest.mark.parametrize(
    ("kind", "needs"),
    [(RECT, True), (OPT_IN, True), *[(k, False) for k in EventKind if k not in (RECT, OPT_IN)]],
)
def test_the_kinds_that_need_their_payload_are_those_with_preconditions_on_it(
    kind: EventKind, needs: bool
) -> None:
    assert (kind in rights.NEEDS_PAYLOAD) is needs


@pytest.mark.parametrize(
    ("env", "unmet"),
    [
        (envelope(OPT_IN), rights.MISSING_LEGAL_BASIS),
        (envelope(RECT), rights.NO_CHANGES),
    ],
)
def test_the_register_refuses_an_unmet_precondition_with_the_rules_code(
    env: Envelope, unmet: rights.Unmet
) -> None:
    with pytest.raises(PermanentError) as raised:
        change_for(env, Origin.REGISTER, "apply")
    assert raised.value.code == unmet.code
    assert str(unmet) in str(raised.value)
