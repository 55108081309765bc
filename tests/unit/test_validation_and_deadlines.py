"""Envelope checks and GDPR deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.deadlines import add_months, due_at
from sync.model import EventKind
from sync.operator import new_envelope
from sync.rules.input import problems

NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)


def test_a_valid_rectification_has_no_problems() -> None:
    envelope = new_envelope(
        EventKind.RECTIFICATION, "C-1", NOW, "e1", email="a@b.se", changes={"first_name": "A"}
    )
    assert problems(envelope) == []


def test_problems_name_fields_and_never_quote_values() -> None:
    envelope = new_envelope(
        EventKind.MARKETING_OPT_IN, " ", NOW.replace(tzinfo=None), "",
        email="anna-at-example", changes={"first_name": ["Anna"]},
    )  # fmt: skip
    found = problems(envelope)
    joined = "\n".join(found)
    for expected in ("event_id", "subject_id", "occurred_at", "email", "legal_basis", "changes"):
        assert expected in joined
    assert "anna-at-example" not in joined
    assert "Anna" not in joined


def test_a_rectification_without_changes_is_refused() -> None:
    envelope = new_envelope(EventKind.RECTIFICATION, "C-1", NOW, "e1")
    assert problems(envelope) == ["changes: a rectification needs at least one field"]


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 12, 15, 9, tzinfo=UTC), datetime(2027, 1, 15, 9, tzinfo=UTC)),
    ],
)
def test_the_deadline_is_one_calendar_month_after_receipt(
    received: datetime, due: datetime
) -> None:
    assert due_at(received) == due
    assert add_months(received, 3).month == (received.month + 2) % 12 + 1


def test_an_extension_adds_days_to_the_deadline() -> None:
    assert due_at(NOW, 10) - due_at(NOW) == timedelta(days=10)
