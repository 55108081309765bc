"""When a HubSpot refusal means the link is down, what the operator reads, when to probe again.

A token that was rotated or revoked, or a scope removed from the app, makes
HubSpot refuse *every* call of that kind, whatever the event. Treated as the
event's failure, each in-flight event would be dead-lettered one by one and
need a replay by hand. So such a refusal is the link being down: nothing is
sent, events wait without spending attempts, ``/readyz``, ``hubsync status``
and ``/metrics`` say why, and a cheap probe lets the work resume by itself.

``link_down_reason`` decides (HubSpot's usage guidelines: a 401 is not a
sign that a new token must be fetched; its error-handling page: a 403 is a
missing scope or permission):

==============  =======  ==================  ==================================
answer          status   category            means
==============  =======  ==================  ==================================
the call        401      any                 link down, ``unauthorized``: the
                                             token was rotated, revoked, expired
the call        403      ``MISSING_SCOPES``  link down, ``missing_scopes``: the
                                             app lacks a scope for this call
the call        403      anything else       the event's own: a record or input
                                             this token may not touch
                                             (dead-lettered as before)
a batch item    any      any                 the event's own: HubSpot accepted
                                             the call, only this input failed
any             other    any                 not an authorisation matter
==============  =======  ==================  ==================================

A 403 of another category on the account details call is not the link's:
the residency guard already fails closed on it and holds every transfer
(``sync.handlers.residency``).

Probes come ``FIRST_PROBE`` after the link went down, then each once half
the time it has been down has passed since the last, at most ``MAX_PROBE``
apart: about 5, 10, 20, 40 s ... then every 5 minutes. A short outage is
over within seconds of the fix, a long one costs 12 calls an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

UNAUTHORIZED = "unauthorized"
MISSING_SCOPES = "missing_scopes"
REASONS = (UNAUTHORIZED, MISSING_SCOPES)
"""Every reason the HubSpot link can be down for (the metric's ``reason`` label)."""

PROBE_TURN = "hubspot_link_probe"
"""The shared turn (``SharedState.take_turn``) of the probes: one worker probes per interval."""

FIRST_PROBE = timedelta(seconds=5)
MAX_PROBE = timedelta(minutes=5)


def link_down_reason(status: int, category: str | None, *, batch_item: bool = False) -> str | None:
    """The reason an answer puts the whole HubSpot link down, or None when it is the event's.

    ``batch_item`` is set for an error inside a batch answer (HubSpot took
    the call; only that input failed), never the link's.
    """
    if batch_item:
        return None
    if status == 401:
        return UNAUTHORIZED
    if status == 403 and category == "MISSING_SCOPES":
        return MISSING_SCOPES
    return None


@dataclass(frozen=True, slots=True)
class LinkState:
    """The HubSpot link is down: why (a reason of ``REASONS``), since when, what was refused.

    ``scopes`` are the missing scopes HubSpot named (safe: scope names), the
    ones a probe must find granted. No token, value or address is kept.
    """

    reason: str
    since: datetime
    http_status: int | None = None
    scopes: tuple[str, ...] = ()

    def describe(self) -> str:
        """For the operator: what HubSpot refuses, what to do, what hubsync does meanwhile."""
        status = f" ({self.http_status})" if self.http_status is not None else ""
        if self.reason == MISSING_SCOPES:
            named = ", ".join(self.scopes) or "not named"
            cause = (
                f"HubSpot refuses hubsync's token for missing scopes{status}: {named}; "
                "grant them to the HubSpot app"
            )
        else:
            cause = (
                f"HubSpot refuses hubsync's access token{status}: it was rotated, revoked or "
                "has expired; set [hubspot] access_token to the app's current token"
            )
        return (
            f"HubSpot link down since {self.since.isoformat()}: {cause}. Nothing is sent to "
            "HubSpot and events wait (none is dead-lettered) until a probe succeeds"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``hubsync status --json``'s ``hubspot_link``)."""
        return {
            "down": True,
            "reason": self.reason,
            "since": self.since.isoformat(),
            "http_status": self.http_status,
            "scopes": list(self.scopes),
            "detail": self.describe(),
        }


LINK_UP: dict[str, Any] = {
    "down": False,
    "reason": None,
    "since": None,
    "http_status": None,
    "scopes": [],
    "detail": None,
}
"""``hubspot_link`` in ``hubsync status --json`` while the link is up."""


def probe_every(down_for: timedelta) -> timedelta:
    """How long after the last probe the next one is due, the link down for ``down_for``."""
    return min(MAX_PROBE, max(FIRST_PROBE, down_for / 2))


def readiness(ok: bool, reason: str, link: LinkState | None) -> tuple[bool, str]:
    """The intake's readiness with the link's state: not ready while it is down, and why."""
    if link is None:
        return ok, reason
    return False, link.describe() if ok else f"{link.describe()}; {reason}"
