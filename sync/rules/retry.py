"""What an attempt's result means for the event: done, retried when, or dead-lettered.

The worker is the one place that classifies outcomes; this module is the
decision it applies, pure and table-tested. Given the result of applying an
event (applied, or the ``SyncError`` that stopped it), the attempts made, the
retry policy and the time, ``decide`` returns a ``Decision``:

=====================  =====================================  ======  =================
result                 next state                             counts  audit outcome
=====================  =====================================  ======  =================
applied                ``done``, with the effect's note       yes     the note or done
``SubjectAbsent``      ``done``, note ``absent``              yes     absent
``RegisterNotSetUp``   ``pending`` after the wait it names    no      (no row)
                       (else a minute)
``RateLimited``        ``pending`` after the window (else     no      deferred, only if
                       10 s)                                          HubSpot answered
``LinkDown``           ``pending`` until the link's first     no      deferred
                       probe (``sync.rules.link``)
``TransferHeld``       ``pending`` a minute (residency        no      deferred
                       refuses what it needs to send)
``RetryableError``     ``pending`` after backoff, ``failed``  yes     retry_scheduled,
                       once attempts run out                          dead_lettered
``PermanentError``     ``failed`` (dead-lettered)             yes     dead_lettered
=====================  =====================================  ======  =================

``LinkDown`` comes first: a missing scope is also a ``PermanentError`` for
callers that can do without the call, never for the event.

Backoff is exponential with jitter (``RetryPolicy``); randomness is a function
passed in, so tests choose it, and the time is always passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sync.errors import (
    LinkDown,
    RateLimited,
    RegisterNotSetUp,
    RetryableError,
    SubjectAbsent,
    SyncError,
    TransferHeld,
)
from sync.model import ErrorClass, ErrorInfo, EventState
from sync.rules import link

Jitter = Callable[[float], float]
"""Maps a delay in seconds to the delay actually used."""

ABSENT = "absent"
"""The note of an event whose subject does not exist where it was to be applied."""

RATE_LIMIT_WAIT = timedelta(seconds=10)  # a 429 or a spent budget that named no window
REGISTER_WAIT = timedelta(minutes=1)  # a register not set up or unreachable, no wait named
TRANSFER_WAIT = timedelta(minutes=1)  # as long as the worker's residency hold (RESIDENCY_RETRY)


def equal_jitter(delay_s: float) -> float:
    """A uniformly random delay between half and all of ``delay_s`` ("equal jitter").

    Half the delay is kept so a retry never comes back almost at once, and the
    other half is spread so workers that failed together do not retry together.
    """
    return delay_s / 2 + random.uniform(0, delay_s / 2)  # noqa: S311 - not for secrets


def no_jitter(delay_s: float) -> float:
    """The delay unchanged (for tests and reproducible runs)."""
    return delay_s


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: ``base * 2**(attempts-1)``, capped, jittered.

    A retryable error that names its own wait (``Retry-After``, a rate-limit
    window) waits at least that long. Permanent errors and the last allowed
    attempt dead-letter the event.
    """

    max_attempts: int = 8
    base_s: float = 5.0
    max_delay_s: float = 3600.0
    jitter: Jitter = equal_jitter

    def delay(self, attempts: int) -> float:
        """Backoff before the next try after ``attempts`` attempts, before jitter."""
        exponent = max(attempts - 1, 0)
        return float(min(self.max_delay_s, self.base_s * (2**exponent)))

    def decide(
        self,
        attempts: int,
        error: ErrorInfo,
        now: datetime,
        retry_after_s: float | None = None,
    ) -> datetime | None:
        """When to retry, or ``None`` to dead-letter the event."""
        if error.error_class is not ErrorClass.RETRYABLE or attempts >= self.max_attempts:
            return None
        wait = self.jitter(self.delay(attempts))
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        return now + timedelta(seconds=wait)


