"""The worker: claim -> apply -> record, and the one place that classifies errors.

Each round first runs its steps (the webhook inbox, the register's outbox,
the subscription check), then claims a batch (at most one event per
subject, in order), checks data residency, applies HubSpot-bound events to
HubSpot in batches and register-bound ones through the register connector,
then records every outcome and its audit row in one ledger transaction:

====================  ============================================================
result                what happens
====================  ============================================================
applied               ``done`` (an erasure also suppresses and scrubs the subject)
``SubjectAbsent``     ``done`` with the note ``absent``
``RateLimited``       back to ``pending`` after the window, the attempt not counted
``RegisterNotSetUp``  ``pending`` until the operator's fix, the attempt not counted
``LinkDown``          ``pending``, the attempt not counted; the HubSpot link is down
``RetryableError``    ``pending`` after backoff, or ``failed`` once attempts run out
``PermanentError``    ``failed`` (dead-lettered for an operator)
====================  ============================================================

While residency refuses (a location outside the list, or a check that
failed), only what carries no personal data goes out (an erasure of
contacts known by id, ``rules.transfer``); the rest waits, its attempt not
counted. The decisions are ``sync.rules.retry.decide``; this module logs,
audits and records them.

A ``LinkDown`` (HubSpot refuses the token: a 401, a missing scope;
``sync.rules.link``) is not the event's fault: the worker marks the HubSpot
link down in the ledger, for every worker, ``/readyz`` and ``hubsync
status``. While it is down no worker sends an event to HubSpot: they
wait (their attempts not counted, none dead-lettered), a step that met it
rests until it is up, and one worker at a time probes with a cheap call
that needs the same permission, less often the longer it lasts
(``sync.handlers.link_watch``). The probe that passes marks the link up,
and the events go by themselves.

A stop request (SIGTERM) is honoured between rounds: the round in hand is
finished and recorded, so the worker exits holding nothing.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from sync.audit import AuditEntry, Pseudonymizer
from sync.errors import HubsyncError, LinkDown, RegisterNotSetUp, SyncError
from sync.handlers.from_hubspot import HubSpotInbound
from sync.handlers.link_watch import LinkProbe, LinkWatch
from sync.handlers.residency import ResidencyGuard, Verdict
from sync.handlers.to_hubspot import Applied, HubSpotEffects, Result
from sync.handlers.webhook_facts import InboxItem
from sync.model import (
    Direction,
    ErrorClass,
    ErrorInfo,
    EventState,
    Outcome,
    StoredEvent,
)
from sync.ports import (
    Clock,
    EventAdmin,
    EventQueue,
    Fields,
    HubSpotLink,
    Register,
    Schema,
    SharedState,
    WebhookInbox,
)
from sync.rules import link
from sync.rules.link import LinkState
from sync.rules.retry import RetryPolicy, decide, error_info

log = structlog.get_logger("hubsync.worker")

RESIDENCY_RETRY = timedelta(minutes=1)  # after a refusal on location (the verdict is kept)
RESIDENCY_REFUSED = "residency_refused"  # the account is hosted outside the allowed list
RESIDENCY_UNVERIFIED = "residency_unverified"  # the check failed; retried at the guard's time
NOT_YET_HANDLED_RETRY = timedelta(minutes=5)
STEP_PAUSE = timedelta(seconds=30)
HUBSPOT_LINK_DOWN = "hubspot_link_down"  # an event held back while the link is down


def worker_id() -> str:
    """A name for this worker process, unique enough to own leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class WorkerLedger(
    EventQueue, EventAdmin, WebhookInbox, Schema, SharedState, HubSpotLink, Protocol
):
    """The ledger's roles the worker uses: the queue, retention, the inbox's expiry, closing,
    and the HubSpot link's state with its probes' turn."""


