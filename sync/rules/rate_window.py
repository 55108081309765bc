"""HubSpot's rolling window as a budget: admit a call, or name the wait.

HubSpot counts an app's calls in a *rolling* 10-second window and refuses
(429) any call that would make more than ``limit`` in it. A budget that
spends that window exactly admits a call whenever fewer than ``limit -
margin`` calls went out in the last ``seconds``; the ``margin`` (a few
calls) covers clock skew between workers and the time between admitting a
call and HubSpot counting it. When the window is full the wait is until
enough of its calls have left it, which is the oldest's leaving when the
window holds exactly its allowance.

A call exactly ``seconds`` old has left (HubSpot's window, like the
sandbox's, keeps calls strictly younger than its span). Calls stamped in the
future (a worker whose clock runs ahead) count as in the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WINDOW_S = 10.0
"""HubSpot's ten-secondly rolling window (``X-HubSpot-RateLimit-Interval-Milliseconds``)."""

DEFAULT_MARGIN = 2
"""Calls kept unspent per window by default: skew and calls admitted but not yet counted."""


@dataclass(frozen=True)
class Admission:
    """A window's answer to one call: admitted (``wait`` 0), or how long until it may go."""

    wait: float
    blocked: bool = False
    """The wait is a block HubSpot reported (a 429, an exhausted window), not the window's own
    count: that one is at most a window long, a block may be longer."""

    @property
    def admitted(self) -> bool:
        return self.wait == 0


@dataclass(frozen=True)
class RollingWindow:
    """A rolling window of ``seconds`` admitting ``limit - margin`` calls (at least one)."""

    limit: int
    margin: int = DEFAULT_MARGIN
    seconds: float = WINDOW_S

    @property
    def allowed(self) -> int:
        """How many calls the budget lets into any one window."""
        return max(1, self.limit - self.margin)

    def wait(self, calls: Iterable[float], now: float) -> float:
        """0 when one more call may go at ``now``, else the seconds until it may.

        ``calls`` are the times (Unix seconds) of the calls already admitted;
        those that have left the window are ignored.
        """
        inside = sorted(t for t in calls if t > now - self.seconds)
        if len(inside) < self.allowed:
            return 0.0
        # The count drops below the allowance once all but allowed - 1 have left.
        leaving = inside[len(inside) - self.allowed]
        return leaving + self.seconds - now

    def frees_at(self, calls: Iterable[float], now: float) -> float:
        """When the window next frees a slot: the oldest call's leaving, or a whole window.

        What HubSpot's report of an exhausted window means for the budget: the
        calls it counts leave one by one, and when none of them is ours (another
        client spent the app's window) all have left within one window.
        """
        inside = [t for t in calls if t > now - self.seconds]
        return min(inside) + self.seconds if inside else now + self.seconds
