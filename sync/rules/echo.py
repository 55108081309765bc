"""Echo recognition: which of hubsync's writes it remembers, and which changes are their echoes.

HubSpot reports every change of a contact as a webhook, hubsync's own writes
included, and DESIGN.md section 4 says such an echo must not flow back to the
register. A change is an echo when HubSpot says hubsync's app made it
(``by_this_app``, read at the connector edge), or when its value is one
hubsync wrote to that property of that contact within ``ECHO_WINDOW``. What
was written is remembered as marks (contact id, key, keyed digest of the
value), never the value. Opt-outs are marked under core keys (``opt_out``,
``opt_out:<subscription id>``), the same on both sides, so neither needs
HubSpot's property names. The digest is a function passed in (the
pseudonymizer's keyed HMAC), so the rule stays pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import NamedTuple

from sync.model import HubSpotChange, OptOutChange

ECHO_WINDOW = timedelta(days=1)
"""How long a value hubsync wrote is recognised when HubSpot's webhook brings it back.

Long on purpose: HubSpot retries a webhook for a day, and a change back to the
value hubsync wrote is no news to the register anyway.
"""

Digest = Callable[[str, str], str]
"""(key, value) -> keyed digest of the value (``Pseudonymizer.value``)."""

OPTED_OUT = "opted_out"
OPTED_IN = "opted_in"


class WriteMark(NamedTuple):
    """One value hubsync wrote to a contact, as remembered: never the value itself."""

    contact_id: str
    key: str
    digest: str


def opt_out_key(subscription_id: str | None) -> str:
    """The key an opt-out is marked under: from all email, or from one subscription."""
    return "opt_out" if subscription_id is None else f"opt_out:{subscription_id}"


def written_marks(
    updates: Mapping[str, Mapping[str, str]],
    failed: Iterable[str],
    renamed: Mapping[str, str],
    digest: Digest,
) -> list[WriteMark]:
    """Marks of what a batch update wrote: each contact that did not fail, by its id after a merge.

    ``updates`` maps contact id -> property -> value as sent; ``failed`` names
    the contacts the answer reported an error for; ``renamed`` maps an id
    asked for to the id HubSpot answered with (the contact was merged, and
    its webhooks will carry the new id).
    """
    skip = set(failed)
    return [
        WriteMark(renamed.get(contact, contact), prop, digest(prop, value))
        for contact, values in updates.items()
        if contact not in skip
        for prop, value in values.items()
    ]


def opt_out_marks(
    contact_ids: Iterable[str], subscription_ids: Sequence[str], digest: Digest
) -> list[WriteMark]:
    """Marks of an opt-out hubsync made: one per subscription named, else one from all email."""
    keys = [opt_out_key(s) for s in subscription_ids] or [opt_out_key(None)]
    return [WriteMark(c, k, digest(k, OPTED_OUT)) for c in contact_ids for k in keys]


def change_mark(change: HubSpotChange, digest: Digest) -> WriteMark | None:
    """The mark that would make this property change an echo; None when it has none to compare."""
    if change.object_id is None:
        return None
    if change.opt_out is not None:
        key = opt_out_key(change.opt_out.subscription_id)
        return WriteMark(change.object_id, key, digest(key, _opt_out_value(change.opt_out)))
    if change.property_name is None:
        return None
    name = change.property_name
    return WriteMark(change.object_id, name, digest(name, change.property_value or ""))


def is_echo(change: HubSpotChange, written: bool) -> bool:
    """Whether a property change is hubsync's own write coming back.

    ``written`` is whether its mark (``change_mark``) was found among those
    hubsync remembers.
    """
    return change.by_this_app or written


def _opt_out_value(opt_out: OptOutChange) -> str:
    return OPTED_OUT if opt_out.opted_out else OPTED_IN
