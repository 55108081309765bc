"""Where each HubSpot call goes: the date-based paths of one API version, in one place.

HubSpot names its API generations by date since 2026 (``/crm/objects/2026-09/
contacts/...``) and retires the numbered ones: v4 on 2027-03-30, v1-v3 in
September 2027 (``../shared/reference/hubspot-2026.md`` sections 4.1 and 5).
Every path ``HubSpotClient`` calls is built here from ``[hubspot]
api_version`` (default ``2026-09``); no other module spells a HubSpot path.
Legacy private app tokens, static project app tokens and Service Keys all
use the same paths (section 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

DEFAULT_API_VERSION = "2026-09"
"""The API version hubsync is written against and tested with."""

BATCH_READ = "read"
BATCH_UPDATE = "update"
STATUSES_READ = "read"
STATUSES_WRITE = "write"
UNSUBSCRIBE_ALL = "unsubscribe-all"
UNSUBSCRIBE_ALL_READ = "unsubscribe-all/read"


def _segment(value: str) -> str:
    """One path segment: everything escaped, ``/`` included (an id or an address)."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class ApiPaths:
    """The paths of one date-based API version (``version``, e.g. ``2026-09``)."""

    version: str = DEFAULT_API_VERSION
    """Checked where it is configured (``[hubspot] api_version``, ``sync.settings``)."""

    # -- account ---------------------------------------------------------------

    def account_details(self) -> str:
        """``GET``: the account's id, time zone and data hosting location (scope ``oauth``)."""
        return f"/account-info/{self.version}/details"

    def daily_usage(self) -> str:
        """``GET``: the private apps' daily call usage, with ``resetsAt`` (scope ``oauth``)."""
        return f"/account-info/{self.version}/api-usage/daily/private-apps"

    # -- contacts --------------------------------------------------------------

    def contact(self, key: str) -> str:
        """``GET``: one contact by id (or by email, with ``idProperty=email``)."""
        return f"/crm/objects/{self.version}/contacts/{_segment(key)}"

    def contact_associations(self, key: str, to_object_type: str) -> str:
        """``GET``: a page of a contact's associations to one object type (``after``, ``limit``)."""
        return (
            f"/crm/objects/{self.version}/contacts/{_segment(key)}"
            f"/associations/{_segment(to_object_type)}"
        )

    def contacts(self) -> str:
        """``GET``: a page of every contact (``limit`` up to 100, ``after``, ``properties``)."""
        return f"/crm/objects/{self.version}/contacts"

    def contacts_batch(self, action: str) -> str:
        """``POST``: a batch ``read`` or ``update`` of up to 100 contacts (200, errors inside)."""
        return f"/crm/objects/{self.version}/contacts/batch/{action}"

    def gdpr_delete(self) -> str:
        """``POST``: the permanent delete of one contact (204)."""
        return f"/crm/objects/{self.version}/contacts/gdpr-delete"

    # -- properties ------------------------------------------------------------

    def properties(self) -> str:
        """``GET`` every contact property, ``POST`` to create one."""
        return f"/crm/properties/{self.version}/contacts"

    def property(self, name: str) -> str:
        """``GET``: one contact property by name."""
        return f"/crm/properties/{self.version}/contacts/{_segment(name)}"

    def groups(self) -> str:
        """``POST``: create a contact property group."""
        return f"/crm/properties/{self.version}/contacts/groups"

    def group(self, name: str) -> str:
        """``GET``: one contact property group by name."""
        return f"/crm/properties/{self.version}/contacts/groups/{_segment(name)}"

    # -- communication preferences ---------------------------------------------

    def statuses_batch(self, action: str) -> str:
        """``POST``: a batch status ``read``, ``write``, ``unsubscribe-all`` or its ``read``."""
        return f"/communication-preferences/{self.version}/statuses/batch/{action}"

    def definitions(self) -> str:
        """``GET``: the account's subscription definitions."""
        return f"/communication-preferences/{self.version}/definitions"

    def email_status(self, email: str) -> str:
        """``GET``: one address's subscription statuses (the address is in the path)."""
        return f"/communication-preferences/{self.version}/status/email/{_segment(email)}"

    def statuses(self, email: str) -> str:
        """``GET`` (``channel=EMAIL``): one address's status per subscription, v4's states.

        The single read needs no batch scope, and unlike ``email_status`` it
        tells an opt-out (``UNSUBSCRIBED``) from no choice (``NOT_SPECIFIED``).
        """
        return f"/communication-preferences/{self.version}/statuses/{_segment(email)}"

    def unsubscribe_all_one(self, email: str) -> str:
        """``POST`` (``channel=EMAIL``): opt one address out of all email, portal-wide.

        Needs only ``communication_preferences.write``, no batch scope
        (hubspot-2026.md section 4.1, "single unsubscribe-all").
        """
        return f"{self.statuses(email)}/unsubscribe-all"

    def subscription(self, subscribed: bool) -> str:
        """``POST``: subscribe or unsubscribe one address to one subscription."""
        action = "subscribe" if subscribed else "unsubscribe"
        return f"/communication-preferences/{self.version}/{action}"
