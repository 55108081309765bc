"""Webhooks the sandbox sends: batching, v3 signatures, payloads per action, retries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicGdprDeleteInput,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.utils.signature import Signature

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.sandbox.webhooks import sign_v1, sign_v3
from tests.integration.sandbox.helpers import Receiver, action, make_client

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
APP_ID = 54321
PORTAL_ID = 62515
VECTOR_BODY = (
    '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


def test_signing_reproduces_hubspots_test_vectors() -> None:
    v3 = sign_v3(SECRET, "POST", "https://www.example.com/webhook_uri", VECTOR_BODY, 1564113600000)
    assert v3 == "DxmVAjFNa2xfF3YgQjdZP6TNcok9k1oaH7UXombPtvw="
    assert sign_v1(SECRET, VECTOR_BODY) == (
        "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    )


def config_for(receiver: Receiver, **overrides: Any) -> SandboxConfig:
    settings: dict[str, Any] = {
        "port": 0,
        "webhook_url": receiver.url,
        "client_secret": SECRET,
        "app_id": APP_ID,
        "portal_id": PORTAL_ID,
        "webhook_batch_window_ms": 20,
        "webhook_backoff_s": 0.05,
        "webhook_max_attempts": 4,
        "webhook_timeout_s": 2.0,
    }
    settings.update(overrides)
    return SandboxConfig(**settings)


@pytest.fixture
def hooked(receiver: Receiver) -> Iterator[RunningSandbox]:
    with running_sandbox(config_for(receiver)) as running:
        yield running


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["subscriptionType"] == kind]


def test_deliveries_are_signed_arrays_that_the_official_validator_accepts(
    hooked: RunningSandbox, receiver: Receiver
) -> None:
    client = make_client(hooked)
    client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "anna@example.se", "firstname": "Ä"})
    )
    receiver.wait_for(lambda r: len(r.events()) >= 3)
    for delivery in receiver.received:
        assert delivery.path == "/webhooks/hubspot"
        assert isinstance(delivery.events, list)
        headers = {k.lower(): v for k, v in delivery.headers.items()}
        assert Signature.is_valid(
            signature=headers["x-hubspot-signature-v3"],
            client_secret=SECRET,
            request_body=delivery.body,
            http_uri=receiver.url,
            http_method="POST",
            signature_version="v3",
            timestamp=headers["x-hubspot-request-timestamp"],
        )
        assert Signature.is_valid(
            signature=headers["x-hubspot-signature"],
            client_secret=SECRET,
            request_body=delivery.body,
            signature_version="v1",
        )
        assert not Signature.is_valid(
            signature=headers["x-hubspot-signature-v3"],
            client_secret="another-secret",
            request_body=delivery.body,
            http_uri=receiver.url,
            signature_version="v3",
            timestamp=headers["x-hubspot-request-timestamp"],
        )


def test_api_create_emits_creation_and_property_changes_marked_as_the_app(
    hooked: RunningSandbox, receiver: Receiver
) -> None:
    created = make_client(hooked).crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "anna@example.se", "firstname": "A"})
    )
    receiver.wait_for(lambda r: len(r.events()) >= 3)
    events = receiver.events()
    assert len(receiver.received) == 1  # one API call, one batch
    [creation] = of_type(events, "contact.creation")
    assert creation["objectId"] == int(created.id)
    assert creation["portalId"] == PORTAL_ID
    assert creation["appId"] == APP_ID
    assert creation["attemptNumber"] == 0
    changes = {e["propertyName"]: e for e in of_type(events, "contact.propertyChange")}
    assert set(changes) == {"email", "firstname"}
    assert changes["firstname"]["propertyValue"] == "A"
    assert changes["firstname"]["changeSource"] == "INTEGRATION"
    assert changes["firstname"]["sourceId"] == str(APP_ID)
    assert len({e["eventId"] for e in events}) == len(events)


def test_user_update_emits_property_change_from_the_crm(
    hooked: RunningSandbox, receiver: Receiver
) -> None:
    contact = action(hooked, "create", properties={"email": "anna@example.se"})
    action(hooked, "update", contact_id=contact["contact_id"], properties={"lastname": "Berg"})
    receiver.wait_for(lambda r: any(e.get("propertyName") == "lastname" for e in r.events()))
    [change] = [e for e in receiver.events() if e.get("propertyName") == "lastname"]
    assert change["changeSource"] == "CRM_UI"
    assert change["sourceId"] == "userId:1"
    assert change["propertyValue"] == "Berg"
    assert change["objectId"] == int(contact["contact_id"])


def test_deletions_merge_and_restore_emit_their_events(
    hooked: RunningSandbox, receiver: Receiver
) -> None:
    a = action(hooked, "create", properties={"email": "a@example.se"})["contact_id"]
    b = action(hooked, "create", properties={"email": "b@example.se"})["contact_id"]
    c = action(hooked, "create", properties={"email": "c@example.se"})["contact_id"]
    merged = action(hooked, "merge", primary_id=a, secondary_id=b)["contact_id"]
    action(hooked, "archive", contact_id=c)
    action(hooked, "restore", contact_id=c)
    action(hooked, "gdpr_delete", contact_id=merged)
    receiver.wait_for(lambda r: len(of_type(r.events(), "contact.privacyDeletion")) == 1)
    events = receiver.events()
    [merge] = of_type(events, "contact.merge")
    assert merge["primaryObjectId"] == int(a)
    assert merge["mergedObjectIds"] == [int(b)]
    assert merge["newObjectId"] == int(merged)
    assert merge["objectId"] == int(merged)
    # The archive of c, and the deletion every GDPR delete also sends (HubSpot's changelog).
    assert [e["objectId"] for e in of_type(events, "contact.deletion")] == [int(c), int(merged)]
    assert [e["objectId"] for e in of_type(events, "contact.restore")] == [int(c)]
    assert [e["objectId"] for e in of_type(events, "contact.privacyDeletion")] == [int(merged)]


def test_api_gdpr_delete_and_form_submission_recreating_the_person(
    hooked: RunningSandbox, receiver: Receiver
) -> None:
    client = make_client(hooked)
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "anna@example.se"})
    )
    client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=created.id))
    again = action(hooked, "form_submission", email="anna@example.se", properties={})
    assert again["created"] is True
    receiver.wait_for(lambda r: len(of_type(r.events(), "contact.creation")) == 2)
    events = receiver.events()
    [deletion] = of_type(events, "contact.privacyDeletion")
    assert deletion["objectId"] == int(created.id)
    recreated = of_type(events, "contact.creation")[1]
    assert recreated["objectId"] == int(again["contact_id"])
    assert recreated["changeSource"] == "FORM"


def test_failed_delivery_is_retried_with_increasing_attempt_number(
    hooked: RunningSandbox, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    action(hooked, "create", properties={"email": "anna@example.se"})
    receiver.wait_for(lambda r: len(r.received) == 3)
    attempts = [{e["attemptNumber"] for e in r.events} for r in receiver.received]
    assert attempts == [{0}, {1}, {2}]
    ids = [[e["eventId"] for e in r.events] for r in receiver.received]
    assert ids[0] == ids[1] == ids[2]
    signatures = {r.headers["X-HubSpot-Signature-v3"] for r in receiver.received}
    assert len(signatures) == 3  # the body changed, so each attempt is signed anew


def test_delivery_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    with running_sandbox(config_for(receiver, webhook_max_attempts=2)) as running:
        action(running, "create", properties={"email": "anna@example.se"})
        receiver.wait_for(lambda r: len(r.received) == 2)
        sb = running.sandbox.webhooks
        deadline_ok = _wait(lambda: sb.counters["failed"] == 1)
        assert deadline_ok
        assert [d["status"] for d in sb.deliveries()] == [503, 503]
        assert len(receiver.received) == 2


def _wait(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_only_configured_properties_are_delivered(receiver: Receiver) -> None:
    config = config_for(receiver, webhook_properties=frozenset({"lastname"}))
    with running_sandbox(config) as running:
        client = make_client(running)
        created = client.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": "a@example.se", "firstname": "A"})
        )
        client.crm.contacts.basic_api.update(
            created.id, SimplePublicObjectInput(properties={"lastname": "B", "firstname": "C"})
        )
        receiver.wait_for(lambda r: any(e.get("propertyName") == "lastname" for e in r.events()))
        names = [
            e.get("propertyName") for e in of_type(receiver.events(), "contact.propertyChange")
        ]
        assert names == ["lastname"]


def test_many_events_are_batched_into_arrays_of_at_most_batch_size(receiver: Receiver) -> None:
    config = config_for(receiver, webhook_batch_size=10, webhook_batch_window_ms=200)
    with running_sandbox(config) as running:
        client = make_client(running)
        client.crm.contacts.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[{"properties": {"email": f"u{i}@example.se"}} for i in range(15)]
            )
        )
        receiver.wait_for(lambda r: len(r.events()) == 30)
        sizes = [len(r.events) for r in receiver.received]
        assert sizes == [10, 10, 10]


def test_webhook_target_can_be_set_through_the_control_api(receiver: Receiver) -> None:
    with running_sandbox(SandboxConfig(port=0, client_secret=SECRET)) as running:
        action(running, "create", properties={"email": "before@example.se"})
        settings = requests.post(
            f"{running.base_url}/_sandbox/webhooks",
            json={"url": receiver.url, "properties": ["email"]},
            timeout=5,
        ).json()
        assert settings["url"] == receiver.url
        assert settings["properties"] == ["email"]
        action(running, "create", properties={"email": "after@example.se", "firstname": "A"})
        receiver.wait_for(lambda r: len(r.events()) == 2)
        events = receiver.events()
        assert [e.get("propertyValue") for e in events] == [None, "after@example.se"]
        assert _wait(
            lambda: requests.get(f"{running.base_url}/_sandbox/webhooks", timeout=5).json()["idle"]
        )
        log = requests.get(f"{running.base_url}/_sandbox/webhooks", timeout=5).json()
        assert [d["status"] for d in log["deliveries"]] == [204]


def test_generic_events_are_object_types_with_the_contact_type_id(receiver: Receiver) -> None:
    with running_sandbox(config_for(receiver, webhook_generic_events=True)) as sandbox:
        contact = action(sandbox, "create", properties={"email": "g@example.se"})["contact_id"]
        action(sandbox, "gdpr_delete", contact_id=contact)
        receiver.wait_for(lambda r: len(of_type(r.events(), "contact.privacyDeletion")) == 1)
        events = receiver.events()

    [created] = of_type(events, "object.creation")
    [deleted] = of_type(events, "object.deletion")
    assert (created["objectTypeId"], deleted["objectTypeId"]) == ("0-1", "0-1")
    assert of_type(events, "contact.creation") == []
    # There is no object.privacyDeletion: HubSpot sends that one as a contact event.
    assert "objectTypeId" not in of_type(events, "contact.privacyDeletion")[0]
