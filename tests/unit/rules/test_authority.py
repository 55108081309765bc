"""Field authority (``sync.rules.authority``): each direction, and the last writer of ``both``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.model import Authority
from sync.rules.authority import (
    InboundAction,
    inbound_action,
    needs_revert,
    outbound_applies,
    sent_to_hubspot,
)

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
    ("authority", "hubspot_changed_at", "applies"),
    [
        (Authority.REGISTER, None, True),
        (Authority.REGISTER, LATER, True),  # the register owns it: its change goes out regardless
        (Authority.HUBSPOT, None, False),
        (Authority.HUBSPOT, EARLIER, False),
        (Authority.BOTH, None, True),
        (Authority.BOTH, EARLIER, True),  # the register's change is the later one
        (Authority.BOTH, T, False),  # the same instant: HubSpot wins, as inbound
        (Authority.BOTH, LATER, False),  # HubSpot changed it since: HubSpot's value stands
    ],
)
def test_a_register_change_of_a_mapped_field_goes_out_by_authority_and_occurrence_time(
    authority: Authority, hubspot_changed_at: datetime | None, applies: bool
) -> None:
    assert outbound_applies(authority, T, hubspot_changed_at) is applies


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_with_both_the_two_directions_agree_on_one_winner(gap: timedelta) -> None:
    """Whichever change occurred later is the one both sides end with."""
    for register_at, hubspot_at in ((T, T + gap), (T + gap, T)):
        register_wins = outbound_applies(Authority.BOTH, register_at, hubspot_at)
        hubspot_wins = inbound_action(Authority.BOTH, hubspot_at, register_at) is RECTIFY
        assert register_wins is not hubspot_wins


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
