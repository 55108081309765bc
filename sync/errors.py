"""Errors, sorted by what the caller does about them.

::

    HubsyncError                    root; the class docstring is the default message
    +-- ConfigurationError          fix the settings; the CLI exits 2
    +-- InvalidEvent                fix the input (nothing was stored); the CLI exits 2
    +-- SubjectUnknown              no ledger entry and no register record for the subject
    +-- SyncError                   raised while applying an event; the worker classifies
    |   +-- RetryableError          reschedule with backoff (5xx, timeouts, rate limits)
    |   |   +-- RateLimited         wait out the window the policy names
    |   |   +-- RegisterNotSetUp    wait: an operator sets the register up (names what is missing)
    |   +-- PermanentError          dead-letter for an operator (auth, validation, mapping)
    |   |   +-- MappingError        the mapping or an event's fields are wrong
    |   +-- SubjectAbsent           nothing to do: done, with a note
    |   +-- LinkDown                pause every HubSpot call until a probe passes (401, scopes)
    +-- LedgerError                 the ledger refused or could not do it
        +-- UnstorableInput         the input holds what the database cannot store; never retry
        +-- SchemaOutdated          run ``hubsync db upgrade``
        +-- EventNotFound           no such event
        +-- InvalidTransition       the event is not in a state that allows this
        +-- LeaseLost               another worker holds (or took over) the event
        +-- PayloadScrubbed         the personal data is gone (retention or erasure)

Messages never carry personal data: ids, field names, statuses and
HubSpot correlation ids only. Library exceptions are translated at the edge
with ``raise ... from exc``.
"""

from __future__ import annotations


class HubsyncError(Exception):
    """hubsync failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigurationError(HubsyncError):
    """The configuration is invalid."""

    def __init__(self, message: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        super().__init__(message)


class InvalidEvent(HubsyncError):
    """The event is not valid; nothing was stored."""

    def __init__(self, message: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        super().__init__(message)


class SubjectUnknown(HubsyncError):
    """Neither the ledger nor the register knows this subject."""


class SyncError(HubsyncError):
    """Applying an event failed.

    ``http_status`` and ``correlation_id`` come from HubSpot or the register
    when there was an answer; ``code`` is a short stable identifier.
    """

    code = "sync_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        http_status: int | None = None,
        correlation_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.http_status = http_status
        self.correlation_id = correlation_id
        self.retry_after_s = retry_after_s  # a wait the answer named (Retry-After, a window)


class RetryableError(SyncError):
    """A transient failure; the event is rescheduled with backoff."""

    code = "retryable"


class RateLimited(RetryableError):
    """HubSpot's rate limit was reached; the event waits for the window to reset."""

    code = "rate_limited"
    policy: str | None = None  # TEN_SECONDLY_ROLLING, DAILY, SECONDLY (search)


class RegisterNotSetUp(RetryableError):
    """The register is not set up: a table or its database is missing, or it cannot be reached.

    The message names the missing table and its setting (``[register]
    outbox_table``), or the setting to look at, never a value or a URL.
    ``code`` is ``register_not_set_up``, or ``register_unreachable`` when no
    connection could be opened at all.

    Retryable on purpose. Nothing is wrong with the event: the fix is the
    operator's (create the tables, start the database), and once it is made
    every waiting event should simply go through. As a ``PermanentError``
    each event of the period would be dead-lettered (and each webhook set
    aside) for a replay by hand. So events wait without spending their
    attempts (the worker defers them), with a long ``retry_after_s`` where
    the connector knows the cause is a setup, while ``hubsync check``,
    ``/readyz``, ``hubsync status`` and a single worker log line name what
    is missing, and the deadlines in ``hubsync status`` show what waits.
    """

    code = "register_not_set_up"


class PermanentError(SyncError):
    """A failure that repeating will not fix; the event is dead-lettered."""

    code = "permanent"


class MappingError(PermanentError):
    """The mapping or the event's fields are wrong."""

    code = "mapping_error"


class SubjectAbsent(SyncError):
    """The subject does not exist where the effect was to be applied; nothing to do."""

    code = "subject_absent"


class LinkDown(SyncError):
    """HubSpot refuses the credential itself: every call would fail, not just this event's.

    A 401 (the token was rotated, revoked or expired) or a 403
    ``MISSING_SCOPES`` (a scope was removed from the app), as
    ``sync.rules.link`` decides. Neither retryable (repeating the call at
    once cannot help) nor permanent (nothing is wrong with the event): the
    worker marks the link down for every worker on the ledger, sends
    nothing, keeps the events pending without counting the attempt, and
    resumes once a probe succeeds. ``reason`` is one of
    ``sync.rules.link.REASONS``; ``scopes`` the missing scopes HubSpot named.
    """

    code = "link_down"

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str,
        scopes: tuple[str, ...] = (),
        http_status: int | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(
            message, code=reason, http_status=http_status, correlation_id=correlation_id
        )
        self.reason = reason
        self.scopes = scopes


class TransferHeld(SyncError):
    """The effect needs personal data sent to HubSpot, which residency refuses for now.

    An erasure sent by contact id only (``sync.rules.transfer``) whose id
    HubSpot no longer finds may have been merged into another record: only
    a lookup by address can tell, and the address may not go. Neither done
    nor the event's fault: it waits, its attempt not counted, and is tried
    again when transfers may go.
    """

    code = "transfer_held"


class LedgerError(HubsyncError):
    """The ledger could not do what was asked."""


class UnstorableInput(LedgerError):
    """The ledger cannot store a value of the input; nothing was stored, and retrying cannot help.

    An encoding error (a lone surrogate) or a driver's data error (PostgreSQL
    text cannot hold NUL) that input validation did not catch first. The
    intake answers 422, never 5xx or "retry later"; the message names the
    error's class only, since drivers quote the value.
    """


class SchemaOutdated(LedgerError):
    """The ledger's schema is older than this hubsync; run `hubsync db upgrade`."""


class EventNotFound(LedgerError):
    """No such event."""


class InvalidTransition(LedgerError):
    """The event is not in a state that allows this."""


class LeaseLost(LedgerError):
    """The event's lease is held by another worker or has expired."""


class PayloadScrubbed(LedgerError):
    """The event's personal data has been scrubbed."""
