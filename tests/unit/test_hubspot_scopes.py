"""The scopes hubsync needs for each subscriptions API."""

from __future__ import annotations

from connectors.hubspot.scopes import REQUIRED_SCOPES, required_scopes


def test_the_v3_subscription_api_needs_no_batch_scopes() -> None:
    v3 = required_scopes("v3")

    assert not [s for s in v3 if ".statuses.batch." in s]
    assert len(v3) == len(REQUIRED_SCOPES) - 2
    assert required_scopes("v4") == list(REQUIRED_SCOPES)


def test_the_contact_gdpr_restriction_and_account_scopes_are_required() -> None:
    needed = required_scopes()

    assert {
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.write",
        "oauth",
    } <= set(needed)
