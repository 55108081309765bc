"""How HubSpot's refusals are sorted: a call's 401/403 is the link's, a batch item's its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.hubspot import errors
from sync.errors import LinkDown, PermanentError

NOW = datetime(2026, 12, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"category": "INVALID_AUTHENTICATION", "message": "expired"}),
        (403, {"category": "MISSING_SCOPES", "message": "needs a scope"}),
    ],
)
def test_a_call_refused_for_its_token_is_the_link_down(status: int, body: dict[str, str]) -> None:
    error = errors.from_status(status, body, None, operation="contact read", now=NOW)
    assert isinstance(error, LinkDown)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"category": "INVALID_AUTHENTICATION", "message": "expired"}),
        (403, {"category": "MISSING_SCOPES", "message": "needs a scope"}),
    ],
)
def test_the_same_refusal_inside_a_batch_answer_fails_that_input_only(
    status: int, body: dict[str, str]
) -> None:
    error = errors.from_status(
        status, body, None, operation="contact batch update", now=NOW, batch_item=True
    )
    assert not isinstance(error, LinkDown)
    assert isinstance(error, PermanentError)
