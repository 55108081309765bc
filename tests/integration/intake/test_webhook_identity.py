"""Webhook deduplication on the event's identity: HubSpot's eventId is not unique."""

from __future__ import annotations

import json

from tests.contract.ledger_helpers import pending_webhooks
from tests.integration.intake.conftest import Harness, webhook


def post(intake: Harness, *items: dict[str, object]) -> int:
    return int(intake.post_webhooks(json.dumps(list(items)).encode()).status_code)


def test_distinct_events_sharing_an_event_id_are_all_stored(intake: Harness) -> None:
    deletion = webhook(1, subscriptionType="contact.privacyDeletion", objectId=2001)
    distinct = [
        webhook(1),
        webhook(1, objectId=2002),  # another contact
        webhook(1, occurredAt=1795780800001),  # a later change
        webhook(1, propertyName="lastname"),  # another property
        deletion,  # another type, same subscription and eventId
    ]
    assert post(intake, distinct[0]) == 204
    assert post(intake, *distinct[1:]) == 204

    assert [item for _, item in pending_webhooks(intake.ledger, 10)] == distinct


def test_a_true_redelivery_is_stored_once(intake: Harness) -> None:
    first = webhook(1)
    assert post(intake, first) == 204
    again = {**first, "attemptNumber": 3}  # what HubSpot changes when it sends it again

    assert post(intake, again, again) == 204

    assert [item for _, item in pending_webhooks(intake.ledger, 10)] == [first]
