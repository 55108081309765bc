"""The HubSpot link as one worker sees it: down (shared in the ledger), probed, restored.

A ``LinkDown`` (HubSpot refuses the token: a 401, a missing scope;
``sync.rules.link`` decides) is marked in the ledger for every worker,
``/readyz`` and ``hubsync status``. While it is down, one worker at a time
probes (the shared turn ``link.PROBE_TURN``) with a cheap call that needs what
was refused, less often the longer it lasts; the probe that passes marks the
link up. The worker asks ``check`` once per round and holds HubSpot-bound
events while it answers a state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from sync.errors import LinkDown, SyncError
from sync.ports import HubSpotLink, SharedState
from sync.rules import link
from sync.rules.link import LinkState

log = structlog.get_logger("hubsync.worker")

LinkProbe = Callable[[Sequence[str]], Sequence[str]]
"""scopes -> those of them the token still lacks (empty: none), by cheap calls that need them.

Raises ``LinkDown`` while HubSpot still refuses the token, another
``SyncError`` when it cannot tell now. Given no scopes, it makes one cheap
call every event needs (a contact read). ``HubSpotClient.missing_scopes``,
wired by ``sync.bootstrap``.
"""


class LinkLedger(HubSpotLink, SharedState, Protocol):
    """The ledger's roles the watch uses: the link's state and the probes' turn."""


class LinkWatch:
    """Whether the HubSpot link is down for this round, and the probes that bring it back."""

    def __init__(self, ledger: LinkLedger, probe: LinkProbe | None) -> None:
        self._ledger = ledger
        self._probe = probe
        self._probed = False  # whether this worker has probed (or just met the refusal)

    def check(self, now: datetime) -> LinkState | None:
        """The link's state for this round (None: up), after a probe when one is due.

        The state is in the ledger, so a link another worker marked down
        pauses this one too; the probes' turn is shared, so one worker
        probes per interval (``sync.rules.link.probe_every``).
        """
        state = self._ledger.hubspot_link()
        if state is None:
            return None
        every = link.probe_every(now - state.since)
        # A worker just started probes at once: it may be the restart with the new token.
        if not self._ledger.take_turn(link.PROBE_TURN, every, now) and self._probed:
            return state
        self._probed = True
        return self._run_probe(state, now)

    def mark_down(self, error: LinkDown, now: datetime) -> LinkState:
        """Mark the link down for every worker; the first worker to see it logs the error."""
        state = LinkState(error.reason, now, error.http_status, error.scopes)
        self._probed = True  # it has just answered: the first probe waits its interval
        if self._ledger.mark_hubspot_link_down(state):
            log.error(
                "hubspot_link_down",
                reason=error.reason,
                http_status=error.http_status,
                scopes=list(error.scopes),
                correlation_id=error.correlation_id,
                detail=state.describe(),
            )
        return self._ledger.hubspot_link() or state

    def _run_probe(self, state: LinkState, now: datetime) -> LinkState | None:
        """Ask HubSpot with a cheap call that needs what was refused; mark the link up if it works.

        Without a probe (a worker built without one) the next events are the probe.
        """
        try:
            missing = list(self._probe(state.scopes)) if self._probe else []
        except LinkDown as exc:
            still = LinkState(exc.reason, state.since, exc.http_status, exc.scopes)
        except SyncError as exc:  # HubSpot or the network did not answer: nothing learned
            log.warning("hubspot_link_probe_failed", code=exc.code, http_status=exc.http_status)
            return state
        else:
            if not missing:
                if self._ledger.mark_hubspot_link_up():
                    down_s = round((now - state.since).total_seconds())
                    log.info("hubspot_link_restored", reason=state.reason, down_s=down_s)
                return None
            still = LinkState(link.MISSING_SCOPES, state.since, 403, tuple(missing))
        if still != state:
            self._ledger.mark_hubspot_link_down(still)
        log.warning(
            "hubspot_link_still_down",
            reason=still.reason,
            http_status=still.http_status,
            scopes=list(still.scopes),
        )
        return still
