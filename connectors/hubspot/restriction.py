"""hubsync's restriction property (GDPR Art. 18): created once, set and read per contact."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.hubspot.contacts import RESTRICTION_PROPERTY, ContactCalls
from sync.errors import PermanentError, SubjectAbsent
from sync.model import (
    ContactWrites,
)

RESTRICTION_GROUP = "hubsync"
__all__ = ["RESTRICTION_GROUP", "RESTRICTION_PROPERTY", "RestrictionCalls"]


class RestrictionCalls(ContactCalls):
    """The restriction property on contacts."""

    def set_restricted(self, contact_ids: Sequence[str], restricted: bool) -> ContactWrites:
        """Set (or clear) hubsync's restriction property on these contacts, creating it first.

        The property (``RESTRICTION_PROPERTY``, in the ``hubsync`` group) is
        HubSpot's vocabulary and stays here; the answer is the batch
        update's, per contact.
        """
        if not contact_ids:
            return ContactWrites({})
        self._ensure_restriction_property()
        value = "true" if restricted else ""
        return self.update_contacts({c: {RESTRICTION_PROPERTY: value} for c in contact_ids})

    def restricted(self, contact_id: str) -> bool | None:
        """Whether the contact carries the restriction; None when HubSpot has no such contact."""
        found = self.get_contact(contact_id, properties=[RESTRICTION_PROPERTY])
        if found is None:
            return None
        return found.properties.get(RESTRICTION_PROPERTY) == "true"

    def _ensure_restriction_property(self) -> None:
        """Create the ``hubsync`` group and ``hubsync_processing_restricted`` once."""
        if self._property_ready:
            return
        try:
            self._request("property read", "GET", self._paths.property(RESTRICTION_PROPERTY))
        except SubjectAbsent:
            self._create_restriction_property()
        self._property_ready = True

    def _create_restriction_property(self) -> None:
        """Create the group, then the property; a 409 on either is another worker's win.

        Two workers restricting on first use both read 404 and both create:
        the one that comes second gets 409 (already exists), which means the
        thing it wanted is there, not a failed batch.
        """
        try:
            self._request("property group read", "GET", self._paths.group(RESTRICTION_GROUP))
        except SubjectAbsent:
            group = {"name": RESTRICTION_GROUP, "label": "hubsync", "displayOrder": -1}
            try:
                self._request("property group create", "POST", self._paths.groups(), body=group)
            except PermanentError as exc:
                if exc.http_status != 409:  # another worker created it first
                    raise
        prop = {
            "name": RESTRICTION_PROPERTY,
            "label": "Processing restricted (GDPR Art. 18)",
            "description": (
                "Set by hubsync: the controller has restricted processing of this person."
            ),
            "groupName": RESTRICTION_GROUP,
            "type": "enumeration",
            "fieldType": "booleancheckbox",
            "options": [
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ],
        }
        try:
            self._request("property create", "POST", self._paths.properties(), body=prop)
        except PermanentError as exc:
            if exc.http_status != 409:  # another worker created it first
                raise
        self._property_names = None  # the property list has one more
