"""The scopes hubsync needs, for the project app's files and for ``hubsync check``.

``hubsync hubspot-project`` declares ``required_scopes`` in the app's
``requiredScopes``; ``hubsync check`` asks HubSpot which of them the token
lacks (``HubSpotClient.missing_scopes``, one probe call each: static
project app tokens and Service Keys have no scope introspection), before a
worker meets them as 403s one event at a time.

``SENSITIVE_SCOPES`` are optional: an account that stores Sensitive Data
(Enterprise only) needs them for an access export to hold those values;
without them the export leaves those levels out and says so, and
``hubsync check`` warns instead of failing.
"""

from __future__ import annotations

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
    # Account info (the residency check) needs `oauth` from 2026-09 on.
    "oauth": "read the account's data hosting location",
}
"""Every scope hubsync's calls need, with what it is needed for."""

V4_ONLY = frozenset(
    {
        "communication_preferences.statuses.batch.read",
        "communication_preferences.statuses.batch.write",
    }
)
"""Scopes only the v4 batch subscription calls need."""


def required_scopes(subscriptions_api: str = "v4") -> list[str]:
    """The scopes needed with this subscriptions API (``v3`` needs no batch scopes)."""
    return [s for s in REQUIRED_SCOPES if subscriptions_api == "v4" or s not in V4_ONLY]


SENSITIVE_SCOPES: dict[str, str] = {
    # HubSpot's sensitive-data guide ("Access and manage Sensitive Data"): the sensitive
    # scopes are "not required to retrieve schema information" of such a property, "but
    # are required ... to access the property values". 2026-09 names end in `.v2`
    # (hubspot-2026.md section 4.2; older versions: without `.v2`).
    "crm.objects.contacts.sensitive.read.v2": "export Sensitive Data property values",
    "crm.objects.contacts.highly_sensitive.read.v2": "export Highly Sensitive Data values",
}
"""Optional scopes: needed only where the account stores Sensitive Data (warn-only)."""

SENSITIVITY_SCOPE: dict[str, str] = {
    "sensitive": "crm.objects.contacts.sensitive.read.v2",
    "highly_sensitive": "crm.objects.contacts.highly_sensitive.read.v2",
}
"""The scope that reads the values of each ``dataSensitivity`` level above ``non_sensitive``."""


def optional_scopes() -> list[str]:
    """The scopes ``hubsync check`` asks about but only warns for (``SENSITIVE_SCOPES``)."""
    return list(SENSITIVE_SCOPES)
