"""Fuzzing both POST endpoints over HTTP: never a 5xx, nothing stored from an invalid request.

Hypothesis generates bodies (raw bytes, arbitrary JSON, near-valid events)
and headers (valid, forged, stale, garbage); each request goes to the app
served by uvicorn over a real SQLite ledger. More than 1,000 cases in all.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.hubspot.webhook_payloads import MalformedWebhook, parse_batch
from sync.clock import FixedClock
from sync.ledger.sqlite import SqliteLedger
from tests.conftest import T0
from tests.integration.intake.conftest import Harness, served

CASES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=20),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
WEBHOOK_FIELDS = ["eventId", "subscriptionId", "portalId", "appId", "occurredAt",
                  "subscriptionType", "attemptNumber", "objectId", "propertyName",
                  "propertyValue", "changeSource", "sourceId", "mergedObjectIds",
                  "primaryObjectId", "newObjectId"]  # fmt: skip
ids = st.one_of(st.integers(min_value=0, max_value=5), st.integers(min_value=-3, max_value=2**65))
near_webhook = st.fixed_dictionaries(
    {"eventId": ids, "subscriptionId": ids, "portalId": ids, "occurredAt": ids,
     "subscriptionType": st.sampled_from(["contact.creation", "contact.merge", "", "x.y"])},
    optional=dict.fromkeys(WEBHOOK_FIELDS[6:], json_values | ids),
)  # fmt: skip


def header_values(size: int) -> st.SearchStrategy[str]:
    """Printable header values (what an HTTP client can send at all)."""
    printable = st.characters(min_codepoint=32, max_codepoint=126)
    return st.text(alphabet=printable, max_size=size).map(str.strip) | st.sampled_from(
        ["t=1,v1=00", "t=" + "9" * 5000 + ",v1=ab", "t=1795780800,v1=" + "0" * 64]
    )


ENVELOPE_FIELDS = ["event_id", "kind", "subject_id", "occurred_at", "email", "changes",
                   "subscription_ids", "legal_basis", "reference"]  # fmt: skip
near_envelope = st.fixed_dictionaries(
    {"event_id": st.text(max_size=8), "subject_id": st.text(max_size=8),
     "kind": st.sampled_from(["erasure", "rectification", "access", "marketing_opt_in", "x"]),
     "occurred_at": st.sampled_from(["2026-11-27T10:00:00Z", "2026-11-27T10:00:00", "x", ""])},
    optional=dict.fromkeys([*ENVELOPE_FIELDS[4:], "unknown"], json_values),
)  # fmt: skip


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SqliteLedger(Path(tmp) / "fuzz.db")
        ledger.open(T0)
        with served(ledger, FixedClock(T0)) as running:
            yield running
        ledger.close()


def stored(h: Harness) -> tuple[int, int]:
    return len(h.ledger.pending_webhooks(1_000_000)), len(h.ledger.list_events(limit=None))


def valid_batch(body: bytes) -> bool:
    try:
        parse_batch(body)
    except MalformedWebhook:
        return False
    return True


def check_webhook(h: Harness, body: bytes, answer: Any, before: tuple[int, int]) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code != 204:
        assert stored(h) == before
    else:
        assert valid_batch(body)


@CASES
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_signed_webhook_bodies_of_any_shape(harness: Harness, body: bytes) -> None:
    before = stored(harness)
    answer = harness.post_webhooks(body)
    check_webhook(harness, body, answer, before)
    assert answer.status_code in (204, 400)


@CASES
@given(items=st.lists(near_webhook, max_size=5))
def test_signed_near_valid_webhook_batches(harness: Harness, items: list[dict[str, Any]]) -> None:
    body = json.dumps(items).encode()
    before = stored(harness)
    answer = harness.post_webhooks(body)
    check_webhook(harness, body, answer, before)


@CASES
@given(
    body=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from(
            [
                "x-hubspot-signature-v3",
                "x-hubspot-request-timestamp",
                "x-hubspot-signature",
                "x-hubspot-signature-version",
                "content-length",
            ]
        ),
        header_values(60),
    ),
)
def test_forged_webhook_headers_are_refused(
    harness: Harness, body: bytes, headers: dict[str, str]
) -> None:
    headers.pop("content-length", None)  # a lying length is the HTTP layer's business
    before = stored(harness)
    answer = harness.client.post("/webhooks/hubspot", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert stored(harness) == before


@CASES
@given(
    document=st.one_of(
        near_envelope,
        st.fixed_dictionaries({"events": st.lists(near_envelope, max_size=4)}),
        json_values,
    )
)
def test_signed_register_documents_of_any_shape(harness: Harness, document: Any) -> None:
    before = stored(harness)
    answer = harness.post_events(document)
    assert answer.status_code in (202, 422), answer.text
    if answer.status_code == 422:
        assert stored(harness) == before
        assert answer.json()["problems"]


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200), header=header_values(120))
def test_forged_register_signatures_are_refused(harness: Harness, body: bytes, header: str) -> None:
    before = stored(harness)
    sent = {"X-Hubsync-Signature": header}
    answer = harness.client.post("/v1/events", content=body, headers=sent)
    assert answer.status_code == 401, answer.text
    assert stored(harness) == before
