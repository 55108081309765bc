"""When refused webhook signatures in a row are an alarm (``/readyz``, ``hubsync status``).

A wrong ``[server] public_url`` or a proxy that rewrites the request makes
every genuine batch fail its signature, and HubSpot does not retry a 401
for long (or at all): each refusal may be a batch lost for good. One
refusal is noise (a scanner, a clock skew); ``threshold`` in a row is a
misconfiguration an operator must see.

The alarm lapses ``ALARM_WINDOW`` after the last refusal: an instance that
fails ``/readyz`` may be taken out of its load balancer, and then no good
signature can arrive to end the streak. Once the window passes it is ready
again; if the cause is still there the next refusals raise the alarm again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sync.model import SignatureStreak

ALARM_WINDOW = timedelta(minutes=15)
DEFAULT_THRESHOLD = 5


def signature_alarm(streak: SignatureStreak, now: datetime) -> str | None:
    """Why webhook signatures are an alarm now (no value from any request), or None."""
    if streak.threshold <= 0 or streak.refusals < streak.threshold or streak.last_at is None:
        return None
    if now - streak.last_at > ALARM_WINDOW:
        return None
    return (
        f"{streak.refusals} webhook requests in a row refused for their signature "
        f"(last: {streak.last_reason}); check [server] public_url and any proxy"
    )
