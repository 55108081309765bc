"""A signed batch is stored whole: what hubsync cannot read is set aside, never refused."""

from __future__ import annotations

import json

from tests.integration.intake.conftest import Harness, webhook


def test_a_redelivered_malformed_item_is_set_aside_once(intake: Harness) -> None:
    bad = webhook(2, objectId="x")
    assert intake.post_webhooks(json.dumps([webhook(1), bad]).encode()).status_code == 204
    again = [{**webhook(1), "attemptNumber": 1}, {**bad, "attemptNumber": 1}]

    assert intake.post_webhooks(json.dumps(again).encode()).status_code == 204

    assert intake.ledger.webhook_states() == {"pending": 1, "failed": 1}


def test_a_signed_body_of_undecodable_bytes_is_kept_set_aside(intake: Harness) -> None:
    answer = intake.post_webhooks(b"\xff\xfe[Secret")

    assert answer.status_code == 204
    [aside] = intake.ledger.set_aside_webhooks()
    assert aside.problem == "body: not valid JSON"
    assert "Secret" not in answer.text
