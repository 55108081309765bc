"""HttpRegister's error paths, served by ``responses``: statuses, timeouts, answers, signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
import structlog
from responses import matchers

from connectors.register.http import HttpRegister
from sync.errors import PermanentError, RetryableError, SubjectAbsent
from sync.model import (
    EventKind,
    NoticeKind,
    Origin,
    RegisterNotice,
    RegisterReadiness,
    SubjectId,
)
from tests.conftest import T0
from tests.integration.register.events import stored

URL = "https://register.example.test"
EVENTS = f"{URL}/v1/dsr-events"
SECRET = "unit-register-secret"
NOW = 1_796_000_000
EMAIL = "anna@example.se"


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the connector asked for between in-call retries."""
    return []


@pytest.fixture
def register(sleeps: list[float]) -> Iterator[HttpRegister]:
    """An HttpRegister with a fixed clock that does not really sleep."""
    built = HttpRegister(url=URL + "/", secret=SECRET, now=lambda: NOW, sleep=sleeps.append)
    yield built
    built.close()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """``responses`` in strict mode: every registered answer must be used."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def applied(*event_ids: str) -> dict[str, Any]:
    return {"results": [{"event_id": e, "status": "applied"} for e in event_ids]}


def opt_out(seq: int = 1, subject: str = "C-1", **kw: Any) -> Any:
    return stored(seq, EventKind.MARKETING_OPT_OUT, subject, email=EMAIL, **kw)


def test_a_batch_is_posted_signed_over_the_exact_body(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.post(EVENTS, json=applied("hs-1"))

    assert register.apply([opt_out()]) == {1: None}

    request = mocked.calls[0].request
    body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert request.headers["X-Hubsync-Signature"] == f"t={NOW},v1={expected}"
    assert request.headers["Content-Type"] == "application/json"
    sent = json.loads(body)["events"][0]
    assert sent["event_id"] == "hs-1"
    assert (sent["kind"], sent["origin"], sent["direction"]) == (
        "marketing_opt_out",
        "hubspot",
        "to_register",
    )
    assert sent["occurred_at"] == "2026-11-27T10:00:01Z"


def test_a_5xx_is_retried_in_the_call_and_then_succeeds(
    register: HttpRegister, mocked: responses.RequestsMock, sleeps: list[float]
) -> None:
    mocked.post(EVENTS, status=503)
    mocked.post(EVENTS, json=applied("hs-1"))

    assert register.apply([opt_out()]) == {1: None}
    assert len(mocked.calls) == 2
    assert len(sleeps) == 1


def test_a_5xx_that_persists_is_retryable_with_its_status(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.post(EVENTS, status=502, headers={"X-Request-Id": "req-77"})

    with pytest.raises(RetryableError) as caught:
        register.apply([opt_out()])

    assert caught.value.http_status == 502
    assert caught.value.code == "http_502"
    assert caught.value.correlation_id == "req-77"
    assert len(mocked.calls) == 3


def test_a_timeout_is_retryable_and_unreachable(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.post(EVENTS, body=requests.Timeout("read timed out"))

    with pytest.raises(RetryableError) as caught:
        register.apply([opt_out()])

    assert caught.value.code == "register_unreachable"
    assert len(mocked.calls) == 3


def test_a_short_429_is_waited_out_in_the_call_but_a_long_one_goes_back_to_the_ledger(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.post(EVENTS, status=429, headers={"Retry-After": "1"})
    mocked.post(EVENTS, json=applied("hs-1"))
    assert register.apply([opt_out()]) == {1: None}

    mocked.reset()
    mocked.post(EVENTS, status=429, headers={"Retry-After": "120"})
    with pytest.raises(RetryableError) as caught:
        register.apply([opt_out()])
    assert caught.value.retry_after_s == 120
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    ("status", "code"), [(401, "register_auth"), (403, "register_auth"), (400, "http_400")]
)
def test_a_4xx_is_permanent_and_not_retried(
    register: HttpRegister, mocked: responses.RequestsMock, status: int, code: str
) -> None:
    mocked.post(EVENTS, status=status, json={"error": f"bad value {EMAIL}"})

    with pytest.raises(PermanentError) as caught:
        register.apply([opt_out()])

    assert (caught.value.code, caught.value.http_status) == (code, status)
    assert len(mocked.calls) == 1
    assert EMAIL not in str(caught.value)


def test_a_404_from_the_events_endpoint_is_a_wrong_url_not_an_absent_subject(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.post(EVENTS, status=404)

    with pytest.raises(PermanentError) as caught:
        register.apply([opt_out()])

    assert not isinstance(caught.value, SubjectAbsent)
    assert caught.value.http_status == 404


def test_each_result_maps_to_its_own_outcome(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.post(
        EVENTS,
        json={
            "results": [
                {"event_id": "hs-1", "status": "applied"},
                {"event_id": "hs-2", "status": "absent"},
                {"event_id": "hs-3", "status": "error", "code": "locked", "retryable": True},
                {"event_id": "hs-4", "status": "error", "code": "Bad Code!", "fields": ["x", 7]},
                {"event_id": "hs-5", "status": "maybe"},
                {"event_id": "other", "status": "applied"},
            ]
        },
    )

    outcomes = register.apply([opt_out(seq, f"C-{seq}") for seq in range(1, 7)])

    assert outcomes[1] is None
    assert isinstance(outcomes[2], SubjectAbsent)
    assert outcomes[2].code == "subject_absent"
    assert isinstance(outcomes[3], RetryableError)
    assert outcomes[3].code == "locked"
    assert isinstance(outcomes[4], PermanentError)
    assert outcomes[4].code == "register_error"
    assert str(outcomes[4]).endswith("fields: x")
    assert isinstance(outcomes[5], PermanentError)
    assert outcomes[5].code == "register_bad_status"
    assert isinstance(outcomes[6], RetryableError)
    assert outcomes[6].code == "register_no_result"


@pytest.mark.parametrize("body", [b"<html>oops</html>", b'{"no": "results"}'])
def test_an_unreadable_answer_is_retryable_because_repeating_is_harmless(
    register: HttpRegister, mocked: responses.RequestsMock, body: bytes
) -> None:
    mocked.post(EVENTS, body=body, status=200)

    with pytest.raises(RetryableError) as caught:
        register.apply([opt_out()])

    assert caught.value.code == "register_bad_answer"


def test_large_batches_and_repeated_event_ids_are_split_into_several_requests(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        ids = [e["event_id"] for e in json.loads(request.body)["events"]]
        assert len(ids) == len(set(ids)) <= 100
        return 200, {}, json.dumps(applied(*ids))

    mocked.add_callback(responses.POST, EVENTS, callback=answer)
    events = [opt_out(seq, f"C-{seq}") for seq in range(1, 151)]
    # The same id from another origin cannot share hs-1's request: results are keyed by id.
    events.insert(1, opt_out(151, event_id="hs-1", origin=Origin.OPERATOR))

    outcomes = register.apply(events)

    assert outcomes == dict.fromkeys(range(1, 152))
    sizes = [len(json.loads(c.request.body or b"")["events"]) for c in mocked.calls]
    assert sizes == [1, 100, 50]


def test_record_reads_the_subject_with_its_id_escaped(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{URL}/v1/subjects/C%2F1%20x", json={"id": "C/1 x", "email": EMAIL})
    mocked.get(f"{URL}/v1/subjects/C-404", status=404)

    assert register.record("C/1 x") == {"id": "C/1 x", "email": EMAIL}
    assert register.record("C-404") is None
    first = mocked.calls[0].request
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode(), hashlib.sha256).hexdigest()
    assert first.headers["X-Hubsync-Signature"] == f"t={NOW},v1={expected}"


def test_record_failures_are_translated(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{URL}/v1/subjects/C-1", status=500)
    with pytest.raises(RetryableError):
        register.record("C-1")

    mocked.reset()
    mocked.get(f"{URL}/v1/subjects/C-1", json=["not", "an", "object"])
    with pytest.raises(PermanentError):
        register.record("C-1")


def test_notify_posts_the_notice_and_counts_a_conflict_as_delivered(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    notice = RegisterNotice(
        notice_id="n-1",
        kind=NoticeKind.CONTACT_ARCHIVED,
        occurred_at=T0,
        subject_ids=(SubjectId("C-1"),),
    )
    body = notice.as_dict()
    mocked.post(f"{URL}/v1/notices", status=202, match=[matchers.json_params_matcher(body)])
    mocked.post(f"{URL}/v1/notices", status=409)

    register.notify(notice)
    register.notify(notice)

    assert len(mocked.calls) == 2


def test_an_http_register_has_no_outbox_to_poll(register: HttpRegister) -> None:
    assert register.poll_outbox(10) == []
    register.acknowledge(["1"])


def test_settings_it_cannot_work_without_are_refused() -> None:
    with pytest.raises(ValueError, match=r"register\.url"):
        HttpRegister(url="ftp://register", secret="s")
    with pytest.raises(ValueError, match=r"register\.secret"):
        HttpRegister(url=URL, secret="")


def test_no_error_message_or_log_line_carries_an_email_or_a_value(
    register: HttpRegister, mocked: responses.RequestsMock
) -> None:
    leaky = {"error": f"{EMAIL} is invalid", "value": "Annie-Secret"}
    mocked.post(EVENTS, status=500, json=leaky)
    mocked.post(EVENTS, status=422, json=leaky)
    mocked.post(EVENTS, body=requests.ConnectionError(f"cannot reach {EMAIL}"))
    rectification = stored(
        1, EventKind.RECTIFICATION, "C-1", email=EMAIL, changes={"first_name": "Annie-Secret"}
    )

    errors: list[Exception] = []
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            try:
                register.apply([rectification])
            except (RetryableError, PermanentError) as exc:
                errors.append(exc)
                mocked.reset()
                mocked.post(EVENTS, status=422, json=leaky)
                mocked.post(EVENTS, body=requests.ConnectionError(f"cannot reach {EMAIL}"))

    assert len(errors) == 3
    assert logs
    text = " ".join(str(e) for e in errors) + json.dumps(logs, default=str)
    for secret in (EMAIL, "Annie-Secret", "@"):
        assert secret not in text


# -- readiness ------------------------------------------------------------------

PROBE = f"{URL}/v1/subjects/hubsync-readiness-probe"


@pytest.mark.parametrize("status", [404, 200])
def test_readiness_is_one_signed_get_that_a_404_or_a_200_answers_ready(
    register: HttpRegister, mocked: responses.RequestsMock, status: int
) -> None:
    mocked.get(PROBE, status=status, json={"error": "unknown_subject"})

    assert register.readiness() == RegisterReadiness()

    (call,) = mocked.calls
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode(), hashlib.sha256).hexdigest()
    assert call.request.method == "GET"
    assert call.request.headers["X-Hubsync-Signature"] == f"t={NOW},v1={expected}"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (
            requests.ConnectionError("refused"),
            "the register does not answer at [register] url (register_unreachable)",
        ),
        (
            requests.Timeout("read timed out"),
            "the register does not answer at [register] url (register_unreachable)",
        ),
        (401, "the register refused hubsync's signature (401); check [register] secret"),
        (403, "the register refused hubsync's signature (403); check [register] secret"),
        (503, "the register answered 503 ([register] url)"),
        (400, "the register answered 400 ([register] url)"),
    ],
)
def test_readiness_names_the_setting_to_look_at_in_one_attempt_and_never_the_url(
    register: HttpRegister,
    mocked: responses.RequestsMock,
    sleeps: list[float],
    answer: Exception | int,
    problem: str,
) -> None:
    if isinstance(answer, int):
        mocked.get(PROBE, status=answer, json={"error": "nope", "email": EMAIL})
    else:
        mocked.get(PROBE, body=answer)

    readiness = register.readiness()

    assert readiness.problems == (problem,)
    assert len(mocked.calls) == 1  # a probe is not retried
    assert sleeps == []
    assert URL not in problem
