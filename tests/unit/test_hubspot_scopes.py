"""The scopes hubsync needs, and how a token's grant is compared with them."""

from __future__ import annotations

from connectors.hubspot.scopes import REQUIRED_SCOPES, missing_scopes, required_scopes


def test_a_token_with_every_required_scope_lacks_none() -> None:
    assert missing_scopes(REQUIRED_SCOPES) == []


def test_missing_scopes_are_named_in_the_order_hubsync_lists_them() -> None:
    granted = set(REQUIRED_SCOPES) - {
        "communication_preferences.write",
        "crm.schemas.contacts.write",
    }

    assert missing_scopes(granted) == [
        "crm.schemas.contacts.write",
        "communication_preferences.write",
    ]


def test_read_write_stands_for_both_communication_preference_scopes() -> None:
    granted = (set(REQUIRED_SCOPES) - {
        "communication_preferences.read", "communication_preferences.write"
    }) | {"communication_preferences.read_write"}  # fmt: skip

    assert missing_scopes(granted) == []


def test_the_v3_subscription_api_needs_no_batch_scopes() -> None:
    granted = [s for s in REQUIRED_SCOPES if ".statuses.batch." not in s]

    assert missing_scopes(granted, "v3") == []
    assert missing_scopes(granted, "v4") == [
        "communication_preferences.statuses.batch.read",
        "communication_preferences.statuses.batch.write",
    ]
    assert len(required_scopes("v3")) == len(REQUIRED_SCOPES) - 2


def test_the_contact_gdpr_and_restriction_scopes_are_required() -> None:
    needed = required_scopes()

    assert {
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.write",
    } <= set(needed)
