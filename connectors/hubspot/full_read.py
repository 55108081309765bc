"""HubSpot's answers for access and portability, read into plain values (no I/O here).

``HubSpotClient.read_full_contact`` and ``subscription_statuses`` call HubSpot;
these functions turn HubSpot's JSON answers (camelCase keys, ISO 8601
timestamps, as the 2026-09 endpoints send them) into ``FullContact`` and
``SubscriptionStatuses``, treating every field as optional (reference 7.5:
parse bodies defensively).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sync.model import (
    FullContact,
    HubSpotContactId,
    PropertyVersion,
    SubscriptionStatuses,
)

ASSOCIATED_TYPES = ("companies", "deals", "tickets")
"""Object types whose associations a full read names (HubSpot's plural type names)."""

V4_STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})
WIDE_SOURCES = frozenset({"PORTAL_WIDE_STATUS", "BRAND_WIDE_STATUS"})


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _plain(item: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return item if isinstance(item, Mapping) else {}


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset) as an aware UTC time; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _version(item: Any) -> PropertyVersion:
    entry = _plain(item)
    user = entry.get("updatedByUserId")
    return PropertyVersion(
        value=str(entry.get("value") or ""),
        timestamp=_moment(entry.get("timestamp")),
        source_type=_text(entry.get("sourceType")),
        source_id=_text(entry.get("sourceId")),
        source_label=_text(entry.get("sourceLabel")),
        updated_by_user_id=user if isinstance(user, int) and not isinstance(user, bool) else None,
    )


