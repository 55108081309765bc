"""The sandbox account's data: contacts, ids after merges, the GDPR blocklist, subscriptions.

Every public method takes the one lock, so API handlers, control actions and tests may call
it from any thread. Changes are reported as `ContactEvent`s to the `on_events` callback
(the webhook dispatcher), in the order they happened.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.sandbox import search as search_rules
from connectors.hubspot.sandbox.errors import ApiError, not_found, validation_error
from connectors.hubspot.sandbox.events import ContactEvent, Source
from connectors.hubspot.sandbox.properties import PropertySchema
from connectors.hubspot.sandbox.subscriptions import (
    SUBSCRIBED,
    UNSUBSCRIBED,
    V4_STATES,
    Change,
    SubscriptionStore,
    check_legal_basis,
)
from connectors.hubspot.sandbox.timefmt import Clock, iso_ms, now_ms

FIRST_ID = 101
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Maintained by HubSpot itself; they never produce propertyChange events here.
SYSTEM_PROPERTIES = frozenset({"hs_object_id", "createdate", "lastmodifieddate"})

EventSink = Callable[[list[ContactEvent]], None]


@dataclass
class HistoryEntry:
    """One past value of a property (`ValueWithTimestamp`)."""

    value: str
    timestamp_ms: int
    source: Source

    def to_json(self) -> dict[str, Any]:
        """`ValueWithTimestamp` JSON."""
        out: dict[str, Any] = {
            "value": self.value,
            "timestamp": iso_ms(self.timestamp_ms),
            "sourceType": self.source.change_source,
        }
        if self.source.source_id is not None:
            out["sourceId"] = self.source.source_id
        if self.source.user_id is not None:
            out["updatedByUserId"] = self.source.user_id
        return out


@dataclass
class Contact:
    """One contact record."""

    id: str
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)
    archived: bool = False
    archived_ms: int | None = None
    associations: dict[str, list[str]] = field(default_factory=dict)
    """Associated object ids by plural object type (`companies`, `deals`, `tickets`)."""

    def emails(self) -> list[str]:
        """Primary and additional email addresses."""
        out = [self.properties["email"]] if self.properties.get("email") else []
        extra = self.properties.get("hs_additional_emails", "")
        return out + [e for e in extra.split(";") if e]


@dataclass(frozen=True)
class CreateInput:
    """One contact to create."""

    properties: Mapping[str, object]
    trace_id: str | None = None


@dataclass(frozen=True)
class UpdateInput:
    """One contact to update or upsert, addressed by id or a unique property."""

    id: str
    properties: Mapping[str, object]
    id_property: str | None = None
    trace_id: str | None = None


@dataclass
class BatchOutcome:
    """Results and per-item errors of a batch call."""

    results: list[Any] = field(default_factory=list)
    errors: list[ApiError] = field(default_factory=list)
    written: list[tuple[str, ...]] = field(default_factory=list)
    """For updates: the property names each result was written with (its answer shows those)."""


def _value_str(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _property_errors(errors: list[dict[str, Any]]) -> ApiError:
    return ApiError(
        400,
        "VALIDATION_ERROR",
        "Property values were not valid: " + json.dumps(errors, ensure_ascii=False),
        context={"propertyName": [e["name"] for e in errors]},
    )


def normalise_email(email: str) -> str:
    """HubSpot stores email addresses trimmed and lower-cased."""
    return email.strip().lower()


def _merged_record(
    primary: Contact, secondary: Contact, new_id: str, now: int, source: Source
) -> tuple[Contact, int]:
    """The record a merge creates (primary's values win) and how many properties moved over."""
    props = {k: v for k, v in secondary.properties.items() if v}
    moved = sum(1 for k in props if not primary.properties.get(k))
    props.update({k: v for k, v in primary.properties.items() if v})
    primary_email = primary.properties.get("email", "")
    additional = [e for e in primary.emails()[1:] + secondary.emails() if e != primary_email]
    merged_ids = {primary.id, secondary.id}
    for c in (primary, secondary):
        merged_ids.update(i for i in c.properties.get("hs_merged_object_ids", "").split(";") if i)
    created = min(primary.created_ms, secondary.created_ms)
    props["hs_additional_emails"] = ";".join(dict.fromkeys(additional))
    props["hs_merged_object_ids"] = ";".join(sorted(merged_ids, key=int))
    props["hs_object_id"] = new_id
    props["createdate"] = iso_ms(created)
    props["lastmodifieddate"] = iso_ms(now)
    props = {k: v for k, v in props.items() if v}
    history: dict[str, list[HistoryEntry]] = {}
    for c in (primary, secondary):
        for name, entries in c.history.items():
            history.setdefault(name, []).extend(entries)
    for entries in history.values():
        entries.sort(key=lambda e: e.timestamp_ms, reverse=True)
    for name, value in props.items():
        entries = history.setdefault(name, [])
        if not entries or entries[0].value != value:
            entries.insert(0, HistoryEntry(value, now, source))
    associations: dict[str, list[str]] = {}
    for c in (primary, secondary):
        for object_type, ids in c.associations.items():
            kept = associations.setdefault(object_type, [])
            kept.extend(i for i in ids if i not in kept)
    record = Contact(
        new_id,
        props,
        created_ms=created,
        updated_ms=now,
        history=history,
        associations=associations,
    )
    return record, moved


class SandboxState:
    """In-memory HubSpot account: contacts, aliases, blocklist, properties and subscriptions."""

    def __init__(
        self,
        *,
        clock: Clock,
        app_id: int,
        gdpr_enabled: bool = True,
        gdpr_deletion_first: bool = False,
        on_events: EventSink | None = None,
        business_unit_ids: Iterable[int] = (0,),
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._app_id = app_id
        self.gdpr_enabled = gdpr_enabled
        self._gdpr_deletion_first = gdpr_deletion_first
        self._on_events = on_events
        self.subscriptions = SubscriptionStore(business_unit_ids)
        self.schema = PropertySchema(
            [(d.id, d.name) for d in self.subscriptions.definitions.values()]
        )
        self._contacts: dict[str, Contact] = {}
        self._aliases: dict[str, str] = {}
        self._by_email: dict[str, str] = {}
        self._blocklist: set[str] = set()
        self._next_id = FIRST_ID
        self._recreated_blocklisted = 0

    def set_event_sink(self, on_events: EventSink | None) -> None:
        """Where change events go (the webhook dispatcher)."""
        with self._lock:
            self._on_events = on_events

    def reset(self) -> None:
        """Forget every contact, alias, blocklisted address, status and custom property."""
        with self._lock:
            self._contacts.clear()
            self._aliases.clear()
            self._by_email.clear()
            self._blocklist.clear()
            self._next_id = FIRST_ID
            self._recreated_blocklisted = 0
            self.subscriptions.reset()
            self.schema.reset()

    # --- helpers (lock held) ------------------------------------------------------------

    def _now(self) -> int:
        return now_ms(self._clock)

    def _emit(self, events: list[ContactEvent]) -> None:
        if events and self._on_events is not None:
            self._on_events(events)

    def _new_id(self) -> str:
        new = str(self._next_id)
        self._next_id += 1
        return new

    def _find(
        self,
        key: str,
        id_property: str | None,
        *,
        archived: bool = False,
        resolve_merged: bool = True,
    ) -> Contact | None:
        """``resolve_merged``: an old id of a merged contact finds the merged record."""
        if id_property in (None, "", "hs_object_id"):
            contact = self._contacts.get(self._aliases.get(key, key) if resolve_merged else key)
        elif id_property == "email":
            email = normalise_email(key)
            if not archived:
                contact = self._contacts.get(self._by_email.get(email, ""))
            else:
                contact = next(
                    (c for c in self._contacts.values() if c.archived and email in c.emails()),
                    None,
                )
        else:
            prop = self.schema.properties.get(id_property)
            if prop is None or not prop.has_unique_value:
                raise validation_error(
                    f"{id_property} is not a unique property of contacts",
                    invalidPropertyName=[id_property],
                )
            contact = next(
                (
                    c
                    for c in self._contacts.values()
                    if c.archived == archived and c.properties.get(id_property) == key
                ),
                None,
            )
        if contact is None or contact.archived != archived:
            return None
        return contact

    def _require(
        self,
        key: str,
        id_property: str | None,
        *,
        archived: bool = False,
        resolve_merged: bool = True,
    ) -> Contact:
        contact = self._find(key, id_property, archived=archived, resolve_merged=resolve_merged)
        if contact is None:
            raise not_found(
                "resource not found"
                if id_property in (None, "", "hs_object_id")
                else f"No contact with {id_property} matching the given value",
                ids=[key] if id_property in (None, "", "hs_object_id") else [],
            )
        return contact

    def _validate(
        self, raw: Mapping[str, object], *, contact_id: str | None, claimed: set[str] | None = None
    ) -> dict[str, str]:
        """Check names, read-only flags, options and email; return string values."""
        errors: list[dict[str, Any]] = []
        values: dict[str, str] = {}
        for name, raw_value in raw.items():
            prop = self.schema.properties.get(name)
            value = _value_str(raw_value)
            if prop is None:
                msg = f'Property "{name}" does not exist'
                errors.append(
                    {
                        "isValid": False,
                        "message": msg,
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                        "localizedErrorMessage": msg,
                    }
                )
                continue
            if prop.read_only:
                msg = f'"{name}" is a read only property; its value cannot be set.'
                errors.append(
                    {"isValid": False, "message": msg, "error": "READ_ONLY_VALUE", "name": name}
                )
                continue
            if prop.type == "enumeration" and prop.options and value:
                allowed = {o.get("value") for o in prop.options}
                bad = [v for v in value.split(";") if v not in allowed]
                if bad:
                    msg = f"{bad[0]} was not one of the allowed options"
                    errors.append(
                        {"isValid": False, "message": msg, "error": "INVALID_OPTION", "name": name}
                    )
                    continue
            if name == "email" and value:
                value = normalise_email(value)
                if not EMAIL_RE.match(value):
                    msg = f"Email address {value} is invalid"
                    errors.append(
                        {"isValid": False, "message": msg, "error": "INVALID_EMAIL", "name": name}
                    )
                    continue
            values[name] = value
        if errors:
            raise _property_errors(errors)
        email = values.get("email")
        if email:
            owner = self._by_email.get(email)
            if owner is not None and owner != contact_id:
                raise ApiError(409, "CONFLICT", f"Contact already exists. Existing ID: {owner}")
            if claimed is not None:
                if email in claimed:
                    raise ApiError(409, "CONFLICT", "Duplicate email address in the batch inputs.")
                claimed.add(email)
        return values

    def _apply(
        self,
        contact: Contact,
        values: Mapping[str, str],
        source: Source,
        now: int,
        events: list[ContactEvent],
    ) -> None:
        """Write values, keep history and the email index, and emit propertyChange events."""
        changed = False
        for name, value in values.items():
            old = contact.properties.get(name, "")
            if value == old:
                continue
            changed = True
            if value:
                contact.properties[name] = value
            else:
                contact.properties.pop(name, None)
            contact.history.setdefault(name, []).insert(0, HistoryEntry(value, now, source))
            if name == "email" and not contact.archived:
                if old and self._by_email.get(old) == contact.id:
                    del self._by_email[old]
                if value:
                    self._by_email[value] = contact.id
            if name not in SYSTEM_PROPERTIES:
                events.append(
                    ContactEvent(
                        "contact.propertyChange",
                        contact.id,
                        now,
                        source,
                        property_name=name,
                        property_value=value,
                    )
                )
        if changed:
            contact.updated_ms = now
            contact.properties["lastmodifieddate"] = iso_ms(now)

    def _create(
        self, values: Mapping[str, str], source: Source, now: int, events: list[ContactEvent]
    ) -> Contact:
        new_id = self._new_id()
        contact = Contact(
            id=new_id,
            properties={
                "hs_object_id": new_id,
                "createdate": iso_ms(now),
                "lastmodifieddate": iso_ms(now),
            },
            created_ms=now,
            updated_ms=now,
        )
        for name in ("hs_object_id", "createdate"):
            contact.history[name] = [HistoryEntry(contact.properties[name], now, source)]
        self._contacts[new_id] = contact
        events.append(ContactEvent("contact.creation", new_id, now, source))
        email = values.get("email")
        if email and email in self._blocklist:
            # HubSpot's blocklist does not stop API or form creation (reference 1.7).
            self._recreated_blocklisted += 1
        self._apply(contact, values, source, now, events)
        if email:
            self._apply(contact, self.subscriptions.optout_properties(email), source, now, events)
        return contact

    def _sync_optout(
        self, email: str, source: Source, now: int, events: list[ContactEvent]
    ) -> list[str]:
        """Make `hs_email_optout*` of the address's contacts follow its statuses."""
        contact_id = self._by_email.get(email)
        contact = self._contacts.get(contact_id or "")
        if contact is None:
            return []
        self._apply(contact, self.subscriptions.optout_properties(email), source, now, events)
        return [contact.id]

    # --- contacts -----------------------------------------------------------------------

    def get(
        self,
        key: str,
        id_property: str | None = None,
        *,
        archived: bool = False,
        resolve_merged: bool = True,
    ) -> Contact:
        """Read one contact by id (old merged ids resolve if asked) or unique property; else 404."""
        with self._lock:
            return self._require(key, id_property, archived=archived, resolve_merged=resolve_merged)

    def page(
        self, limit: int, after: str | None, *, archived: bool = False
    ) -> tuple[list[Contact], str | None]:
        """One page of contacts in id order; the cursor is the last id returned."""
        with self._lock:
            start = int(after) if after and after.isdigit() else 0
            ids = sorted(
                int(c.id)
                for c in self._contacts.values()
                if c.archived == archived and int(c.id) > start
            )
            chosen = [self._contacts[str(i)] for i in ids[:limit]]
            more = len(ids) > limit
            return chosen, (chosen[-1].id if more and chosen else None)

    def create(self, properties: Mapping[str, object], source: Source) -> Contact:
        """Create a contact: 400 on invalid properties, 409 naming the owner of a taken email."""
        with self._lock:
            values = self._validate(properties, contact_id=None)
            events: list[ContactEvent] = []
            contact = self._create(values, source, self._now(), events)
            self._emit(events)
            return contact

    def update(
        self,
        key: str,
        properties: Mapping[str, object],
        source: Source,
        id_property: str | None = None,
        *,
        resolve_merged: bool = True,
    ) -> Contact:
        """Update properties (`""` clears one); 404 unknown, 400 invalid, 409 email taken."""
        with self._lock:
            contact = self._require(key, id_property, resolve_merged=resolve_merged)
            values = self._validate(properties, contact_id=contact.id)
            events: list[ContactEvent] = []
            now = self._now()
            self._apply(contact, values, source, now, events)
            if values.get("email"):
                self._apply(
                    contact,
                    self.subscriptions.optout_properties(values["email"]),
                    source,
                    now,
                    events,
                )
            self._emit(events)
            return contact

    def archive(self, key: str, source: Source) -> str | None:
        """Archive (restorable delete); unknown or archived ids are a no-op, as in HubSpot."""
        with self._lock:
            contact = self._find(key, None)
            if contact is None:
                return None
            now = self._now()
            contact.archived = True
            contact.archived_ms = now
            for email in contact.emails():
                if self._by_email.get(email) == contact.id:
                    del self._by_email[email]
            self._emit([ContactEvent("contact.deletion", contact.id, now, source)])
            return contact.id

    def restore(self, contact_id: str, source: Source) -> Contact:
        """Restore an archived contact (404 if not archived, 409 if its email was taken since)."""
        with self._lock:
            contact = self._contacts.get(self._aliases.get(contact_id, contact_id))
            if contact is None or not contact.archived:
                raise not_found("No archived contact with this id", ids=[contact_id])
            for email in contact.emails():
                owner = self._by_email.get(email)
                if owner is not None:
                    raise ApiError(409, "CONFLICT", f"Contact already exists. Existing ID: {owner}")
            now = self._now()
            contact.archived = False
            contact.archived_ms = None
            for email in contact.emails():
                self._by_email[email] = contact.id
            self._emit([ContactEvent("contact.restore", contact.id, now, source)])
            return contact

    def associate(self, contact_id: str, object_type: str, object_id: str) -> Contact:
        """Associate a live contact with a company, deal or ticket (by plural type); idempotent."""
        with self._lock:
            contact = self._require(contact_id, None)
            ids = contact.associations.setdefault(object_type, [])
            if object_id not in ids:
                ids.append(object_id)
            return contact

    def gdpr_delete(
        self,
        object_id: str,
        id_property: str | None,
        source: Source,
        *,
        resolve_merged: bool = True,
    ) -> str | None:
        """Permanently delete and blocklist the email(s); by email, blocklist even with no contact.

        Returns the deleted contact id, if any. An unknown record id is a 404
        (so is an old merged id unless ``resolve_merged``).
        """
        with self._lock:
            by_email = id_property == "email"
            if by_email:
                email = normalise_email(object_id)
                self._blocklist.add(email)
                contact = self._find(email, "email") or self._find(email, "email", archived=True)
            else:
                contact = self._find(
                    object_id, id_property, resolve_merged=resolve_merged
                ) or self._find(
                    object_id, id_property, archived=True, resolve_merged=resolve_merged
                )
                if contact is None:
                    raise not_found("resource not found", ids=[object_id])
            if contact is None:
                return None
            now = self._now()
            for email in contact.emails():
                self._blocklist.add(email)
                if self._by_email.get(email) == contact.id:
                    del self._by_email[email]
            del self._contacts[contact.id]
            # HubSpot: "The privacyDeletion event will also trigger the normal
            # contact.delete event" (changelog, hubspot-2026.md section 2). An
            # archived contact had its deletion already. The order of the two
            # is not documented: `gdpr_deletion_first` sends the deletion first.
            events = [ContactEvent("contact.privacyDeletion", contact.id, now, source)]
            if not contact.archived:
                deletion = ContactEvent("contact.deletion", contact.id, now, source)
                events = [deletion, *events] if self._gdpr_deletion_first else [*events, deletion]
            self._emit(events)
            return contact.id

    def merge(self, primary_id: str, secondary_id: str, source: Source) -> Contact:
        """Merge into a new record with a new id; both old ids resolve to it afterwards."""
        with self._lock:
            primary = self._find(primary_id, None)
            secondary = self._find(secondary_id, None)
            missing = [
                i for i, c in ((primary_id, primary), (secondary_id, secondary)) if c is None
            ]
            if missing or primary is None or secondary is None:
                raise not_found("Object to merge does not exist", ids=missing)
            if primary.id == secondary.id:
                raise validation_error("Cannot merge an object with itself")
            now = self._now()
            merged, moved = _merged_record(primary, secondary, self._new_id(), now, source)
            new_id = merged.id
            for old in (primary, secondary):
                del self._contacts[old.id]
                for email in old.emails():
                    self._by_email.pop(email, None)
            self._contacts[new_id] = merged
            for email in merged.emails():
                self._by_email[email] = new_id
            for old_id, target in list(self._aliases.items()):
                if target in (primary.id, secondary.id):
                    self._aliases[old_id] = new_id
            self._aliases[primary.id] = new_id
            self._aliases[secondary.id] = new_id
            self._emit(
                [
                    ContactEvent(
                        "contact.merge",
                        new_id,
                        now,
                        source,
                        extra={
                            "primaryObjectId": int(primary.id),
                            "mergedObjectIds": [int(secondary.id)],
                            "newObjectId": int(new_id),
                            "numberOfPropertiesMoved": moved,
                        },
                    )
                ]
            )
            return merged

    def search(self, request: search_rules.SearchRequest) -> tuple[int, list[Contact], int | None]:
        """Matching live contacts: total, one page, and the next offset (capped at 10,000)."""
        with self._lock:
            found = [
                c
                for c in sorted(self._contacts.values(), key=lambda c: int(c.id))
                if not c.archived and search_rules.matches(c.properties, request)
            ]
            for sort in reversed(request.sorts):
                found.sort(
                    key=lambda c, s=sort: search_rules.sort_key(c.properties, s),  # type: ignore[misc]
                    reverse=sort.descending,
                )
            end = min(request.after + request.limit, search_rules.MAX_RESULTS)
            page = found[request.after : end]
            more = end < len(found) and end < search_rules.MAX_RESULTS
            return len(found), page, (end if more else None)

    # --- batches (atomic: the lock is held for the whole batch) -------------------------

    def batch_read(
        self,
        ids: Iterable[str],
        id_property: str | None,
        *,
        archived: bool = False,
        resolve_merged: bool = True,
    ) -> tuple[list[Contact], list[str]]:
        """Found contacts (deduplicated) and the ids that were not found."""
        with self._lock:
            found: dict[str, Contact] = {}
            missing: list[str] = []
            for key in ids:
                contact = self._find(
                    key, id_property, archived=archived, resolve_merged=resolve_merged
                )
                if contact is None:
                    missing.append(key)
                else:
                    found.setdefault(contact.id, contact)
            return list(found.values()), missing

    def batch_create(self, inputs: list[CreateInput], source: Source) -> BatchOutcome:
        """Create many: per-item errors with unique `objectWriteTraceId`s, else all or none."""
        with self._lock:
            traces = [i.trace_id for i in inputs]
            partial = all(traces) and len(set(traces)) == len(traces)
            claimed: set[str] = set()
            checked: list[dict[str, str] | ApiError] = []
            for item in inputs:
                try:
                    checked.append(
                        self._validate(item.properties, contact_id=None, claimed=claimed)
                    )
                except ApiError as exc:
                    if not partial:
                        raise
                    exc.context = {"objectWriteTraceId": [item.trace_id or ""]}
                    checked.append(exc)
            outcome = BatchOutcome()
            events: list[ContactEvent] = []
            now = self._now()
            for values in checked:
                if isinstance(values, ApiError):
                    outcome.errors.append(values)
                else:
                    outcome.results.append(self._create(values, source, now, events))
            self._emit(events)
            return outcome

    def batch_update(
        self, inputs: list[UpdateInput], source: Source, *, resolve_merged: bool = True
    ) -> BatchOutcome:
        """Update many; unknown ids and invalid inputs become per-item errors.

        An old id of a merged contact is unknown here unless ``resolve_merged``.
        """
        with self._lock:
            outcome = BatchOutcome()
            events: list[ContactEvent] = []
            now = self._now()
            for item in inputs:
                try:
                    contact = self._require(
                        item.id, item.id_property, resolve_merged=resolve_merged
                    )
                    values = self._validate(item.properties, contact_id=contact.id)
                except ApiError as exc:
                    exc.context = {"ids": [item.id]}
                    outcome.errors.append(exc)
                    continue
                self._apply(contact, values, source, now, events)
                outcome.results.append(contact)
                outcome.written.append(tuple(values))
            self._emit(events)
            return outcome

    def batch_upsert(self, inputs: list[UpdateInput], source: Source) -> BatchOutcome:
        """Update by unique property, or create when absent; results are `(contact, new)` pairs."""
        with self._lock:
            outcome = BatchOutcome()
            events: list[ContactEvent] = []
            now = self._now()
            for item in inputs:
                try:
                    contact = self._find(item.id, item.id_property)
                    if contact is None:
                        if item.id_property in (None, "", "hs_object_id"):
                            raise not_found("resource not found", ids=[item.id])
                        raw = dict(item.properties)
                        raw[item.id_property or "email"] = item.id
                        values = self._validate(raw, contact_id=None)
                        outcome.results.append((self._create(values, source, now, events), True))
                        continue
                    values = self._validate(item.properties, contact_id=contact.id)
                except ApiError as exc:
                    exc.context = {"ids": [item.id]}
                    outcome.errors.append(exc)
                    continue
                self._apply(contact, values, source, now, events)
                outcome.results.append((contact, False))
            self._emit(events)
            return outcome

    def batch_archive(self, ids: Iterable[str], source: Source) -> None:
        """Archive many; unknown ids are ignored."""
        with self._lock:
            for key in ids:
                self.archive(key, source)

    # --- subscriptions -------------------------------------------------------------------

    def _subscriber_email(self, email: str) -> str:
        email = normalise_email(email)
        if not EMAIL_RE.match(email):
            raise validation_error("Invalid email address", invalidPropertyName=["emailAddress"])
        return email

    def v3_change(
        self,
        email: str,
        subscription_id: object,
        *,
        subscribe: bool,
        legal_basis: object,
        explanation: object,
        source: Source,
    ) -> dict[str, Any]:
        """v3 subscribe/unsubscribe: no resubscribing an opted-out address, no no-op writes."""
        with self._lock:
            email = self._subscriber_email(email)
            definition = self.subscriptions.definition(subscription_id)
            basis, text = self._legal_basis(legal_basis, explanation, required=subscribe)
            sub = self.subscriptions.subscriber(email)
            state = sub.state_of(definition.id)
            opted_out = state == UNSUBSCRIBED or sub.unsubscribed_all_at is not None
            if subscribe and opted_out:
                raise validation_error(
                    "The recipient has opted out and cannot be resubscribed through this API"
                )
            if subscribe and state == SUBSCRIBED:
                raise validation_error(f"The recipient is already subscribed to {definition.id}")
            if not subscribe and opted_out:
                raise validation_error(
                    f"The recipient is already unsubscribed from {definition.id}"
                )
            self._set_states(
                email,
                [(definition.id, SUBSCRIBED if subscribe else UNSUBSCRIBED)],
                basis,
                text,
                source,
            )
            return self.subscriptions.v3_status(email, definition.id)

    def _legal_basis(
        self, legal_basis: object, explanation: object, *, required: bool
    ) -> tuple[str | None, str | None]:
        return check_legal_basis(legal_basis, explanation, required=required and self.gdpr_enabled)

    def _set_states(
        self,
        email: str,
        changes: list[tuple[str, str]],
        legal_basis: str | None,
        explanation: str | None,
        source: Source,
    ) -> list[Change]:
        now = self._now()
        out = [
            self.subscriptions.set_state(
                email,
                sub_id,
                state,
                now=iso_ms(now),
                source="SUBSCRIPTION_STATUS" if source.change_source != "EMAIL" else "EMAIL",
                legal_basis=legal_basis,
                explanation=explanation,
            )
            for sub_id, state in changes
        ]
        events: list[ContactEvent] = []
        self._sync_optout(email, source, now, events)
        self._emit(events)
        return out

    def v4_set(
        self,
        email: str,
        subscription_id: object,
        state: object,
        *,
        legal_basis: object,
        explanation: object,
        source: Source,
    ) -> dict[str, Any]:
        """v4 single status write: returns a `PublicStatus` with `setStatusSuccessReason`."""
        with self._lock:
            email = self._subscriber_email(email)
            definition = self.subscriptions.definition(subscription_id)
            if state not in V4_STATES:
                raise validation_error(
                    "statusState must be SUBSCRIBED, UNSUBSCRIBED or NOT_SPECIFIED",
                    invalidPropertyName=["statusState"],
                )
            basis, text = self._legal_basis(legal_basis, explanation, required=state == SUBSCRIBED)
            [change] = self._set_states(email, [(definition.id, str(state))], basis, text, source)
            return self.subscriptions.v4_status(email, definition.id, change.reason)

    def v4_unsubscribe_all(
        self, email: str, source: Source, brand: object = None
    ) -> list[dict[str, Any]]:
        """Opt an address out of all of a brand's email (none named: the default brand);
        `PublicStatus` per subscription type of that brand."""
        with self._lock:
            email = self._subscriber_email(email)
            now = self._now()
            changes = self.subscriptions.unsubscribe_all(
                email,
                now=iso_ms(now),
                source="PORTAL_WIDE_STATUS",
                brand=self.subscriptions.brand(brand),
            )
            events: list[ContactEvent] = []
            self._sync_optout(email, source, now, events)
            self._emit(events)
            return [
                self.subscriptions.v4_status(email, c.subscription_id, c.reason) for c in changes
            ]

    def v3_statuses(self, email: str) -> list[dict[str, Any]]:
        """v3 view of an address's statuses."""
        with self._lock:
            return self.subscriptions.v3_statuses(self._subscriber_email(email))

    def v4_statuses(self, email: str, brand: object = None) -> list[dict[str, Any]]:
        """v4 view of an address's statuses (of one brand's types; none named: the default)."""
        with self._lock:
            return self.subscriptions.v4_statuses(
                self._subscriber_email(email), self.subscriptions.brand(brand)
            )

    def v4_wide_statuses(self, email: str, brand: object = None) -> list[dict[str, Any]]:
        """v4 unsubscribe-all status of an address (of one brand; none named: the default)."""
        with self._lock:
            return self.subscriptions.v4_wide_statuses(
                self._subscriber_email(email), self.subscriptions.brand(brand)
            )

    def subscriber_contact_ids(self, email: str) -> list[str]:
        """Live contact ids that carry this address."""
        with self._lock:
            found = self._by_email.get(normalise_email(email))
            return [found] if found else []

    # --- properties ----------------------------------------------------------------------

    def property_call(self, fn: Callable[[PropertySchema], Any]) -> Any:
        """Run a schema read or write under the lock."""
        with self._lock:
            return fn(self.schema)

    def now_iso(self) -> str:
        """The clock's time in HubSpot's format."""
        return iso_ms(self._now())

    # --- control -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything, for `GET /_sandbox/state` (the sandbox is test data, so values included)."""
        with self._lock:
            return {
                "contacts": [
                    {
                        "id": c.id,
                        "properties": dict(c.properties),
                        "archived": c.archived,
                        "createdAt": iso_ms(c.created_ms),
                        "updatedAt": iso_ms(c.updated_ms),
                        "associations": {k: list(v) for k, v in c.associations.items() if v},
                    }
                    for c in sorted(self._contacts.values(), key=lambda c: int(c.id))
                ],
                "merged_ids": dict(self._aliases),
                "blocklist": sorted(self._blocklist),
                "subscriptions": self.subscriptions.snapshot(),
                "custom_properties": sorted(
                    p.name for p in self.schema.properties.values() if not p.hubspot_defined
                ),
                "blocklisted_recreations": self._recreated_blocklisted,
            }

    def contact_count(self) -> int:
        """How many records exist (archived included)."""
        with self._lock:
            return len(self._contacts)
