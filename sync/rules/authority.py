"""Field authority: which system wins for a mapped field, in each direction.

Each mapped field names its authority (``mappings/``, DESIGN.md section 4):

==========  ==============================  ===================================
authority   a register change goes to       a HubSpot change becomes
            HubSpot (``outbound_applies``)  (``inbound_action``)
==========  ==============================  ===================================
register    yes                             a revert: HubSpot is set back to
                                            the register's value
hubspot     no                              a rectification of the register
both        yes, unless HubSpot's last      a rectification of the register,
            known change of the field       unless the register's last known
            occurred at the same time or    change of the field occurred later
            later
==========  ==============================  ===================================

With ``both`` the last writer wins, by the time each change occurred, in
both directions, so the two systems end with the same value whatever order
hubsync learns of the changes in; at the same instant HubSpot's change wins
both ways. "Last known change" is the latest occurrence time of a
rectification of that field going the other way that hubsync holds (whether
or not it has been applied yet): the register's, for a HubSpot change; the
HubSpot webhook's, for a register change. A write older than it would set
that side back to a value already replaced, so it is dropped. A revert is
sent only when the values differ (``needs_revert``).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sync.model import Authority


class InboundAction(enum.StrEnum):
    """What a HubSpot change of a mapped field becomes."""

    RECTIFY_REGISTER = "rectify_register"
    REVERT_HUBSPOT = "revert_hubspot"
    IGNORE = "ignore"


def sent_to_hubspot(authority: Authority) -> bool:
    """Whether the register's value of a field with this authority is written to HubSpot."""
    return authority is not Authority.HUBSPOT


def outbound_applies(
    authority: Authority, occurred_at: datetime, hubspot_changed_at: datetime | None
) -> bool:
    """Whether a register change of a mapped field is written to HubSpot.

    ``hubspot_changed_at`` is when HubSpot's last known change of the field
    occurred (None: hubsync knows of none). With ``both``, a register change
    that is not later than it is dropped (HubSpot wins a tie, as inbound).
    """
    if not sent_to_hubspot(authority):
        return False
    newer = hubspot_changed_at is not None and hubspot_changed_at >= occurred_at
    return not (authority is Authority.BOTH and newer)


def inbound_action(
    authority: Authority, occurred_at: datetime, register_changed_at: datetime | None
) -> InboundAction:
    """What a HubSpot change of a mapped field becomes.

    ``register_changed_at`` is when the register's last known change of the
    field occurred (None: hubsync knows of none). With ``both``, the later of
    the two changes wins; at the same instant, the HubSpot change applies.
    """
    if authority is Authority.REGISTER:
        return InboundAction.REVERT_HUBSPOT
    later = register_changed_at is not None and register_changed_at > occurred_at
    if authority is Authority.BOTH and later:
        return InboundAction.IGNORE
    return InboundAction.RECTIFY_REGISTER


def needs_revert(register_value: object, hubspot_value: str) -> bool:
    """Whether HubSpot's value differs from the register's (compared as HubSpot's text)."""
    wanted = "" if register_value is None else str(register_value)
    return wanted != hubspot_value