def error_info(error: SyncError) -> ErrorInfo:
    """What the ledger keeps of an error: class, code, status, correlation id, safe text."""
    if isinstance(error, RetryableError | LinkDown | TransferHeld):  # they wait, like a 5xx
        error_class = ErrorClass.RETRYABLE
    elif isinstance(error, SubjectAbsent):
        error_class = ErrorClass.SUBJECT_ABSENT
    else:
        error_class = ErrorClass.PERMANENT
    return ErrorInfo(
        error_class=error_class,
        code=error.code,
        http_status=error.http_status,
        correlation_id=error.correlation_id,
        detail=str(error),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """How one attempt ends: the event's next state and what the audit trail says of it.

    ``retry_at`` is set when the state is ``pending``; ``count_attempt`` is
    false for a wait that was not the event's fault. ``audit_outcome`` is the
    audit row's outcome label, written only when ``audited``. ``log_event``
    names the worker's log line (``None`` for an applied effect, whose own
    action names it).
    """

    state: EventState
    audit_outcome: str
    audited: bool = True
    retry_at: datetime | None = None
    count_attempt: bool = True
    note: str | None = None
    error: ErrorInfo | None = None
    log_event: str | None = None


def decide(
    error: SyncError | None,
    attempts: int,
    policy: RetryPolicy,
    now: datetime,
    *,
    note: str | None = None,
) -> Decision:
    """The decision for one attempt; ``error`` is ``None`` when the effect was applied.

    ``note`` is an applied effect's note (``absent`` when there was nothing to
    change, say); ``attempts`` counts the attempt just made.
    """
    if error is None:
        return Decision(EventState.DONE, note or "done", note=note)
    info = error_info(error)
    if isinstance(error, SubjectAbsent):
        return Decision(EventState.DONE, ABSENT, note=ABSENT, log_event="subject_absent")
    waiting = _waiting(error, info, now)
    if waiting is not None:
        return waiting
    retry_at = None
    if isinstance(error, RetryableError):
        retry_at = policy.decide(attempts, info, now, error.retry_after_s)
    if retry_at is not None:
        return Decision(
            EventState.PENDING,
            "retry_scheduled",
            retry_at=retry_at,
            error=info,
            log_event="event_retry_scheduled",
        )
    return Decision(EventState.FAILED, "dead_lettered", error=info, log_event="event_dead_lettered")


def _waiting(error: SyncError, info: ErrorInfo, now: datetime) -> Decision | None:
    """The decision for what is not the event's fault: it waits, its attempt not counted.

    None for any other error.
    """
    if isinstance(error, LinkDown):
        # The credential, not the event: it waits for the link's first probe
        # (the worker marks the link down). HubSpot answered: audited.
        deferred = _deferred(info, now + link.FIRST_PROBE, "event_waiting_for_hubspot_link")
        return replace(deferred, audited=True)
    if isinstance(error, TransferHeld):
        # Residency refuses what finishing it needs to send: asked again later.
        deferred = _deferred(info, now + TRANSFER_WAIT, "event_held_for_residency")
        return replace(deferred, audited=True)
    if isinstance(error, RegisterNotSetUp):
        # Nothing is wrong with the event: it waits for the operator's fix
        # (named once by the step's log, /readyz, check and status) without
        # spending its attempts, so the fix lets it through, not a replay.
        wait = error.retry_after_s or REGISTER_WAIT.total_seconds()
        return _deferred(info, now + timedelta(seconds=wait), "event_waiting_for_register")
    if isinstance(error, RateLimited):
        wait = error.retry_after_s or RATE_LIMIT_WAIT.total_seconds()
        deferred = _deferred(info, now + timedelta(seconds=wait), "event_rate_limited")
        # A 429 answer is a transfer HubSpot saw, so it is audited; a spent budget sent nothing.
        return replace(deferred, audited=error.http_status is not None)
    return None


def _deferred(info: ErrorInfo, until: datetime, log_event: str) -> Decision:
    """Back to pending at ``until`` without counting the attempt, and nothing audited."""
    return Decision(
        EventState.PENDING,
        "deferred",
        audited=False,
        retry_at=until,
        count_attempt=False,
        error=info,
        log_event=log_event,
    )
