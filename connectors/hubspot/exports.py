"""Full reads for access and portability: every property with its history, and associations.

HubSpot lists only non-sensitive properties unless asked (``dataSensitivity``
defaults to ``non_sensitive``: sensitive-data guide, "Access and manage
Sensitive Data"; properties reference, "Read all properties"), so the
property list is read once per level. Reading the values of a Sensitive or
Highly Sensitive property needs that level's scope (``scopes.SENSITIVITY_SCOPE``);
a level HubSpot refuses (403) is left out of the export and named as
withheld, and the rest is exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.hubspot import errors, full_read
from connectors.hubspot.paths import (
    BATCH_READ,
)
from connectors.hubspot.transport import Transport, result_items
from sync.errors import PermanentError, SubjectAbsent
from sync.model import (
    FullContact,
)

PROPERTY_LIST_TTL = timedelta(minutes=10)
NON_SENSITIVE = "non_sensitive"
SENSITIVITY_LEVELS = (NON_SENSITIVE, "sensitive", "highly_sensitive")
"""HubSpot's ``dataSensitivity`` values, the default first."""

ASSOCIATION_PAGE = 500
"""The most associations one page of the association list gives (HubSpot's ``limit`` cap)."""


@dataclass(frozen=True, slots=True)
class PropertyLevels:
    """The contact property names by sensitivity level, and the levels HubSpot refused to list."""

    names: dict[str, tuple[str, ...]]
    withheld: tuple[str, ...] = ()


def _refused_for_scope(error: PermanentError) -> bool:
    """Whether HubSpot refused the token (403), as for a sensitivity scope it lacks."""
    return isinstance(error, errors.ScopesMissing) or error.http_status == 403


class ExportCalls(Transport):
    """What an access export reads."""

    _property_levels: tuple[datetime, PropertyLevels] | None = None
    """Kept with ``_property_names`` (the non-sensitive names): clearing that one,
    as creating a property does, makes both be read again."""

    def contact_property_names(self) -> tuple[str, ...]:
        """Every non-sensitive contact property's name (the default property list)."""
        return self.contact_property_levels().names.get(NON_SENSITIVE, ())

    def contact_property_levels(self) -> PropertyLevels:
        """Every contact property's name by sensitivity, read once per ``PROPERTY_LIST_TTL``.

        The list changes only when someone adds a property; reading it again
        after a while picks up those added since, without calls per export.
        """
        now = self._now()
        cached = self._property_levels
        if (
            cached is not None
            and self._property_names is not None
            and now - cached[0] < PROPERTY_LIST_TTL
        ):
            return cached[1]
        names: dict[str, tuple[str, ...]] = {}
        withheld: list[str] = []
        for level in SENSITIVITY_LEVELS:
            query = [("archived", "false"), ("dataSensitivity", level)]
            try:
                data = self._request("property list", "GET", self._paths.properties(), query=query)
            except PermanentError as exc:
                if level == NON_SENSITIVE or not _refused_for_scope(exc):
                    raise
                withheld.append(level)
                continue
            names[level] = full_read.property_names(result_items(data))
        levels = PropertyLevels(names=names, withheld=tuple(withheld))
        self._property_levels = (now, levels)
        self._property_names = (now, names[NON_SENSITIVE])
        return levels

    def read_full_contact(self, contact_id: str) -> FullContact | None:
        """Every property of one contact with its history, and its associated object ids.

        Properties go in the body of a batch read, not in a GET's query: an
        account's few hundred property names would overflow the URL (414).
        A read with history takes at most 50 inputs; this one takes one.
        Sensitive levels are read apart, so a level the token may not read
        (403) is named in ``withheld`` while the rest is exported.
        None when HubSpot has no such contact (an old id of a merged contact
        gives the merged one, whose ``id`` differs from ``requested_id``).
        """
        levels = self.contact_property_levels()
        record = self._read_properties(contact_id, levels.names[NON_SENSITIVE])
        if record is None:
            return None
        current = str(record["id"])
        withheld = list(levels.withheld)
        for level in SENSITIVITY_LEVELS[1:]:
            names = levels.names.get(level)
            if not names:
                continue  # the account has no property of this level
            try:
                extra = self._read_properties(current, names)
            except PermanentError as exc:
                if not _refused_for_scope(exc):
                    raise
                withheld.append(level)
                continue
            if extra is not None:
                record = full_read.merged_record(record, extra)
        linked = self._read_associations(current)
        if linked is None:  # deleted between the reads
            return None
        return full_read.full_contact(
            record, linked, requested=contact_id, withheld=tuple(sorted(set(withheld)))
        )

    def _read_properties(self, contact_id: str, names: tuple[str, ...]) -> dict[str, Any] | None:
        """One contact's values and histories of ``names``; None when HubSpot has no such one."""
        body = {
            "inputs": [{"id": contact_id}],
            "properties": list(names),
            "propertiesWithHistory": list(names),
        }
        try:
            data = self._request(
                "contact full read", "POST", self._paths.contacts_batch(BATCH_READ), body=body
            )
        except SubjectAbsent:
            return None
        results = result_items(data)
        return results[0] if results else None

    def _read_associations(self, contact_id: str) -> dict[str, Any] | None:
        """The contact's associations by type, every page of them; None when it is gone.

        A contact read names the first page of each type; a type whose page
        says there is more (``paging.next.after``) is read again, whole,
        from the association list, page by page.
        """
        query = [
            ("archived", "false"),
            ("properties", "hs_object_id"),
            *(("associations", t) for t in full_read.ASSOCIATED_TYPES),
        ]
        try:
            linked = self._request(
                "contact associations read", "GET", self._paths.contact(contact_id), query=query
            )
        except SubjectAbsent:
            return None
        associations = dict(full_read.associations_of(linked))
        try:
            for object_type, collection in list(associations.items()):
                if full_read.next_after(collection) is not None:
                    associations[object_type] = {
                        "results": self._association_list(contact_id, object_type)
                    }
        except SubjectAbsent:  # deleted between the reads
            return None
        return {"associations": associations}

    def _association_list(self, contact_id: str, object_type: str) -> list[dict[str, Any]]:
        """Every association of the contact to ``object_type``, following ``paging.next.after``."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        seen: set[str] = set()
        while True:
            query = [("limit", str(ASSOCIATION_PAGE))] + ([("after", after)] if after else [])
            page = self._request(
                "contact associations list",
                "GET",
                self._paths.contact_associations(contact_id, object_type),
                query=query,
            )
            found += full_read.association_items(page)
            after = full_read.next_after(page)
            if after is None or after in seen:  # a cursor met twice would never end
                return found
            seen.add(after)
