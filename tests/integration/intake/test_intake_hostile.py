"""Hostile, correctly signed input: a clear 4xx naming the field, fast, the same on both backends.

The faults a fault-injection run found (issue 10), each as it was sent:
a lone surrogate in an id (500 on both backends), NUL in an id (503 "retry
later" on PostgreSQL, 202 on SQLite), and an email built to make the old
pattern backtrack (no answer for more than 21 s, ``/healthz`` frozen too).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sync.clock import FixedClock
from sync.errors import UnstorableInput
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger
from sync.model import SubmitResult
from tests.conftest import T0
from tests.integration.intake.conftest import Harness, envelope, served, webhook

MIB = 1_048_576
SECRET_MARK = "Secret"


def stored(h: Harness) -> tuple[int, dict[str, int], int]:
    """Everything a request could have left behind: events, inbox rows, audit rows."""
    events = len(h.ledger.list_events(limit=None))
    return events, h.ledger.webhook_states(), len(list(h.ledger.audit_rows()))


def raw_event(**raw: str) -> bytes:
    """An event body whose named fields are pasted in as raw JSON text (any bytes)."""
    marks = {name: f"@@{name}@@" for name in raw}
    text = json.dumps(envelope(**marks))
    for name, value in raw.items():
        text = text.replace(f'"{marks[name]}"', value)
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("field", ["subject_id", "event_id"])
@pytest.mark.parametrize(
    "value",
    [
        '"C-\\ud800"',  # a JSON escape of a lone surrogate
        '"C-\udfff"',  # the raw bytes of one (ED BF BF), which json.loads also accepts
        '"C-\\u0000-1"',  # NUL: PostgreSQL text cannot hold it
        '"C-\\u0007"',  # any other control character
        '"C-1 "',  # an id that would compare unequal to "C-1"
        '"' + "C" * 201 + '"',
    ],
    ids=["surrogate-escape", "surrogate-bytes", "nul", "bell", "trailing-space", "long"],
)
def test_an_id_hubsync_cannot_store_or_compare_is_a_422_naming_the_field(
    intake: Harness, field: str, value: str
) -> None:
    before = stored(intake)

    answer = intake.post_events(raw_event(**{field: value}))

    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["problems"]
    assert problem.startswith(f"{field}: ")
    assert stored(intake) == before


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("email", '"anna\\u0000@example.se"', "email: not a valid email address"),
        ("email", '"' + "a" * 250 + '@x.se"', "email: longer than 254 characters"),
        ("email", '"' + "a" * 65 + '@x.se"', "email: not a valid email address (local part"),
        ("changes", '{"first_name": "Secret\\ud800"}', "changes.first_name: must not hold NUL"),
        ("changes", '{"first_name": "Secret\\u0000"}', "changes.first_name: must not hold NUL"),
        ("changes", '{"first_name": NaN}', "changes.first_name: must be a finite number"),
        ("changes", '{"first\\u0000name": "Anna"}', "changes: the name of field 1 is invalid"),
        ("changes", '{"first_name": "' + "x" * 65_537 + '"}', "changes.first_name: longer"),
        ("reference", '"ticket\\u0000"', "reference: must not hold NUL"),
        ("occurred_at", '"0001-01-01T00:00:00+14:00"', "occurred_at: must be between 1970"),
        ("occurred_at", '"9999-12-31T23:59:59-10:00"', "occurred_at: must be between 1970"),
        ("occurred_at", '"2026-11-27T10:00:00' + "0" * 100 + 'Z"', "occurred_at: longer than"),
        ("subscription_ids", '["sub\\ud800"]', "subscription_ids[0]: must hold printable"),
    ],
)
def test_a_value_hubsync_cannot_store_is_a_422_that_quotes_nothing(
    intake: Harness, field: str, value: str, problem: str
) -> None:
    before = stored(intake)

    answer = intake.post_events(raw_event(**{field: value}))

    assert answer.status_code == 422, answer.text
    assert [p for p in answer.json()["problems"] if p.startswith(problem)], answer.text
    assert SECRET_MARK not in answer.text
    assert stored(intake) == before


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/events/reg%00-1", 422), ("/v1/events/reg%07", 422), ("/v1/events/reg-unknown", 404)],
)
def test_an_event_id_that_cannot_exist_is_a_422_and_an_unknown_one_a_404(
    intake: Harness, path: str, status: int
) -> None:
    assert intake.client.get(path).status_code == status


class RefusingLedger(SqliteLedger):
    """A real SQLite ledger whose ``submit`` meets a value its database refuses.

    Validation leaves nothing of the kind to reach the ledger today; this
    stands in for whatever a future driver refuses that it did not foresee.
    """

    def submit(self, *args: Any, **kwargs: Any) -> list[SubmitResult]:
        raise UnstorableInput("the ledger cannot store a value of this input (DataError)")

    def store_webhooks(self, *args: Any, **kwargs: Any) -> list[bool]:
        raise UnstorableInput("the ledger cannot store a value of this input (DataError)")


def test_a_value_the_ledger_refuses_is_a_4xx_never_a_5xx_or_retry_later(tmp_path: Any) -> None:
    ledger = RefusingLedger(tmp_path / "ledger.db")
    ledger.open(T0)
    with served(ledger, FixedClock(T0)) as harness:
        events = harness.post_events(envelope())
        hooks = harness.post_webhooks(json.dumps([webhook(1)]).encode())
    ledger.close()

    assert events.status_code == 422
    assert events.json()["problems"] == [
        "events: a value of this input cannot be stored (its characters or its size)"
    ]
    assert hooks.status_code == 400
    assert "retry" not in events.text + hooks.text


# -- one request must not freeze the server ----------------------------------


def worst_bodies() -> Iterator[tuple[str, str, bytes]]:
    """(name, endpoint, body) of about 1 MiB each, shaped to cost the most."""
    pad = MIB - 400

    def event(**fields: Any) -> bytes:
        return json.dumps(envelope(**fields)).encode()

    yield "email-backtracking", "events", event(email="a@" + "." * pad + " ")
    yield "email-dots", "events", event(email="a@" + "a." * (pad // 2))
    yield "reference-email-shape", "events", event(reference="x@" + "." * pad)
    many = {f"f{i}": "x" for i in range(70_000)}
    yield "unknown-fields", "events", json.dumps({**envelope(), **many}).encode()
    yield "changes", "events", json.dumps(envelope(changes=many)).encode()
    text = "x" * 780 + "\x01"
    events = [envelope(f"e{i}", changes={"first_name": text}) for i in range(1000)]
    yield "1000-bad-events", "events", json.dumps({"events": events}).encode()
    pad_700 = "r" * 700
    valid = [envelope(f"v{i}", subject_id=f"C-{i}", reference=pad_700) for i in range(1000)]
    yield "1000-valid-events", "events", json.dumps({"events": valid}).encode()
    erasures = [
        envelope(f"x{i}", subject_id=f"C-{i % 500}", kind="erasure", changes={}, reference=pad_700)
        for i in range(1000)
    ]
    yield "1000-valid-erasures", "events", json.dumps({"events": erasures}).encode()
    yield "deep-nesting", "events", b"[" * (MIB - 10) + b"]"
    hooks = [{**webhook(i), "portalId": "x" * 770} for i in range(1000)]
    yield "1000-bad-webhooks", "webhooks", json.dumps(hooks).encode()
    good = [webhook(i, propertyValue="v" * 770) for i in range(1000)]
    yield "1000-valid-webhooks", "webhooks", json.dumps(good).encode()
    yield "too-many-webhooks", "webhooks", json.dumps([{"a": i} for i in range(75_000)]).encode()
    value = "a@" + "." * pad
    yield "webhook-value", "webhooks", json.dumps([webhook(1, propertyValue=value)]).encode()


WORST = list(worst_bodies())


@pytest.mark.parametrize(("name", "endpoint", "body"), WORST, ids=[name for name, _, _ in WORST])
def test_a_signed_mebibyte_of_the_worst_shape_is_answered_at_once_and_healthz_meanwhile(
    large_intake: Harness, name: str, endpoint: str, body: bytes
) -> None:
    assert len(body) <= MIB
    send: Callable[[bytes], Any] = (
        large_intake.post_events if endpoint == "events" else large_intake.post_webhooks
    )
    answers: list[tuple[int, float]] = []

    def post() -> None:
        started = time.monotonic()
        answer = send(body)
        answers.append((answer.status_code, time.monotonic() - started))

    sender = threading.Thread(target=post)
    sender.start()
    health: list[float] = []
    probe = requests.Session()
    while sender.is_alive() or not health:
        started = time.monotonic()
        assert probe.get(large_intake.client.base_url + "/healthz", timeout=5).status_code == 200
        health.append(time.monotonic() - started)
    sender.join()
    probe.close()

    [(status, seconds)] = answers
    assert status < 500
    assert seconds < 2.0, f"{name}: answered in {seconds:.2f} s"
    assert max(health) < 1.0, f"{name}: /healthz took {max(health):.2f} s"


@pytest.fixture
def large_intake(ledger: SqlLedger, clock: FixedClock) -> Iterator[Harness]:
    """The intake over each backend, taking bodies up to 1 MiB."""
    with served(ledger, clock, max_body=MIB) as harness:
        yield harness
