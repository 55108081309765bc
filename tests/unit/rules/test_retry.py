"""Retry and classification (``sync.rules.retry``): the backoff, and what each result means.

The policy tables pin the backoff arithmetic with the jitter injected; the
classification table takes every kind of result the worker meets to the
decision it records, so the worker's outcome and audit rows follow from a
table a reader can check line by line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.hubspot.errors import ScopesMissing
from sync.errors import (
    LinkDown,
    MappingError,
    PermanentError,
    RateLimited,
    RegisterNotSetUp,
    RetryableError,
    SubjectAbsent,
    SyncError,
    TransferHeld,
)
from sync.model import ErrorClass, ErrorInfo, EventState
from sync.rules.retry import (
    Decision,
    RetryPolicy,
    decide,
    equal_jitter,
    error_info,
    no_jitter,
)

NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)
RETRYABLE = ErrorInfo(ErrorClass.RETRYABLE, "http_503", http_status=503)
PERMANENT = ErrorInfo(ErrorClass.PERMANENT, "http_403", http_status=403)
ABSENT = ErrorInfo(ErrorClass.SUBJECT_ABSENT, "not_found")
POLICY = RetryPolicy(max_attempts=5, base_s=2, max_delay_s=10, jitter=no_jitter)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


# -- the policy ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "error", "retry_after_s", "retry_at"),
    [
        (1, RETRYABLE, None, at(2)),  # base
        (2, RETRYABLE, None, at(4)),  # doubles
        (3, RETRYABLE, None, at(8)),
        (4, RETRYABLE, None, at(10)),  # capped
        (5, RETRYABLE, None, None),  # the last allowed attempt dead-letters
        (1, RETRYABLE, 30.0, at(30)),  # waits at least what the answer named
        (1, RETRYABLE, 1.0, at(2)),  # and no less than the backoff
        (5, RETRYABLE, 30.0, None),  # a named wait does not add attempts
        (1, PERMANENT, None, None),  # permanent: at once
        (1, ABSENT, None, None),
    ],
)
def test_the_policy_backs_off_exponentially_capped_and_dead_letters_when_spent(
    attempts: int, error: ErrorInfo, retry_after_s: float | None, retry_at: datetime | None
) -> None:
    assert POLICY.decide(attempts, error, NOW, retry_after_s) == retry_at


def test_the_policy_passes_the_delay_through_the_injected_jitter() -> None:
    seen: list[float] = []

    def halve(delay_s: float) -> float:
        seen.append(delay_s)
        return delay_s / 2

    policy = RetryPolicy(max_attempts=8, base_s=5.0, max_delay_s=3600.0, jitter=halve)

    retries = [policy.decide(n, RETRYABLE, NOW) for n in (1, 2, 3, 4)]

    assert seen == [5.0, 10.0, 20.0, 40.0]
    assert retries == [at(2.5), at(5), at(10), at(20)]


@pytest.mark.parametrize("delay_s", [0.0, 1.0, 5.0, 3600.0])
def test_equal_jitter_keeps_half_the_delay_and_never_exceeds_it(delay_s: float) -> None:
    waits = [equal_jitter(delay_s) for _ in range(200)]
    assert all(delay_s / 2 <= w <= delay_s for w in waits)


# -- error info ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "error_class", "code"),
    [
        (
            RetryableError("HubSpot answered 503", http_status=503),
            ErrorClass.RETRYABLE,
            "retryable",
        ),
        (RateLimited("slow down"), ErrorClass.RETRYABLE, "rate_limited"),
        (RegisterNotSetUp("no outbox table"), ErrorClass.RETRYABLE, "register_not_set_up"),
        (PermanentError("no", code="http_400"), ErrorClass.PERMANENT, "http_400"),
        (MappingError("unknown field"), ErrorClass.PERMANENT, "mapping_error"),
        (SubjectAbsent("no such contact"), ErrorClass.SUBJECT_ABSENT, "subject_absent"),
        (LinkDown("401", reason="unauthorized"), ErrorClass.RETRYABLE, "unauthorized"),
        (ScopesMissing("403", scopes=("oauth",)), ErrorClass.RETRYABLE, "missing_scopes"),
        (TransferHeld("address needed"), ErrorClass.RETRYABLE, "transfer_held"),
    ],
)
def test_error_info_keeps_the_class_code_status_and_correlation_id(
    error: SyncError, error_class: ErrorClass, code: str
) -> None:
    info = error_info(error)
    assert (info.error_class, info.code, info.http_status) == (
        error_class,
        code,
        error.http_status,
    )
    assert info.detail == str(error)


# -- classification ------------------------------------------------------------

E503 = RetryableError("HubSpot answered 503", http_status=503, correlation_id="corr-1")
E429 = RateLimited("HubSpot answered 429", http_status=429, retry_after_s=7.0)
SPENT = RateLimited("the shared budget is spent", retry_after_s=3.0)  # nothing was sent
NO_TABLE = RegisterNotSetUp("no outbox table", retry_after_s=300.0)
UNREACHABLE = RegisterNotSetUp("cannot connect", code="register_unreachable")
E400 = PermanentError("HubSpot answered 400", code="http_400", http_status=400)
GONE = SubjectAbsent("no such contact", http_status=404)
E401 = LinkDown("HubSpot answered 401", reason="unauthorized", http_status=401)
E403_SCOPES = ScopesMissing("HubSpot answered 403", scopes=("oauth",), http_status=403)
HELD = TransferHeld("only a lookup by address can tell")

PENDING, DONE, FAILED = EventState.PENDING, EventState.DONE, EventState.FAILED


@pytest.mark.parametrize(
    ("error", "note", "attempts", "state", "retry_at", "counts", "label", "audited", "log_event"),
    [
        (None, None, 1, DONE, None, True, "done", True, None),
        (None, "absent", 1, DONE, None, True, "absent", True, None),
        (None, "already_erased", 3, DONE, None, True, "already_erased", True, None),
        (GONE, None, 1, DONE, None, True, "absent", True, "subject_absent"),
        (NO_TABLE, None, 1, PENDING, at(300), False, "deferred", False,
         "event_waiting_for_register"),
        (UNREACHABLE, None, 5, PENDING, at(60), False, "deferred", False,
         "event_waiting_for_register"),  # even past the last attempt: it waits for a fix
        (E429, None, 1, PENDING, at(7), False, "deferred", True, "event_rate_limited"),
        (E429, None, 5, PENDING, at(7), False, "deferred", True, "event_rate_limited"),
        (SPENT, None, 1, PENDING, at(3), False, "deferred", False, "event_rate_limited"),
        (RateLimited("no window"), None, 1, PENDING, at(10), False, "deferred", False,
         "event_rate_limited"),
        (E401, None, 1, PENDING, at(5), False, "deferred", True,
         "event_waiting_for_hubspot_link"),  # the token, not the event: never dead-lettered
        (E401, None, 8, PENDING, at(5), False, "deferred", True,
         "event_waiting_for_hubspot_link"),
        (E403_SCOPES, None, 1, PENDING, at(5), False, "deferred", True,
         "event_waiting_for_hubspot_link"),  # a PermanentError too, but a link down first
        (HELD, None, 1, PENDING, at(60), False, "deferred", True,
         "event_held_for_residency"),  # residency, not the event: waits, never dead-lettered
        (HELD, None, 8, PENDING, at(60), False, "deferred", True, "event_held_for_residency"),
        (E503, None, 1, PENDING, at(2), True, "retry_scheduled", True, "event_retry_scheduled"),
        (E503, None, 3, PENDING, at(8), True, "retry_scheduled", True, "event_retry_scheduled"),
        (E503, None, 5, FAILED, None, True, "dead_lettered", True, "event_dead_lettered"),
        (E400, None, 1, FAILED, None, True, "dead_lettered", True, "event_dead_lettered"),
        (MappingError("no field"), None, 1, FAILED, None, True, "dead_lettered", True,
         "event_dead_lettered"),
    ],
)  # fmt: skip
def test_each_result_is_decided_as_the_table_says(
    error: SyncError | None,
    note: str | None,
    attempts: int,
    state: EventState,
    retry_at: datetime | None,
    counts: bool,
    label: str,
    audited: bool,
    log_event: str | None,
) -> None:
    decision = decide(error, attempts, POLICY, NOW, note=note)

    assert (decision.state, decision.retry_at, decision.count_attempt) == (state, retry_at, counts)
    assert (decision.audit_outcome, decision.audited, decision.log_event) == (
        label,
        audited,
        log_event,
    )


@pytest.mark.parametrize(
    ("error", "note", "stored_note", "stored_error"),
    [
        (None, None, None, None),
        (None, "absent", "absent", None),
        (GONE, None, "absent", None),  # done: nothing to keep of the error but the audit row
        (E503, None, None, error_info(E503)),
        (E429, None, None, error_info(E429)),
        (NO_TABLE, None, None, error_info(NO_TABLE)),
        (E400, None, None, error_info(E400)),
    ],
)
def test_a_decision_keeps_the_note_of_a_done_event_and_the_error_of_any_other(
    error: SyncError | None,
    note: str | None,
    stored_note: str | None,
    stored_error: ErrorInfo | None,
) -> None:
    decision = decide(error, 1, POLICY, NOW, note=note)
    assert (decision.note, decision.error) == (stored_note, stored_error)


def test_a_decision_is_a_frozen_value() -> None:
    decision = decide(None, 1, POLICY, NOW)
    assert decision == Decision(EventState.DONE, "done")
    with pytest.raises(AttributeError):
        decision.state = EventState.FAILED  # type: ignore[misc]
