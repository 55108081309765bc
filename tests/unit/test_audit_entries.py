"""The audit-row factory (``sync.audit``): what each kind of row takes from where.

Table-driven: a row about a stored event takes its direction, kind, id,
attempt and field names from the event and names the subject only by its
pseudonym; an error adds status, correlation id and its code; a builder's
outcome is the event's new state; a row about no event carries only what
its caller names. No row holds the subject id, an email or a value.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import pytest

from sync.audit import (
    AuditAction,
    AuditEntry,
    Pseudonymizer,
    action_entry,
    event_builder,
    event_entry,
    submitted_entry,
)
from sync.errors import PermanentError, RateLimited, SyncError
from sync.model import (
    Direction,
    EventId,
    EventKind,
    EventState,
    Origin,
    StoredEvent,
    SubjectId,
)

NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)
PSEUDONYMS = Pseudonymizer(b"k" * 32)
EVENT = StoredEvent(
    seq=4,
    event_id=EventId("reg-4"),
    origin=Origin.REGISTER,
    direction=Direction.TO_HUBSPOT,
    kind=EventKind.RECTIFICATION,
    subject_id=SubjectId("C-1001"),
    state=EventState.FAILED,
    attempts=3,
    occurred_at=NOW,
    received_at=NOW,
    due_at=NOW,
    next_attempt_at=NOW,
    field_names=("first_name", "email"),
    payload={"email": "anna@example.com", "changes": {"first_name": "Anna"}},
)
E400 = PermanentError(
    "HubSpot answered 400", code="http_400", http_status=400, correlation_id="c-9"
)
SPENT = RateLimited("the shared budget is spent")


def test_a_row_about_an_event_takes_what_it_can_show_from_the_event() -> None:
    entry = event_entry(
        EVENT, "contact_rectified", "done", at=NOW, actor="worker:w", pseudonymizer=PSEUDONYMS
    )
    assert entry == AuditEntry(
        at=NOW,
        actor="worker:w",
        action="contact_rectified",
        direction="to_hubspot",
        system="hubsync",
        subject_pseudonym=PSEUDONYMS.subject("C-1001"),
        kind="rectification",
        event_id="reg-4",
        outcome="done",
        field_names=("first_name", "email"),
        attempt=3,
    )


@pytest.mark.parametrize(
    ("error", "detail", "expected"),
    [
        (None, None, (None, None, None)),
        (None, "+10d: ticket", (None, None, "+10d: ticket")),
        (E400, None, (400, "c-9", "http_400")),  # the code stands in for a detail
        (E400, "named", (400, "c-9", "named")),
        (SPENT, None, (None, None, "rate_limited")),
    ],
)
def test_an_error_adds_its_status_correlation_id_and_code(
    error: SyncError | None, detail: str | None, expected: tuple[object, ...]
) -> None:
    entry = event_entry(
        EVENT,
        "transfer_attempted",
        "dead_lettered",
        at=NOW,
        actor="worker:w",
        pseudonymizer=PSEUDONYMS,
        error=error,
        detail=detail,
    )
    assert (entry.http_status, entry.correlation_id, entry.detail) == expected


@pytest.mark.parametrize(
    ("field_names", "categories", "names"),
    [
        (None, (), ("first_name", "email")),
        (("first_name",), ("identity",), ("first_name",)),
        ((), (), ()),
    ],
)
def test_the_fields_named_can_narrow_the_events_and_carry_their_categories(
    field_names: tuple[str, ...] | None, categories: tuple[str, ...], names: tuple[str, ...]
) -> None:
    entry = event_entry(
        EVENT,
        "contact_rectified",
        "done",
        at=NOW,
        actor="worker:w",
        pseudonymizer=PSEUDONYMS,
        system="hubspot",
        field_names=field_names,
        data_categories=categories,
    )
    assert (entry.field_names, entry.data_categories, entry.system) == (
        names,
        categories,
        "hubspot",
    )


@pytest.mark.parametrize(
    ("action", "detail"),
    [
        (AuditAction.EVENT_SUBMITTED, None),
        (AuditAction.EVENT_REPLAYED, None),
        (AuditAction.EVENT_SKIPPED, "duplicate of reg-3"),
    ],
)
def test_a_builder_for_the_ledger_records_the_events_new_state_as_the_outcome(
    action: str, detail: str | None
) -> None:
    build = event_builder(action, at=NOW, actor="cli:ops", pseudonymizer=PSEUDONYMS, detail=detail)
    entry = build(EVENT)
    assert (entry.action, entry.outcome, entry.detail, entry.actor) == (
        action,
        "failed",
        detail,
        "cli:ops",
    )


def test_a_submission_row_is_the_builders_row_for_event_submitted() -> None:
    built = event_builder(
        AuditAction.EVENT_SUBMITTED, at=NOW, actor="register", pseudonymizer=PSEUDONYMS
    )(EVENT)
    assert submitted_entry(EVENT, actor="register", at=NOW, pseudonymizer=PSEUDONYMS) == built


def test_a_row_about_no_event_carries_only_what_its_caller_names() -> None:
    entry = action_entry(AuditAction.WEBHOOKS_REPLAYED, "3 replayed", at=NOW, actor="cli:ops")
    assert entry == AuditEntry(
        at=NOW,
        actor="cli:ops",
        action="webhooks_replayed",
        direction="none",
        system="hubsync",
        subject_pseudonym=None,
        kind=None,
        event_id=None,
        outcome="3 replayed",
    )


def test_no_row_holds_the_subject_id_an_email_or_a_value() -> None:
    rows = [
        event_entry(EVENT, "a", "done", at=NOW, actor="w", pseudonymizer=PSEUDONYMS, error=E400),
        event_builder("b", at=NOW, actor="w", pseudonymizer=PSEUDONYMS)(EVENT),
        action_entry("c", "done", at=NOW, actor="w", subject_pseudonym=PSEUDONYMS.subject("C-1")),
    ]
    text = repr([asdict(row) for row in rows])
    for secret in ("C-1001", "anna@example.com", "Anna"):
        assert secret not in text
