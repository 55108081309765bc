"""The private-app scopes hubsync needs, and which of them a token lacks.

HubSpot tells a private app's token its scopes through
``POST /oauth/v2/private-apps/get/access-token-info`` (``HubSpotClient.granted_scopes``);
``hubsync check`` compares them with ``REQUIRED_SCOPES`` and names the
missing ones, before a worker meets them as 403s one event at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

REQUIRED_SCOPES: dict[str, str] = {
    # Contacts: read by id, email or batch (crm.objects.contacts.read); batch update
    # and GDPR delete (crm.objects.contacts.write). Webhook subscriptions on contacts
    # also need the read scope.
    "crm.objects.contacts.read": "read contacts",
    "crm.objects.contacts.write": "correct and GDPR-delete contacts",
    # Properties: hubsync reads, and on first use creates, its `hubsync` group and the
    # `hubsync_processing_restricted` property (restriction, Art. 18).
    "crm.schemas.contacts.read": "read the restriction property",
    "crm.schemas.contacts.write": "create the restriction property",
    # Communication preferences, single-address endpoints (v3 subscribe/unsubscribe,
    # definitions); HubSpot also grants both as one `communication_preferences.read_write`.
    "communication_preferences.read": "read subscription definitions and statuses",
    "communication_preferences.write": "subscribe and unsubscribe addresses",
    # The v4 batch endpoints hubsync uses by default (`[hubspot] subscriptions_api = "v4"`):
    # batch/write and batch/unsubscribe-all; Marketing Hub Enterprise only.
    "communication_preferences.statuses.batch.read": "read subscription statuses in batches",
    "communication_preferences.statuses.batch.write": "opt out in batches (v4)",
}
"""Every scope hubsync's calls need, with what it is needed for (account info needs none)."""

V4_ONLY = frozenset(
    {
        "communication_preferences.statuses.batch.read",
        "communication_preferences.statuses.batch.write",
    }
)
"""Scopes only the v4 batch subscription calls need."""

IMPLIED_BY: dict[str, frozenset[str]] = {
    "communication_preferences.read_write": frozenset(
        {"communication_preferences.read", "communication_preferences.write"}
    ),
}
"""A granted scope that stands for several of the required ones."""


def required_scopes(subscriptions_api: str = "v4") -> list[str]:
    """The scopes needed with this subscriptions API (``v3`` needs no batch scopes)."""
    return [s for s in REQUIRED_SCOPES if subscriptions_api == "v4" or s not in V4_ONLY]


def missing_scopes(granted: Iterable[str], subscriptions_api: str = "v4") -> list[str]:
    """The required scopes ``granted`` lacks, in ``REQUIRED_SCOPES`` order."""
    have = set(granted)
    for scope in list(have):
        have |= IMPLIED_BY.get(scope, frozenset())
    return [s for s in required_scopes(subscriptions_api) if s not in have]
