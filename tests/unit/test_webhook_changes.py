"""HubSpot's webhook vocabulary ends at the connector: each item read as a change in core terms."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.hubspot.webhook_payloads import change_from_item
from sync.model import ChangeKind, OptOutChange

APP_ID = 54321


def item(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventId": 1,
        "subscriptionId": 12345,
        "portalId": 62515,
        "occurredAt": 1564113600000,
        "subscriptionType": "contact.propertyChange",
        "objectId": 123,
        "changeSource": "CRM_UI",
        "sourceId": "userId:45678",
        "propertyName": "firstname",
        "propertyValue": "Anna",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize(
    ("subscription_type", "object_type", "kind"),
    [
        ("contact.propertyChange", None, ChangeKind.PROPERTY_CHANGED),
        ("contact.creation", None, ChangeKind.CREATED),
        ("contact.privacyDeletion", None, ChangeKind.ERASED),
        ("contact.deletion", None, ChangeKind.ARCHIVED),
        ("contact.merge", None, ChangeKind.MERGED),
        ("object.propertyChange", "0-1", ChangeKind.PROPERTY_CHANGED),
        ("object.creation", "0-1", ChangeKind.CREATED),
        ("object.propertyChange", "0-2", ChangeKind.OTHER),
        ("deal.creation", None, ChangeKind.OTHER),
        ("contact.associationChange", None, ChangeKind.OTHER),
    ],
)
def test_subscription_types_become_change_kinds(
    subscription_type: str, object_type: str | None, kind: ChangeKind
) -> None:
    change = change_from_item(item(subscriptionType=subscription_type, objectTypeId=object_type))
    assert change.kind is kind


@pytest.mark.parametrize(
    ("source_id", "change_source", "app_id", "by_this_app"),
    [
        (str(APP_ID), "INTEGRATION", APP_ID, True),
        (str(APP_ID), "API", APP_ID, True),
        (str(APP_ID), None, APP_ID, True),
        (str(APP_ID), "CRM_UI", APP_ID, False),  # the same number naming something else
        ("userId:45678", "CRM_UI", APP_ID, False),
        ("999", "INTEGRATION", APP_ID, False),  # another app
        (str(APP_ID), "INTEGRATION", None, False),  # hubsync's app id not configured
        (None, None, APP_ID, False),
    ],
)
def test_a_change_made_by_hubsyncs_own_app_is_marked_as_such(
    source_id: str | None, change_source: str | None, app_id: int | None, by_this_app: bool
) -> None:
    raw = item(sourceId=source_id, changeSource=change_source)
    assert change_from_item(raw, app_id=app_id).by_this_app is by_this_app


@pytest.mark.parametrize(
    ("name", "value", "opt_out"),
    [
        ("hs_email_optout", "true", OptOutChange(opted_out=True)),
        ("hs_email_optout", "TRUE", OptOutChange(opted_out=True)),
        ("hs_email_optout", "false", OptOutChange(opted_out=False)),
        ("hs_email_optout", None, OptOutChange(opted_out=False)),
        ("hs_email_optout_4711", "true", OptOutChange(True, "4711")),
        ("hs_email_optout_4711", "false", OptOutChange(False, "4711")),
        ("hs_email_optoutx", "true", None),
        ("firstname", "true", None),
        ("email", "anna@example.se", None),
    ],
)
def test_opt_out_properties_become_opt_out_changes(
    name: str, value: str | None, opt_out: OptOutChange | None
) -> None:
    change = change_from_item(item(propertyName=name, propertyValue=value))
    assert change.opt_out == opt_out


@pytest.mark.parametrize(
    ("subscription_type", "name", "changes_email"),
    [
        ("contact.propertyChange", "email", True),
        ("contact.propertyChange", "firstname", False),
        ("contact.creation", "email", False),
        ("object.propertyChange", "email", False),  # not a contact (no object type)
    ],
)
def test_a_change_of_the_email_address_is_named(
    subscription_type: str, name: str, changes_email: bool
) -> None:
    change = change_from_item(item(subscriptionType=subscription_type, propertyName=name))
    assert change.changes_email is changes_email


def test_the_property_value_stays_out_of_the_repr() -> None:
    change = change_from_item(item(propertyName="email", propertyValue="anna@example.se"))
    assert change.property_value == "anna@example.se"
    assert "anna" not in repr(change)
