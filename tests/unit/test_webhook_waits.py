"""What a webhook event's error means to the worker: wait in the inbox, or be set aside."""

from __future__ import annotations

import pytest

from sync.errors import (
    MappingError,
    PermanentError,
    RateLimited,
    RegisterNotSetUp,
    RetryableError,
    SubjectAbsent,
    SyncError,
)
from sync.worker import webhook_waits


@pytest.mark.parametrize(
    ("error", "waits"),
    [
        (RetryableError("HubSpot answered 503", code="http_503", http_status=503), True),
        (RateLimited("rate limited", code="rate_limited", retry_after_s=10), True),
        (RegisterNotSetUp("table dsr_notices is missing"), True),
        (PermanentError("the webhook event has no objectId", code="webhook_incomplete"), False),
        (PermanentError("cannot be read: [0].objectId", code="webhook_unreadable"), False),
        (MappingError("unknown field", code="unknown_field"), False),
        (SubjectAbsent("no such subject"), False),
    ],
)
def test_a_retryable_error_waits_and_any_other_sets_the_event_aside(
    error: SyncError, waits: bool
) -> None:
    assert webhook_waits(error) is waits