def _associated_ids(associations: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """Ids by object type; HubSpot may list one object twice (one row per association label)."""
    out: dict[str, tuple[str, ...]] = {}
    for object_type, collection in (associations or {}).items():
        ids = dict.fromkeys(str(r["id"]) for r in association_items(collection))
        if ids:
            out[str(object_type)] = tuple(ids)
    return out


def associations_of(linked: Any) -> Mapping[str, Any]:
    """The ``associations`` member of a contact read (collections by object type)."""
    return _plain(_plain(linked).get("associations"))


def association_items(collection: Any) -> list[dict[str, str]]:
    """The associated objects of one collection or page, as ``{"id": ...}``.

    A contact read names them ``{"id", "type"}``; the association list
    (v4's shape) ``{"toObjectId", "associationTypes"}``. Both are read.
    """
    out: list[dict[str, str]] = []
    for item in _plain(collection).get("results") or []:
        entry = _plain(item)
        key = entry.get("id", entry.get("toObjectId"))
        if isinstance(key, str | int) and not isinstance(key, bool) and str(key):
            out.append({"id": str(key)})
    return out


def next_after(page: Any) -> str | None:
    """The cursor of the next page (``paging.next.after``); None on the last page."""
    after = _plain(_plain(_plain(page).get("paging")).get("next")).get("after")
    return str(after) if isinstance(after, str | int) and str(after) else None


def merged_record(record: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A batch-read record with the values and histories of a second read of the same contact."""
    return {
        **record,
        "properties": {**_plain(record.get("properties")), **_plain(extra.get("properties"))},
        "propertiesWithHistory": {
            **_plain(record.get("propertiesWithHistory")),
            **_plain(extra.get("propertiesWithHistory")),
        },
    }


def full_contact(
    record: Mapping[str, Any],
    linked: Mapping[str, Any],
    *,
    requested: str,
    withheld: tuple[str, ...] = (),
) -> FullContact:
    """A ``FullContact`` from a batch read with history and a read with associations.

    Both are HubSpot's JSON. Properties without a value and properties
    without history are left out: they hold nothing on the person.
    ``withheld`` names the sensitivity levels HubSpot did not let the token read.
    """
    properties = {
        str(name): str(value)
        for name, value in (record.get("properties") or {}).items()
        if value is not None and value != ""
    }
    history = {
        str(name): tuple(_version(e) for e in entries)
        for name, entries in (record.get("propertiesWithHistory") or {}).items()
        if entries
    }
    return FullContact(
        id=HubSpotContactId(str(record["id"])),
        requested_id=requested,
        properties=properties,
        history={k: v for k, v in history.items() if v},
        associations=_associated_ids(linked.get("associations")),
        withheld_sensitivity=withheld,
    )


def property_names(definitions: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The names in a property list, sorted and without duplicates."""
    return tuple(sorted({str(d["name"]) for d in definitions if d.get("name")}))


def v4_statuses(
    statuses: Mapping[str, Any] | None, wide: Mapping[str, Any] | None
) -> SubscriptionStatuses:
    """From one address's item of v4 ``batch/read`` and of ``batch/unsubscribe-all/read``."""
    by_id: dict[str, str] = {}
    for status in (statuses or {}).get("statuses") or []:
        state = status.get("status")
        if status.get("subscriptionId") is None:
            continue
        by_id[str(status["subscriptionId"])] = state if state in V4_STATES else "NOT_SPECIFIED"
    opted_out = any(
        w.get("status") == "UNSUBSCRIBED" for w in (wide or {}).get("wideStatuses") or []
    )
    return SubscriptionStatuses(unsubscribed_from_all=opted_out, statuses=by_id)


def brand_statuses(
    reads: Mapping[int, tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]],
) -> SubscriptionStatuses:
    """One address's statuses from the reads of each brand (business unit): ``v4_statuses`` each.

    A brand's unsubscribe-all covers that brand only (hubspot-2026.md 4.3:
    ``businessUnitId`` on the status reads; ``wideStatusType``
    ``BUSINESS_UNIT_WIDE``), so an ``UNSUBSCRIBED`` wide status counts for the
    brand it was read for, whatever its type says. The address is opted out
    from all email only when every brand read says so; otherwise
    ``unsubscribed_brands`` names the brands that do.
    """
    by_id: dict[str, str] = {}
    opted_out: list[int] = []
    for brand in sorted(reads):
        statuses, wide = reads[brand]
        one = v4_statuses(statuses, wide)
        by_id.update(one.statuses)
        if one.unsubscribed_from_all:
            opted_out.append(brand)
    return SubscriptionStatuses(
        unsubscribed_from_all=bool(reads) and len(opted_out) == len(reads),
        statuses=by_id,
        unsubscribed_brands=tuple(opted_out),
    )


def wide_opted_out(answer: Mapping[str, Any]) -> bool:
    """Whether a single unsubscribe-all read (``results`` of wide statuses) says opted out."""
    items = [w for w in answer.get("results") or [] if isinstance(w, Mapping)]
    return v4_statuses(None, {"wideStatuses": items}).unsubscribed_from_all


def single_statuses(answer: Mapping[str, Any]) -> SubscriptionStatuses:
    """From the single v4-shaped read (``statuses/{subscriberIdString}``): ``results`` of statuses.

    It says nothing of an opt-out from all email (that is
    ``unsubscribe-all``'s read), so ``unsubscribed_from_all`` is False.
    """
    items = [s for s in answer.get("results") or [] if isinstance(s, Mapping)]
    return v4_statuses({"statuses": items}, None)


def v3_statuses(answer: Mapping[str, Any]) -> SubscriptionStatuses:
    """From the single status read (``status/email/{emailAddress}``, v3's shape).

    v3 knows only ``SUBSCRIBED`` and ``NOT_SUBSCRIBED``, and ``NOT_SUBSCRIBED``
    does not tell an opt-out from no choice ever made. Reporting it as
    ``UNSUBSCRIBED`` would invent objections, so it is ``NOT_SPECIFIED``,
    except when the status comes from an opt-out of all email
    (``PORTAL_WIDE_STATUS``/``BRAND_WIDE_STATUS``), which v3 does show.
    Use the v4 API to see per-subscription opt-outs.
    """
    by_id: dict[str, str] = {}
    opted_out = False
    for status in answer.get("subscriptionStatuses") or []:
        if not isinstance(status, Mapping) or status.get("id") is None:
            continue
        wide = status.get("sourceOfStatus") in WIDE_SOURCES
        if status.get("status") == "SUBSCRIBED":
            state = "SUBSCRIBED"
        elif wide:
            state, opted_out = "UNSUBSCRIBED", True
        else:
            state = "NOT_SPECIFIED"
        by_id[str(status["id"])] = state
    return SubscriptionStatuses(unsubscribed_from_all=opted_out, statuses=by_id)
