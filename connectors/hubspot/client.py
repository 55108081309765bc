"""``HubSpotClient``: the HubSpot port (``sync.ports.HubSpot``) for one account.

One class joined from the calls of each area, each in its own module over
the shared transport (``transport``: budget, retries, error translation,
batch answers):

- ``account``: hosting location, time zone, scope probes;
- ``contacts``: reads, batch updates, GDPR deletes;
- ``restriction``: hubsync's restriction property;
- ``exports``: full reads for access and portability;
- ``subscriptions``: communication preferences.
"""

from __future__ import annotations

from connectors.hubspot.account import AccountCalls
from connectors.hubspot.contacts import ContactCalls
from connectors.hubspot.exports import ExportCalls
from connectors.hubspot.restriction import (
    RESTRICTION_GROUP,
    RESTRICTION_PROPERTY,
    RestrictionCalls,
)
from connectors.hubspot.subscriptions import SubscriptionCalls
from connectors.hubspot.transport import BATCH_LIMIT

__all__ = ["BATCH_LIMIT", "RESTRICTION_GROUP", "RESTRICTION_PROPERTY", "HubSpotClient"]


class HubSpotClient(AccountCalls, RestrictionCalls, ContactCalls, ExportCalls, SubscriptionCalls):
    """HubSpot for the worker: typed, rate-limited, translated, with timeouts."""