class Worker:
    """Applies events to HubSpot and to the register, round after round.

    ``steps`` run at the start of each round: taking the HubSpot webhook inbox
    (``inbox``, ``sync.handlers.from_hubspot``, through ``webhook_round``) and
    the register's outbox (``sync.handlers.outbox``) into the ledger, and the periodic
    subscription check (``sync.handlers.subscription_check``), so one loop drives
    every direction.
    """

    def __init__(
        self,
        *,
        ledger: WorkerLedger,
        effects: HubSpotEffects,
        residency: ResidencyGuard,
        fields: Fields,
        pseudonymizer: Pseudonymizer,
        clock: Clock,
        policy: RetryPolicy,
        owner: str | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=120),
        poll_interval_s: float = 1.0,
        retention: timedelta = timedelta(days=30),
        maintenance_every: timedelta = timedelta(minutes=10),
        register: Register | None = None,
        inbox: HubSpotInbound | None = None,
        steps: Sequence[Callable[[], int]] = (),
        link_probe: LinkProbe | None = None,
    ) -> None:
        self._ledger = ledger
        self._effects = effects
        self._residency = residency
        self._fields = fields
        self._pseudonymizer = pseudonymizer
        self._clock = clock
        self._policy = policy
        self.owner = owner or worker_id()
        self._batch_size = batch_size
        self._lease = lease
        self._poll_interval_s = poll_interval_s
        self._retention = retention
        self._maintenance_every = maintenance_every
        self._last_maintenance: datetime | None = None
        self._register = register
        named = [(_name(step), step) for step in steps]
        if inbox is not None:
            named.insert(0, (type(inbox).__name__, functools.partial(webhook_round, inbox)))
        self._steps = tuple(named)
        self._step_paused_until: dict[int, datetime] = {}
        self._step_problems: dict[int, str] = {}  # the register problem each step last met
        self._link_watch = LinkWatch(ledger, link_probe)
        self._link: LinkState | None = None  # the HubSpot link's state this round (None: up)
        self._steps_on_link: set[int] = set()  # steps that met the link down: they rest

    def close(self) -> None:
        """Release the ledger's and the register's connections."""
        self._ledger.close()
        if self._register is not None:
            self._register.close()

    # -- the loop ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; each round finishes before the check."""
        log.info("worker_started", worker=self.owner)
        while not stop.is_set():
            self.maintain()
            handled = self.run_once()
            if handled == 0:
                stop.wait(self._poll_interval_s)
        log.info("worker_stopped", worker=self.owner)

    def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Rounds until nothing is ready (for tests and ``--once``); returns events handled."""
        total = 0
        for _ in range(max_rounds):
            handled = self.run_once()
            if handled == 0:
                break
            total += handled
        return total

    def maintain(self) -> None:
        """Retention: scrub finished payloads past the period, forget expired receipts."""
        now = self._clock.now()
        if self._last_maintenance and now - self._last_maintenance < self._maintenance_every:
            return
        self._last_maintenance = now
        scrubbed = self._ledger.scrub_finished(now - self._retention, now)
        purged = self._ledger.purge_receipts(now)
        if scrubbed or purged:
            log.info("retention_applied", scrubbed_count=scrubbed, receipts_count=purged)

    def run_once(self) -> int:
        """One round: the steps (inbox, outbox), then claim, apply, record.

        Returns how many items it handled (webhook events, outbox entries, events).
        """
        self._link = self._link_watch.check(self._clock.now())
        handled = sum(self._run_step(i, name, step) for i, (name, step) in enumerate(self._steps))
        now = self._clock.now()
        events = self._ledger.claim(self.owner, self._batch_size, now, self._lease)
        if not events:
            return handled
        outbound = [e for e in events if e.direction is Direction.TO_HUBSPOT]
        inbound = [e for e in events if e.direction is Direction.TO_REGISTER]
        outcomes: list[Outcome] = []
        audit: list[AuditEntry] = []
        if inbound:
            self._to_register(inbound, outcomes, audit)
        if outbound and self._link is not None:
            outcomes += self._held_for_link(self._link, outbound, now)
            outbound = []
        verdict = self._residency.verdict() if outbound else None
        refused = verdict if verdict is not None and not verdict.allowed else None
        if refused is not None:
            # One residency policy for every write (sync.rules.transfer): what
            # carries personal data waits; an erasure by contact id goes.
            outbound, held = self._effects.without_personal_data(outbound)
            outcomes += self._held_back(refused, held, now)
        if outbound:
            results = self._effects.apply(outbound, ids_only=refused is not None)
            now = self._clock.now()
            down = next((r for r in results.values() if isinstance(r, LinkDown)), None)
            if down is not None:
                self._link = self._link_watch.mark_down(down, now)
            for event in outbound:
                outcome, entry = self._classify(event, results[event.seq], now)
                outcomes.append(outcome)
                if entry is not None:
                    audit.append(entry)
        lost = self._ledger.record(self.owner, outcomes, self._clock.now(), audit)
        for seq in lost:
            log.warning("lease_lost", seq=seq, worker=self.owner)
        return handled + len(events)

    def _held_back(
        self, verdict: Verdict, held: Sequence[StoredEvent], now: datetime
    ) -> list[Outcome]:
        """Events residency holds back wait, their attempts not counted, and the log says why.

        A failed check (HubSpot or the network did not say where the account
        is hosted) waits only until the guard asks again; a refusal on
        location is asked again a minute later.
        """
        if verdict.failed_check:
            until = verdict.retry_at or now + RESIDENCY_RETRY
            (log.error if verdict.permanent_failure else log.warning)(
                "residency_check_failed",
                code=verdict.error_code,
                http_status=verdict.http_status,
                retry_at=until.isoformat(),
                reason=verdict.reason,
            )
            return [_defer(e, RESIDENCY_UNVERIFIED, verdict.reason, until) for e in held]
        log.error("residency_refused", location=verdict.location, reason=verdict.reason)
        until = now + RESIDENCY_RETRY
        return [_defer(e, RESIDENCY_REFUSED, verdict.reason, until) for e in held]

    def _run_step(self, index: int, name: str, step: Callable[[], int]) -> int:
        """One step of the round; a failure is logged, the step rests a while, the round goes on.

        The rest keeps a broken register (say) from filling the log every second.
        A register that is not set up is named once (``register_not_set_up``,
        the missing table in ``reason``), again only when what is missing
        changes, and ``register_ready`` once the step works again.
        """
        now = self._clock.now()
        paused_until = self._step_paused_until.get(index)
        if paused_until is not None and now < paused_until:
            return 0
        if index in self._steps_on_link:
            if self._link is not None:
                return 0  # it rests until the link is up again
            self._steps_on_link.discard(index)
        try:
            handled = step()
        except LinkDown as exc:
            self._link = self._link_watch.mark_down(exc, self._clock.now())
            self._steps_on_link.add(index)
            return 0
        except RegisterNotSetUp as exc:
            if self._step_problems.get(index) != str(exc):
                log.error("register_not_set_up", step=name, code=exc.code, reason=str(exc))
                self._step_problems[index] = str(exc)
        except SyncError as exc:
            log.warning("worker_step_failed", step=name, code=exc.code)
        except HubsyncError as exc:
            log.error("worker_step_failed", step=name, error=type(exc).__name__)
        else:
            if self._step_problems.pop(index, None) is not None:
                log.info("register_ready", step=name)
            return handled
        self._step_paused_until[index] = now + STEP_PAUSE
        return 0

    def _held_for_link(
        self, state: LinkState, held: Sequence[StoredEvent], now: datetime
    ) -> list[Outcome]:
        """HubSpot-bound events wait for the link's next probe, their attempts not counted."""
        until = now + link.probe_every(now - state.since)
        return [_defer(e, HUBSPOT_LINK_DOWN, state.describe(), until) for e in held]

    def _to_register(
        self, events: list[StoredEvent], outcomes: list[Outcome], audit: list[AuditEntry]
    ) -> None:
        """Apply register-bound events through the register connector."""
        now = self._clock.now()
        if self._register is None:
            outcomes += [
                _defer(
                    e,
                    "no_register_connector",
                    "no register is configured",
                    now + NOT_YET_HANDLED_RETRY,
                )
                for e in events
            ]
            return
        results: dict[int, SyncError | None]
        try:
            results = self._register.apply(events)
        except SyncError as exc:  # the whole call failed (register unreachable)
            results = dict.fromkeys((e.seq for e in events), exc)
        now = self._clock.now()
        for event in events:
            error = results.get(event.seq)
            result: Result = (
                Applied("register_updated", event.field_names) if error is None else error
            )
            outcome, entry = self._classify(event, result, now, system="register")
            outcomes.append(outcome)
            if entry is not None:
                audit.append(entry)

    # -- classification ------------------------------------------------------

    def _classify(
        self, event: StoredEvent, result: Result, now: datetime, *, system: str = "hubspot"
    ) -> tuple[Outcome, AuditEntry | None]:
        """Decide (``sync.rules.retry``), then log it, build the outcome and its audit row."""
        applied = result if isinstance(result, Applied) else None
        error = None if isinstance(result, Applied) else result
        decision = decide(
            error, event.attempts, self._policy, now, note=applied.note if applied else None
        )
        outcome = Outcome(
            event.seq,
            decision.state,
            note=decision.note,
            error=decision.error,
            retry_at=decision.retry_at,
            count_attempt=decision.count_attempt,
            erased_subject=event.subject_id if applied and applied.erased else None,
            suppress=applied.suppress if applied else (),
        )
        if applied is not None:
            log.info(
                applied.action,
                event_id=event.event_id,
                kind=event.kind.value,
                note=applied.note,
                fields=list(applied.field_names),
            )
        elif error is not None:
            # Done (nothing to change) is news; a wait or a dead letter needs a look.
            (log.info if decision.state is EventState.DONE else log.warning)(
                decision.log_event,
                event_id=event.event_id,
                kind=event.kind.value,
                attempts=event.attempts,
                code=error.code,
                http_status=error.http_status,
                correlation_id=error.correlation_id,
                retry_at=decision.retry_at.isoformat() if decision.retry_at else None,
            )
        if not decision.audited:
            return outcome, None
        entry = self._audit(
            event,
            applied.action if applied else "transfer_attempted",
            decision.audit_outcome,
            now,
            field_names=applied.field_names if applied else None,
            error=error,
            system=system,
        )
        return outcome, entry

    def _audit(
        self,
        event: StoredEvent,
        action: str,
        outcome: str,
        now: datetime,
        *,
        field_names: Sequence[str] | None = None,
        error: SyncError | None = None,
        system: str = "hubspot",
    ) -> AuditEntry:
        names = tuple(field_names if field_names is not None else event.field_names)
        return AuditEntry(
            at=now,
            actor=f"worker:{self.owner}",
            action=action,
            direction=event.direction.value,
            system=system,
            subject_pseudonym=self._pseudonymizer.subject(event.subject_id),
            kind=event.kind.value,
            event_id=event.event_id,
            outcome=outcome,
            field_names=names,
            data_categories=self._fields.categories(names),
            http_status=error.http_status if error else None,
            correlation_id=error.correlation_id if error else None,
            attempt=event.attempts,
            detail=error.code if error else None,
        )


