"""Contacts by id or by email: read, batch read, batch update, GDPR delete."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from connectors.hubspot import errors
from connectors.hubspot.paths import (
    BATCH_READ,
    BATCH_UPDATE,
)
from connectors.hubspot.transport import BATCH_LIMIT, Transport, batch_outcomes, result_items
from sync.errors import SubjectAbsent, SyncError
from sync.model import (
    ContactWrites,
    HubSpotContact,
    HubSpotContactId,
)

MERGED_IDS = "hs_merged_object_ids"
"""The ``;``-separated ids a merged record was made from (hubspot-fidelity.md 2.4)."""

RESTRICTION_PROPERTY = "hubsync_processing_restricted"
"""hubsync's restriction property (``connectors.hubspot.restriction`` creates and sets it)."""

PAGE_LIMIT = 100
"""Contacts per page of the list endpoint, HubSpot's largest."""


class ContactCalls(Transport):
    """Contacts: reads, batch updates and the GDPR delete."""

    def get_contact(
        self,
        key: str,
        *,
        by_email: bool = False,
        properties: Sequence[str] = (),
        archived: bool = False,
    ) -> HubSpotContact | None:
        """One contact by id or by email (``archived``: among the archived ones); None on 404."""
        flag = "true" if archived else "false"
        query = [("archived", flag), *(("properties", p) for p in properties)]
        if by_email:
            query.append(("idProperty", "email"))
        try:
            data = self._request("contact read", "GET", self._paths.contact(key), query=query)
        except SubjectAbsent:
            return None
        return contact_from(data, requested=key)

    def read_contacts(
        self, ids: Sequence[str], properties: Sequence[str] = ()
    ) -> list[HubSpotContact]:
        """Contacts by id in batches of 100; missing ones are simply absent."""
        found: list[HubSpotContact] = []
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = list(ids[start : start + BATCH_LIMIT])
            body = {
                "inputs": [{"id": i} for i in chunk],
                "properties": list(properties),
                "propertiesWithHistory": [],
            }
            try:
                data = self._request(
                    "contact batch read", "POST", self._paths.contacts_batch(BATCH_READ), body=body
                )
            except SubjectAbsent:
                continue
            found.extend(contact_from(r) for r in result_items(data))
        return found

    def list_contacts(
        self, after: str | None, properties: Sequence[str]
    ) -> tuple[list[HubSpotContact], str | None]:
        """One page of the list endpoint (100 contacts) and the next page's cursor.

        Asks for the named properties, the merged ids and the restriction
        property too, so each contact comes back with ``merged_ids`` and
        ``restricted`` set; the cursor is HubSpot's ``paging.next.after``.
        """
        wanted = list(dict.fromkeys([*properties, MERGED_IDS, RESTRICTION_PROPERTY]))
        query = [("limit", str(PAGE_LIMIT)), ("archived", "false")]
        query += [("properties", p) for p in wanted]
        if after:
            query.append(("after", after))
        data = self._request("contact list", "GET", self._paths.contacts(), query=query) or {}
        contacts = [
            replace(found, restricted=found.properties.get(RESTRICTION_PROPERTY) == "true")
            for found in (contact_from(r) for r in result_items(data))
        ]
        paging = data.get("paging") if isinstance(data, dict) else None
        following = paging.get("next") if isinstance(paging, dict) else None
        cursor = following.get("after") if isinstance(following, dict) else None
        return contacts, (str(cursor) if cursor else None)

    def resolve_contacts(self, ids: Sequence[str]) -> dict[str, str]:
        """Each id HubSpot still finds -> its record's id now; the unfound are left out.

        A batch read asking for ``hs_merged_object_ids``: HubSpot answers an
        old id of a merged contact (where its reads resolve one) with the
        merged record, whose id differs and whose merged ids name the one
        asked for. Nothing else tells which input a result answers.
        """
        asked = set(ids)
        live: dict[str, str] = {}
        for contact in self.read_contacts(list(dict.fromkeys(ids)), [MERGED_IDS]):
            for key in (contact.id, *contact.merged_ids):
                if key in asked:
                    live[key] = contact.id
        return live

    def update_contacts(self, updates: Mapping[str, Mapping[str, str]]) -> ContactWrites:
        """Batch update by contact id (100 at a time); each id gets its own outcome.

        Where HubSpot writes an old id of a merged contact to the merged
        record, a result carries an id not asked for (and only the properties
        written: no ``hs_merged_object_ids``); one batch read of those ids
        says which ids they were merged from, so ``renamed`` tells the caller
        to re-key. Where it answers such an id 404, the outcome is
        ``SubjectAbsent`` and the caller looks for the record. A value the
        account's validation rules refuse (2026-09) fails its own record
        only (``_update_batch``).
        """
        outcomes: dict[str, SyncError | None] = {}
        answered: set[str] = set()
        ids = list(updates)
        for start in range(0, len(ids), BATCH_LIMIT):
            self._update_batch(ids[start : start + BATCH_LIMIT], updates, outcomes, answered)
        return ContactWrites(outcomes, self._merged_into(answered - set(ids), ids))

    def _merged_into(self, new_ids: set[str], asked: Sequence[str]) -> dict[str, str]:
        """Ids asked for -> the merged records (``new_ids``, answered but not asked) they are in."""
        if not new_ids:
            return {}
        wanted = set(asked)
        return {
            old: contact.id
            for contact in self.read_contacts(sorted(new_ids), [MERGED_IDS])
            for old in contact.merged_ids
            if old in wanted and old != contact.id
        }

    def _update_batch(
        self,
        ids: list[str],
        updates: Mapping[str, Mapping[str, str]],
        outcomes: dict[str, SyncError | None],
        answered: set[str],
    ) -> None:
        """One batch update; a 400 ``VALIDATION_ERROR`` fails only the records it is about.

        HubSpot refuses the whole request: the records it names fail, and
        the rest is sent again. When it names none (or none of these), the
        batch is halved until it does, or until one record is left, which is
        then the one at fault. One bad value never fails a hundred updates.
        """
        body = {"inputs": [{"id": i, "properties": dict(updates[i])} for i in ids]}
        data: Any = None
        try:
            data = self._request(
                "contact batch update", "POST", self._paths.contacts_batch(BATCH_UPDATE), body=body
            )
        except errors.ValuesRefused as refused:
            named = [i for i in ids if i in set(refused.ids)]
            if named:  # those fail; the rest is sent again
                outcomes.update(dict.fromkeys(named, refused))
                rest = [i for i in ids if i not in named]
                if rest:
                    self._update_batch(rest, updates, outcomes, answered)
                return
            found: dict[str, SyncError | None] = {}
            unattributed: list[SyncError] = [refused]
        else:
            found, unattributed = batch_outcomes(ids, data, "contact batch update", self._now())
        if unattributed and len(ids) > 1:  # which record failed is not said: halve and resend
            half = len(ids) // 2
            self._update_batch(ids[:half], updates, outcomes, answered)
            self._update_batch(ids[half:], updates, outcomes, answered)
            return
        if unattributed:
            found[ids[0]] = unattributed[0]
        outcomes.update(found)
        answered.update(str(r["id"]) for r in result_items(data) if r.get("id") is not None)

    def gdpr_delete(self, key: str, *, by_email: bool = False) -> None:
        """Permanent delete; by email it also blocklists the address. A 404 means already gone."""
        body: dict[str, str] = {"objectId": key}
        if by_email:
            body["idProperty"] = "email"
        try:
            self._request("GDPR delete", "POST", self._paths.gdpr_delete(), body=body)
        except SubjectAbsent:
            return


def contact_from(data: Mapping[str, Any], requested: str | None = None) -> HubSpotContact:
    properties = dict(data.get("properties") or {})
    merged = properties.get(MERGED_IDS) or ""
    return HubSpotContact(
        id=HubSpotContactId(str(data["id"])),
        properties=properties,
        requested_id=requested,
        merged_ids=tuple(m for m in str(merged).split(";") if m),
    )
