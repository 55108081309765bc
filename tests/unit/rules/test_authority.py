"""Field authority (``sync.rules.authority``): each direction, and the last writer of ``both``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.model import Authority
from sync.rules.authority import InboundAction, inbound_action, needs_revert, sent_to_hubspot

T = datetime(2026, 11, 27, 10, tzinfo=UTC)
EARLIER, LATER = T - timedelta(seconds=1), T + timedelta(seconds=1)

RECTIFY, REVERT, IGNORE = (
    InboundAction.RECTIFY_REGISTER,
    InboundAction.REVERT_HUBSPOT,
    InboundAction.IGNORE,
)


@pytest.mark.parametrize(
    ("authority", "sent"),
    [(Authority.REGISTER, True), (Authority.BOTH, True), (Authority.HUBSPOT, False)],
)
def test_a_register_value_goes_to_hubspot_unless_hubspot_owns_the_field(
    authority: Authority, sent: bool
) -> None:
    assert sent_to_hubspot(authority) is sent


@pytest.mark.parametrize(
    ("authority", "register_changed_at", "action"),
    [
        (Authority.REGISTER, None, REVERT),
        (Authority.REGISTER, EARLIER, REVERT),
        (Authority.REGISTER, LATER, REVERT),
        (Authority.HUBSPOT, None, RECTIFY),
        (Authority.HUBSPOT, LATER, RECTIFY),  # HubSpot owns it: its edit wins whatever the time
        (Authority.BOTH, None, RECTIFY),
        (Authority.BOTH, EARLIER, RECTIFY),  # HubSpot's edit is the later one
        (Authority.BOTH, T, RECTIFY),  # the same instant: the edit in hand applies
        (Authority.BOTH, LATER, IGNORE),  # the register changed it since: the register wins
    ],
)
def test_a_hubspot_change_of_a_mapped_field_becomes_by_authority_and_occurrence_time(
    authority: Authority, register_changed_at: datetime | None, action: InboundAction
) -> None:
    assert inbound_action(authority, T, register_changed_at) is action


@pytest.mark.parametrize(
    ("register_value", "hubspot_value", "revert"),
    [
        ("anna@example.se", "anna@example.se", False),
        ("anna@example.se", "other@example.se", True),
        (None, "", False),
        (None, "x", True),
        ("", "x", True),
        (42, "42", False),
    ],
)
def test_a_revert_is_sent_only_when_hubspot_holds_another_value(
    register_value: object, hubspot_value: str, revert: bool
) -> None:
    assert needs_revert(register_value, hubspot_value) is revert
