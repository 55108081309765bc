"""POST /webhooks/hubspot: signed batches stored before the 204, everything else refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.hubspot.signatures import V3Verifier, sign_v3
from connectors.hubspot.webhook_payloads import inbox_items
from sync.intake import build_app
from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger
from sync.serve import serving
from tests.contract.ledger_helpers import pending_webhooks
from tests.integration.intake.conftest import (
    CLIENT_SECRET,
    MAX_BODY,
    URI,
    Client,
    Harness,
    Ready,
    batch,
    receipt_key,
    webhook,
)


def samples(intake: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = intake.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def keys(ledger: SqlLedger) -> list[str]:
    return [k for k, _ in pending_webhooks(ledger, 10_000)]


def test_a_signed_batch_is_stored_and_acknowledged_with_204(intake: Harness) -> None:
    answer = intake.post_webhooks(batch(1, 2, 3))

    assert answer.status_code == 204
    assert pending_webhooks(intake.ledger, 10) == [(receipt_key(n), webhook(n)) for n in (1, 2, 3)]


def test_a_redelivered_batch_is_stored_once(intake: Harness) -> None:
    assert intake.post_webhooks(batch(1, 2)).status_code == 204
    redelivered = json.dumps([webhook(1, attemptNumber=1), webhook(2, attemptNumber=1)])

    assert intake.post_webhooks(redelivered.encode()).status_code == 204

    assert keys(intake.ledger) == [receipt_key(1), receipt_key(2)]
    seen = samples(intake)
    assert seen[("hubsync_webhook_events_received_total", ())] == 2
    assert seen[("hubsync_webhook_redeliveries_total", ())] == 2


def test_batches_of_any_length_are_accepted(intake: Harness) -> None:
    assert intake.post_webhooks(b"[]").status_code == 204
    assert intake.post_webhooks(batch(*range(1, 301))).status_code == 204
    assert len(keys(intake.ledger)) == 300


def test_the_204_comes_after_the_commit(intake: Harness) -> None:
    assert intake.post_webhooks(batch(7)).status_code == 204

    # Another connection (as another process would) sees the events at once.
    other = reopen(intake.ledger)
    try:
        assert [k for k, _ in pending_webhooks(other, 10)] == [receipt_key(7)]
    finally:
        other.close()


def reopen(ledger: SqlLedger) -> SqlLedger:
    if isinstance(ledger, SqliteLedger):
        return SqliteLedger(ledger.path)
    assert isinstance(ledger, PostgresLedger)
    return PostgresLedger(ledger.url, schema=ledger.schema)


def test_an_unreachable_ledger_answers_503_so_hubspot_retries(clock: object) -> None:
    ledger = PostgresLedger("postgresql://postgres@127.0.0.1:1/none")
    app = build_app(
        ledger,
        clock,  # type: ignore[arg-type]
        verify_webhook=V3Verifier(CLIENT_SECRET, URI),
        read_webhooks=inbox_items,
        ready=Ready(),
    )
    with serving(app) as base_url:
        harness = Harness(Client(base_url), ledger, clock, None, Ready())  # type: ignore[arg-type]
        assert harness.post_webhooks(batch(1)).status_code == 503
        ready = harness.client.get("/readyz")
    assert ready.status_code == 503
    assert "ledger" in ready.json()["reason"]


def refused_request(intake: Harness, case: str) -> dict[str, str]:
    """The headers of a request that fails the v3 check in the named way."""
    body, ts = batch(1), int(intake.now_ms())
    good = {"content-type": "application/json", "x-hubspot-request-timestamp": str(ts)}
    signed = {
        "wrong secret": sign_v3(b"another-secret", "POST", URI, body, str(ts)),
        "altered body": sign_v3(CLIENT_SECRET, "POST", URI, batch(2), str(ts)),
        "altered URL": sign_v3(CLIENT_SECRET, "POST", URI + "/x", body, str(ts)),
    }
    if case in signed:
        return {**good, "x-hubspot-signature-v3": signed[case]}
    if case in ("stale", "future"):
        moved = str(ts - 301_000 if case == "stale" else ts + 301_000)
        return {
            "content-type": "application/json",
            "x-hubspot-request-timestamp": moved,
            "x-hubspot-signature-v3": sign_v3(CLIENT_SECRET, "POST", URI, body, moved),
        }
    if case == "no timestamp":
        return {"x-hubspot-signature-v3": sign_v3(CLIENT_SECRET, "POST", URI, body, str(ts))}
    if case == "v1 only":
        return {**good, "x-hubspot-signature": "ab" * 32, "x-hubspot-signature-version": "v1"}
    return good  # no signature


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "signature_mismatch"),
        ("altered body", "signature_mismatch"),
        ("altered URL", "signature_mismatch"),
        ("stale", "stale_timestamp"),
        ("future", "future_timestamp"),
        ("no signature", "missing_signature"),
        ("no timestamp", "missing_timestamp"),
        ("v1 only", "v1_v2_only"),
    ],
)
def test_requests_without_a_valid_v3_signature_are_refused_and_counted(
    intake: Harness, case: str, reason: str
) -> None:
    headers = refused_request(intake, case)
    answer = intake.client.post("/webhooks/hubspot", content=batch(1), headers=headers)

    assert answer.status_code == 401
    assert answer.json()["reason"] == reason
    assert keys(intake.ledger) == []
    failures = samples(intake)
    assert failures[("hubsync_intake_webhook_signature_failures_total", (("reason", reason),))] == 1
    assert failures[("hubsync_webhook_signature_failures_total", ())] == 1  # in the ledger
    assert intake.ledger.counts()["webhook_signature_failures"] == 1
    assert (
        failures[
            ("hubsync_http_requests_total", (("path", "/webhooks/hubspot"), ("status", "401")))
        ]
        == 1
    )


def test_a_body_over_the_limit_is_refused_with_413(intake: Harness) -> None:
    big = batch(*range(1, 2000))
    assert len(big) > MAX_BODY
    assert intake.post_webhooks(big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    ts = intake.now_ms()
    streamed = intake.client.post(
        "/webhooks/hubspot",
        content=chunks(),
        headers={
            "x-hubspot-request-timestamp": ts,
            "x-hubspot-signature-v3": sign_v3(CLIENT_SECRET, "POST", URI, big, ts),
        },
    )
    assert streamed.status_code == 413
    assert keys(intake.ledger) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body: not valid JSON"),
        (b'{"eventId": 1}', "body: must be a JSON array of events"),
    ],
)
def test_a_signed_body_that_is_not_a_batch_is_set_aside_whole_with_204(
    intake: Harness, body: bytes, message: str
) -> None:
    answer = intake.post_webhooks(body)

    assert answer.status_code == 204  # signed: HubSpot's, and a 400 is never retried
    assert keys(intake.ledger) == []
    [aside] = intake.ledger.set_aside_webhooks()
    assert aside.problem == message
    assert intake.post_webhooks(body).status_code == 204  # a redelivery is kept once
    assert intake.ledger.webhook_states() == {"failed": 1}


def test_a_malformed_item_is_set_aside_and_the_rest_of_the_batch_is_stored(
    intake: Harness,
) -> None:
    deletion = webhook(3, subscriptionType="contact.privacyDeletion")
    body = json.dumps([webhook(1), webhook(2, portalId="x"), deletion, "not an event"]).encode()

    answer = intake.post_webhooks(body)

    assert answer.status_code == 204
    assert keys(intake.ledger) == [
        receipt_key(1),
        receipt_key(3, subscriptionType="contact.privacyDeletion"),
    ]
    aside = intake.ledger.set_aside_webhooks()
    assert [row.problem for row in aside] == [
        "portalId: must be a non-negative 64-bit integer",
        "must be a JSON object",
    ]
    assert all(row.receipt_key.startswith("malformed:") for row in aside)
    assert intake.ledger.webhook_states() == {"pending": 2, "failed": 2}
    assert samples(intake)[("hubsync_webhook_items_set_aside_total", ())] == 2

    # HubSpot's retry of the same batch stores nothing twice, the bad items included.
    assert intake.post_webhooks(body).status_code == 204
    assert intake.ledger.webhook_states() == {"pending": 2, "failed": 2}


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("propertyName", "first\\u0000name", "propertyName: must hold printable characters"),
        ("propertyValue", "Secret\\ud800", "propertyValue: must not hold NUL"),
        ("propertyValue", "Secret\\u0000", "propertyValue: must not hold NUL"),
        ("subscriptionType", "contact.creation" + "x" * 300, "subscriptionType: longer than"),
        ("sourceId", "Secret\\udfff", "sourceId: must not hold NUL"),
    ],
)
def test_an_item_hubsync_cannot_store_is_set_aside_on_both_backends(
    intake: Harness, field: str, value: str, problem: str
) -> None:
    # ``value`` is JSON text: "\\ud800" reaches json.loads as a lone surrogate.
    item = json.dumps(webhook(2, **{field: "@@VALUE@@"})).replace("@@VALUE@@", value)
    body = ("[" + json.dumps(webhook(1)) + ", " + item + "]").encode()

    answer = intake.post_webhooks(body)

    assert answer.status_code == 204
    assert keys(intake.ledger) == [receipt_key(1)]
    [aside] = intake.ledger.set_aside_webhooks()
    assert aside.problem is not None
    assert aside.problem.startswith(problem)
    assert "Secret" not in aside.problem


def test_property_values_never_reach_an_answer_or_the_metrics(intake: Harness) -> None:
    bad = json.dumps([webhook(1, objectId="Secret-anna@example.se")]).encode()
    answer = intake.post_webhooks(bad)
    assert answer.status_code == 204
    assert "Secret" not in answer.text
    assert "Secret" not in intake.client.get("/metrics").text
    [aside] = intake.ledger.set_aside_webhooks()
    assert aside.problem == "objectId: must be a non-negative 64-bit integer"
