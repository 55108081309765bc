"""Parsing HubSpot webhook batches: typed values, unknown types kept, clear shape errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.hubspot.webhook_payloads import (
    MalformedWebhook,
    WebhookEvent,
    change_from_item,
    inbox_items,
    parse_batch,
    parse_event,
)


def item(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventId": 1,
        "subscriptionId": 12345,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1564113600000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM_UI",
        "sourceId": "userId:45678",
        "propertyName": "firstname",
        "propertyValue": "Anna",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def key(raw: dict[str, Any]) -> str:
    return parse_event(raw).receipt_key


def body(*items: Any) -> bytes:
    return json.dumps(list(items)).encode()


def test_a_property_change_is_parsed_into_a_typed_event() -> None:
    (event,) = parse_batch(body(item()))
    assert event == WebhookEvent(
        event_id=1,
        subscription_id=12345,
        portal_id=62515,
        app_id=54321,
        occurred_at=datetime(2019, 7, 26, 4, 0, tzinfo=UTC),
        subscription_type="contact.propertyChange",
        object_id=123,
        property_name="firstname",
        property_value="Anna",
        change_source="CRM_UI",
        source_id="userId:45678",
    )
    assert event.receipt_key.startswith("62515:12345:1:")  # then a digest of its identity
    assert "Anna" not in repr(event)


def test_a_merge_carries_its_object_ids() -> None:
    merge = item(
        subscriptionType="contact.merge",
        propertyName=None,
        propertyValue=None,
        primaryObjectId=10,
        mergedObjectIds=[11, 12],
        newObjectId=13,
        numberOfPropertiesMoved=4,
    )
    (event,) = parse_batch(body(merge))
    assert (event.primary_object_id, event.merged_object_ids, event.new_object_id) == (
        10,
        (11, 12),
        13,
    )
    assert event.number_of_properties_moved == 4


def test_unknown_event_types_and_fields_are_kept() -> None:
    odd = item(subscriptionType="deal.somethingNew", somethingElse={"a": 1})
    (event,) = parse_batch(body(odd))
    assert event.subscription_type == "deal.somethingNew"
    assert event.source["somethingElse"] == {"a": 1}


def test_an_empty_batch_is_valid() -> None:
    assert parse_batch(b"[]") == []


def test_inbox_items_pair_each_receipt_key_with_the_item_as_received() -> None:
    items = [item(eventId=1), item(eventId=2)]
    batch = inbox_items(body(*items))
    assert batch.items == [(key(items[0]), items[0]), (key(items[1]), items[1])]
    assert [k.split(":")[:3] for k, _ in batch.items] == [
        ["62515", "12345", "1"],
        ["62515", "12345", "2"],
    ]
    assert batch.set_aside == []


def test_inbox_items_set_a_malformed_item_aside_under_a_digest_of_it() -> None:
    bad = item(eventId="x", propertyValue="Secret")
    batch = inbox_items(body(item(eventId=1), bad))
    assert [k for k, _ in batch.items] == [key(item(eventId=1))]
    [aside] = batch.set_aside
    assert aside.item == bad
    assert aside.problem == "eventId: must be a non-negative 64-bit integer"
    assert aside.receipt_key == inbox_items(body(bad)).set_aside[0].receipt_key
    assert aside.receipt_key != inbox_items(body(item(eventId="y"))).set_aside[0].receipt_key
    assert "Secret" not in repr(aside)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "body: not valid JSON"),
        (b"\xff\xfe\xfa", "body: not valid JSON"),
        (b"[NaN]", "body: NaN is not JSON"),
        (b"{}", "body: must be a JSON array of events"),
        (b"[1]", "[0]: must be a JSON object"),
        (body(item(), item(eventId="7")), "[1].eventId: must be a non-negative 64-bit integer"),
        (body(item(eventId=True)), "[0].eventId: must be a non-negative 64-bit integer"),
        (body(item(portalId=-1)), "[0].portalId: must be a non-negative 64-bit integer"),
        (body(item(subscriptionId=2**64)), "[0].subscriptionId: must be a non-negative 64-bit"),
        (body(item(occurredAt=None)), "[0].occurredAt: is required"),
        (body(item(occurredAt=10**17)), "[0].occurredAt: must be epoch milliseconds"),
        (body(item(subscriptionType=None)), "[0].subscriptionType: is required"),
        (body(item(subscriptionType="")), "[0].subscriptionType: must not be empty"),
        (body(item(propertyValue=5)), "[0].propertyValue: must be a string"),
        (body(item(mergedObjectIds=5)), "[0].mergedObjectIds: must be an array of integers"),
        (body(item(mergedObjectIds=[1, "x"])), "[0].mergedObjectIds[1]: must be a non-neg"),
        (b"[" * 100_000 + b"]" * 100_000, "body: not valid JSON"),
    ],
)
def test_malformed_batches_are_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedWebhook) as caught:
        parse_batch(raw)
    assert str(caught.value).startswith(message)


def test_errors_never_quote_the_value() -> None:
    with pytest.raises(MalformedWebhook) as caught:
        parse_batch(body(item(propertyValue=["anna@example.se"])))
    assert "anna" not in str(caught.value)


def test_a_stored_item_becomes_the_cores_change_with_ids_as_text() -> None:
    merge = item(subscriptionType="contact.merge", primaryObjectId=11, mergedObjectIds=[22, 33],
                 newObjectId=44, objectId=44)  # fmt: skip
    change = change_from_item(merge)

    assert change.receipt_key == key(merge)
    assert change.subscription_type == "contact.merge"
    assert change.object_id == "44"
    assert (change.primary_id, change.merged_ids, change.new_id) == ("11", ("22", "33"), "44")
    assert change.occurred_at == datetime(2019, 7, 26, 4, 0, tzinfo=UTC)
    assert "Anna" not in repr(change)


def test_generic_object_events_of_contacts_read_as_contact_events() -> None:
    generic = change_from_item(item(subscriptionType="object.propertyChange", objectTypeId="0-1"))
    company = change_from_item(item(subscriptionType="object.propertyChange", objectTypeId="0-2"))

    assert generic.subscription_type == "contact.propertyChange"
    assert company.subscription_type == "object.propertyChange"


def test_a_stored_item_that_is_not_an_event_is_refused() -> None:
    with pytest.raises(MalformedWebhook, match="occurredAt"):
        change_from_item({"eventId": 1, "subscriptionId": 2, "portalId": 3})
