"""Properties v3 (contacts), property groups, and account info with its residency fields."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from hubspot.crm.properties.exceptions import NotFoundException as PropertyNotFound

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import running_sandbox
from tests.integration.sandbox.helpers import make_client

RESTRICTION = PropertyCreate(
    name="hubsync_restricted",
    label="Processing restricted (GDPR Art. 18)",
    type="enumeration",
    field_type="booleancheckbox",
    group_name="contactinformation",
    options=[
        {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
        {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
    ],
)


def test_properties_list_and_read_builtins(client: HubSpot) -> None:
    api = client.crm.properties.core_api
    names = {p.name for p in api.get_all("contacts").results}
    assert {"email", "hs_legal_basis", "hs_email_optout", "hs_email_optout_1002"} <= names
    email = api.get_by_name("contacts", "email")
    assert email.has_unique_value is True
    with pytest.raises(PropertyNotFound):
        api.get_by_name("contacts", "no_such_property")


def test_created_property_is_listed_and_writable_on_contacts(client: HubSpot) -> None:
    created = client.crm.properties.core_api.create("contacts", RESTRICTION)
    assert created.name == "hubsync_restricted"
    assert created.hubspot_defined is None
    got = client.crm.properties.core_api.get_by_name("contacts", "hubsync_restricted")
    assert got.label == RESTRICTION.label
    contact = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "a@example.se"})
    )
    client.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"hubsync_restricted": "true"})
    )
    read = client.crm.contacts.basic_api.get_by_id(contact.id, properties=["hubsync_restricted"])
    assert read.properties["hubsync_restricted"] == "true"


def test_creating_an_existing_property_is_409(client: HubSpot) -> None:
    client.crm.properties.core_api.create("contacts", RESTRICTION)
    with pytest.raises(PropertiesApiException) as err:
        client.crm.properties.core_api.create("contacts", RESTRICTION)
    assert err.value.status == 409
    assert "already exists" in json.loads(err.value.body)["message"]


def test_invalid_property_definitions_are_400(client: HubSpot) -> None:
    bad = PropertyCreate(
        name="x", label="X", type="string", field_type="text", group_name="no_such_group"
    )
    with pytest.raises(PropertiesApiException) as err:
        client.crm.properties.core_api.create("contacts", bad)
    assert err.value.status == 400


def test_property_groups_list_read_and_create(client: HubSpot) -> None:
    api = client.crm.properties.groups_api
    assert "contactinformation" in {g.name for g in api.get_all("contacts").results}
    created = api.create("contacts", PropertyGroupCreate(name="hubsync", label="hubsync"))
    assert created.name == "hubsync"
    assert api.get_by_name("contacts", "hubsync").label == "hubsync"
    with pytest.raises(PropertiesApiException) as err:
        api.create("contacts", PropertyGroupCreate(name="hubsync", label="again"))
    assert err.value.status == 409


def test_account_details_report_the_configured_residency() -> None:
    config = SandboxConfig(port=0, hosting_location="na1", portal_id=777)
    with running_sandbox(config) as running:
        response = make_client(running).api_request(
            {"method": "GET", "path": "/account-info/v3/details"}
        )
        body = response.json()
        assert response.status_code == 200
        assert body["dataHostingLocation"] == "na1"
        assert body["portalId"] == 777
        assert body["uiDomain"] == "app.hubspot.com"
        assert "X-HubSpot-RateLimit-Remaining" in response.headers


def test_account_details_default_to_eu1(client: HubSpot) -> None:
    body = client.api_request({"method": "GET", "path": "/account-info/v3/details"}).json()
    assert body["dataHostingLocation"] == "eu1"
    assert body["uiDomain"] == "app-eu1.hubspot.com"
    usage = client.api_request(
        {"method": "GET", "path": "/account-info/v3/api-usage/daily/private-apps"}
    ).json()
    assert usage["results"][0]["currentUsage"] >= 1


def test_an_option_without_display_order_is_400_naming_it(client: HubSpot) -> None:
    """2026-09's OptionInput requires label, value, displayOrder and hidden."""
    bad = PropertyCreate(
        name="hubsync_no_order",
        label="No order",
        type="enumeration",
        field_type="booleancheckbox",
        group_name="contactinformation",
        options=[{"label": "Yes", "value": "true", "hidden": False}],
    )
    with pytest.raises(PropertiesApiException) as err:
        client.crm.properties.core_api.create("contacts", bad)
    assert err.value.status == 400
    assert json.loads(err.value.body)["context"]["missingFields"] == ["displayOrder"]