def webhook_round(inbox: HubSpotInbound) -> int:
    """One batch of the webhook inbox; returns how many of its events were finished or set aside.

    The handler carries each event out in arrival order and returns its
    error; the worker decides what the error means (``webhook_waits``). One
    that waits stops the round: that event and the ones after it keep their
    lease and come back in the same order when it ends. Any other sets the
    event aside as ``failed``, audited, until an operator replays it
    (``hubsync inbox replay``), and the round goes on. A ``LinkDown`` is
    raised once the round is recorded, for the worker to mark the link down.
    """
    work = inbox.lease()
    if work is None:
        return 0
    finished: list[str] = []
    set_aside: list[tuple[InboxItem, SyncError]] = []
    waiting: SyncError | None = None
    for item in work.items:
        error = inbox.handle(work, item)
        if error is None:
            finished.append(item.key)
        elif webhook_waits(error):
            log.warning(
                "webhook_processing_deferred",
                receipt_key=item.key,
                code=error.code,
                http_status=error.http_status,
            )
            waiting = error
            break
        else:
            log.error("webhook_not_processed", receipt_key=item.key, code=error.code)
            set_aside.append((item, error))
    handled = inbox.finish(work, finished, set_aside)
    if isinstance(waiting, LinkDown):
        raise waiting  # the worker marks the link down; this step rests until it is up
    return handled


def webhook_waits(error: SyncError) -> bool:
    """Whether a webhook event that met ``error`` waits in the inbox rather than being set aside.

    The error's class (``sync.rules.retry.error_info``) decides: what is
    retryable (HubSpot or the register unreachable, rate limited, a register
    not set up) waits; anything else needs an operator.
    """
    return error_info(error).error_class is ErrorClass.RETRYABLE


def _name(step: Callable[[], int]) -> str:
    owner = getattr(step, "__self__", None)
    return type(owner).__name__ if owner is not None else getattr(step, "__name__", "step")


def _defer(event: StoredEvent, code: str, detail: str, until: datetime) -> Outcome:
    """Back to pending without counting the attempt: nothing was sent."""
    error = ErrorInfo(ErrorClass.RETRYABLE, code, detail=detail)
    return Outcome(event.seq, EventState.PENDING, error=error, retry_at=until, count_attempt=False)
