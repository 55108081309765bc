"""Full reads for access and portability: every property with its history, and associations."""

from __future__ import annotations

from datetime import timedelta

from connectors.hubspot import full_read
from connectors.hubspot.paths import (
    BATCH_READ,
)
from connectors.hubspot.transport import Transport, result_items
from sync.errors import SubjectAbsent
from sync.model import (
    FullContact,
)

PROPERTY_LIST_TTL = timedelta(minutes=10)


class ExportCalls(Transport):
    """What an access export reads."""

    def contact_property_names(self) -> tuple[str, ...]:
        """Every contact property's name, read once and kept for ``PROPERTY_LIST_TTL``.

        The list changes only when someone adds a property; reading it again
        after a while picks up those added since, without a call per export.
        """
        now = self._now()
        if self._property_names is not None and now - self._property_names[0] < PROPERTY_LIST_TTL:
            return self._property_names[1]
        data = self._request(
            "property list", "GET", self._paths.properties(), query=[("archived", "false")]
        )
        names = full_read.property_names(result_items(data))
        self._property_names = (now, names)
        return names

    def read_full_contact(self, contact_id: str) -> FullContact | None:
        """Every property of one contact with its history, and its associated object ids.

        Properties go in the body of a batch read, not in a GET's query: an
        account's few hundred property names would overflow the URL (414).
        A read with history takes at most 50 inputs; this one takes one.
        The associations come from a single read that asks for no property.
        None when HubSpot has no such contact (an old id of a merged contact
        gives the merged one, whose ``id`` differs from ``requested_id``).
        """
        names = list(self.contact_property_names())
        body = {
            "inputs": [{"id": contact_id}],
            "properties": names,
            "propertiesWithHistory": names,
        }
        try:
            data = self._request(
                "contact full read", "POST", self._paths.contacts_batch(BATCH_READ), body=body
            )
        except SubjectAbsent:
            return None
        results = result_items(data)
        if not results:
            return None
        record = results[0]
        current = str(record["id"])
        query = [
            ("archived", "false"),
            ("properties", "hs_object_id"),
            *(("associations", t) for t in full_read.ASSOCIATED_TYPES),
        ]
        try:
            linked = self._request(
                "contact associations read", "GET", self._paths.contact(current), query=query
            )
        except SubjectAbsent:  # deleted between the two reads
            return None
        return full_read.full_contact(record, linked or {}, requested=contact_id)
