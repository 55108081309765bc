"""The batching plan: how claimed HubSpot-bound events become as few HubSpot calls as possible.

The ledger hands out at most one event per subject, in occurrence order, so
events of one claim never depend on each other. ``by_kind`` groups them by
kind (each right has its own HubSpot calls), keeping the claim's order
within a group. Within a group, ``merge_updates`` folds the property writes
of every event into one update per contact (one batch update call for many
subjects; two events naming the same contact, after a merge say, are sent
as one input, the later value winning), and ``by_address`` gathers the
opt-outs from all email by address. Splitting into HubSpot's 100-input
requests is the connector's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from sync.model import EventKind, StoredEvent

T = TypeVar("T")


def by_kind(events: Iterable[StoredEvent]) -> dict[EventKind, list[StoredEvent]]:
    """The events grouped by kind, kinds in order of first appearance, events in claim order."""
    groups: dict[EventKind, list[StoredEvent]] = {}
    for event in events:
        groups.setdefault(event.kind, []).append(event)
    return groups


def merge_updates(
    writes: Iterable[tuple[Sequence[str], Mapping[str, str]]],
) -> dict[str, dict[str, str]]:
    """One update per contact: contact id -> property -> value, from (contact ids, values) pairs.

    A later pair overwrites the same property of the same contact.
    """
    updates: dict[str, dict[str, str]] = {}
    for contact_ids, values in writes:
        for contact_id in contact_ids:
            updates.setdefault(contact_id, {}).update(values)
    return updates


def by_address(items: Iterable[tuple[str, T]]) -> dict[str, list[T]]:
    """Items gathered under their address, addresses in order of first appearance."""
    groups: dict[str, list[T]] = {}
    for address, item in items:
        groups.setdefault(address, []).append(item)
    return groups
