"""The batching plan (``sync.rules.batching``): groups by kind, one update per contact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from sync.model import Direction, EventId, EventKind, EventState, Origin, StoredEvent, SubjectId
from sync.rules.batching import by_address, by_kind, merge_updates

AT = datetime(2026, 11, 27, 10, tzinfo=UTC)


def event(seq: int, kind: EventKind) -> StoredEvent:
    return StoredEvent(
        seq=seq,
        event_id=EventId(f"e{seq}"),
        origin=Origin.REGISTER,
        direction=Direction.TO_HUBSPOT,
        kind=kind,
        subject_id=SubjectId(f"C-{seq}"),
        state=EventState.IN_PROGRESS,
        attempts=1,
        occurred_at=AT,
        received_at=AT,
        due_at=AT,
        next_attempt_at=AT,
        field_names=(),
        payload={},
    )


RECT, ERASE, OUT = EventKind.RECTIFICATION, EventKind.ERASURE, EventKind.MARKETING_OPT_OUT


@pytest.mark.parametrize(
    ("kinds", "groups"),
    [
        ([], {}),
        ([RECT, RECT], {RECT: [1, 2]}),
        ([ERASE, RECT, ERASE, OUT, RECT], {ERASE: [1, 3], RECT: [2, 5], OUT: [4]}),
    ],
)
def test_events_are_grouped_by_kind_keeping_the_claim_order(
    kinds: list[EventKind], groups: dict[EventKind, list[int]]
) -> None:
    events = [event(i, k) for i, k in enumerate(kinds, 1)]
    found = by_kind(events)
    assert list(found) == list(groups)
    assert {k: [e.seq for e in v] for k, v in found.items()} == groups


@pytest.mark.parametrize(
    ("writes", "updates"),
    [
        ([], {}),
        ([(["1"], {"firstname": "A"})], {"1": {"firstname": "A"}}),
        (
            [(["1"], {"firstname": "A"}), (["2"], {"lastname": "B"})],
            {"1": {"firstname": "A"}, "2": {"lastname": "B"}},
        ),
        (
            [(["1", "2"], {"firstname": "A"})],  # a subject with two contacts: both written
            {"1": {"firstname": "A"}, "2": {"firstname": "A"}},
        ),
        (
            [(["1"], {"firstname": "A", "phone": "1"}), (["1"], {"firstname": "B"})],
            {"1": {"firstname": "B", "phone": "1"}},  # one input per contact, the later wins
        ),
        ([([], {"firstname": "A"})], {}),  # no contact known: nothing to write
    ],
)
def test_property_writes_merge_into_one_update_per_contact(
    writes: list[tuple[Sequence[str], Mapping[str, str]]], updates: dict[str, dict[str, str]]
) -> None:
    assert merge_updates(writes) == updates


def test_opt_outs_from_all_email_are_gathered_by_address_in_order() -> None:
    items = [("b@example.se", 1), ("a@example.se", 2), ("b@example.se", 3)]
    assert by_address(items) == {"b@example.se": [1, 3], "a@example.se": [2]}
    assert list(by_address(items)) == ["b@example.se", "a@example.se"]
