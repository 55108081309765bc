"""POST /v1/events and GET /v1/events/{id}: signed register events, validated, audited."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sync import signing
from sync.model import Direction, EventState, Origin
from tests.integration.intake.conftest import REGISTER_SECRET, Harness, envelope


def test_one_event_is_stored_for_hubspot_with_an_audit_row(intake: Harness) -> None:
    answer = intake.post_events(envelope("reg-1"))

    assert answer.status_code == 202
    assert answer.json() == {
        "events": [{"event_id": "reg-1", "state": "pending", "duplicate": False}]
    }
    (stored,) = intake.ledger.find("reg-1")
    assert (stored.origin, stored.direction) == (Origin.REGISTER, Direction.TO_HUBSPOT)
    assert stored.envelope().changes == {"first_name": "Anna"}
    (row,) = list(intake.ledger.audit_rows())
    assert (row.entry.action, row.entry.actor, row.entry.event_id) == (
        "event_submitted",
        "register",
        "reg-1",
    )
    assert "anna" not in json.dumps(row.entry.__repr__()).lower()


def test_a_batch_marks_duplicates(intake: Harness) -> None:
    intake.post_events(envelope("reg-1"))

    answer = intake.post_events(
        {"events": [envelope("reg-1"), envelope("reg-2", kind="erasure", changes={})]}
    )

    assert answer.status_code == 202
    assert answer.json()["events"] == [
        {"event_id": "reg-1", "state": "pending", "duplicate": True},
        {"event_id": "reg-2", "state": "pending", "duplicate": False},
    ]
    assert intake.ledger.find("reg-1")[0].state is EventState.SUPERSEDED


def test_invalid_events_are_refused_with_422_listing_problems_by_field(intake: Harness) -> None:
    answer = intake.post_events(
        {
            "events": [
                envelope("reg-1"),
                envelope("reg-2", email="not-an-email-anna", kind="nope"),
                envelope("reg-3", occurred_at="yesterday", changes={}, extra_field="x"),
                "anna@example.se",
            ]
        }
    )

    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert problems == [
        "events[1].kind: must be one of erasure, rectification, marketing_opt_out, "
        "marketing_opt_in, restriction, restriction_lifted, access",
        "events[2].extra_field: unknown field",
        "events[2].occurred_at: must be an ISO 8601 time (e.g. 2026-11-27T10:00:00Z)",
        "events[3]: must be a JSON object",
    ]
    assert "anna" not in answer.text
    assert intake.ledger.list_events() == []


def test_domain_rules_are_checked_too(intake: Harness) -> None:
    answer = intake.post_events(envelope("reg-1", email="nope", changes={}))
    assert answer.status_code == 422
    assert answer.json()["problems"] == [
        "email: not a valid email address",
        "changes: a rectification needs at least one field",
    ]


def test_a_body_that_is_not_json_is_refused_with_400(intake: Harness) -> None:
    assert intake.post_events(b"{nope").status_code == 400


@pytest.mark.parametrize("case", ["wrong secret", "missing", "stale", "future", "malformed"])
def test_unsigned_or_badly_signed_requests_are_refused_with_401(intake: Harness, case: str) -> None:
    body = json.dumps(envelope("reg-1")).encode()
    now = int(intake.clock.now().timestamp())
    headers = {
        "wrong secret": {signing.SIGNATURE_HEADER: signing.sign(b"other", body, now)},
        "missing": {},
        "stale": {signing.SIGNATURE_HEADER: signing.sign(REGISTER_SECRET, body, now - 301)},
        "future": {signing.SIGNATURE_HEADER: signing.sign(REGISTER_SECRET, body, now + 301)},
        "malformed": {signing.SIGNATURE_HEADER: "t=" + "9" * 5000 + ",v1=00"},
    }[case]

    answer = intake.client.post("/v1/events", content=body, headers=headers)

    assert answer.status_code == 401
    assert intake.ledger.list_events() == []


def test_an_event_is_shown_without_personal_data(intake: Harness) -> None:
    intake.post_events(envelope("reg-1"))

    shown = intake.client.get("/v1/events/reg-1")

    assert shown.status_code == 200
    assert shown.json()["state"] == "pending"
    assert shown.json()["field_names"] == ["email", "first_name"]
    assert "anna" not in shown.text.lower()
    assert intake.client.get("/v1/events/unknown").status_code == 404


def test_health_readiness_and_openapi(intake: Harness) -> None:
    assert intake.client.get("/healthz").json() == {"ok": True}
    assert intake.client.get("/readyz").status_code == 200

    intake.ready.ok, intake.ready.reason = False, "residency not verified yet"
    not_ready = intake.client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json() == {"ready": False, "reason": "residency not verified yet"}

    document = intake.client.get("/openapi.json").json()
    assert {"/webhooks/hubspot", "/v1/events"} <= set(document["paths"])


def test_metrics_parse_and_move(intake: Harness) -> None:
    intake.post_events({"events": [envelope("reg-1"), envelope("reg-2")]})
    intake.post_webhooks(b'[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":4,'
                         b'"subscriptionType":"contact.creation"}]')  # fmt: skip
    intake.client.get("/v1/events/reg-1")
    intake.client.get("/v1/events/reg-2")

    families = {
        f.name: f for f in text_string_to_metric_families(intake.client.get("/metrics").text)
    }

    def value(name: str, **labels: str) -> float:
        return next(
            s.value for s in families[name].samples
            if s.name.endswith(("_total", name)) and s.labels == labels
        )  # fmt: skip

    assert value("hubsync_register_events_received") == 2
    assert value("hubsync_webhook_events_received") == 1
    assert value("hubsync_webhook_redeliveries") == 0
    assert value("hubsync_http_requests", path="/v1/events/{event_id}", status="200") == 2
    assert value("hubsync_http_requests", path="/v1/events", status="202") == 1
    assert value("hubsync_events", kind="rectification", state="pending") == 2
    assert value("hubsync_ledger_up") == 1
