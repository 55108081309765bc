"""Associations of contacts to companies, deals and tickets, read through the official client."""

from __future__ import annotations

import requests
from hubspot import HubSpot

from connectors.hubspot.sandbox.server import RunningSandbox
from tests.integration.sandbox.helpers import action, sandbox_state


def _contact(sandbox: RunningSandbox, email: str) -> str:
    return str(action(sandbox, "create", properties={"email": email})["contact_id"])


def test_a_contact_read_names_its_associated_companies_deals_and_tickets(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    contact_id = _contact(sandbox, "assoc@example.se")
    action(sandbox, "associate", contact_id=contact_id, object_type="companies", object_id="7")
    action(sandbox, "associate", contact_id=contact_id, object_type="deal", object_id="31")
    action(sandbox, "associate", contact_id=contact_id, object_type="deal", object_id="31")
    read = client.crm.contacts.basic_api.get_by_id(
        contact_id, associations=["companies", "deals", "tickets"]
    ).to_dict()
    associations = read["associations"]
    assert sorted(associations) == ["companies", "deals"]  # types without any are left out
    assert associations["companies"]["results"] == [{"id": "7", "type": "contact_to_company"}]
    assert [r["id"] for r in associations["deals"]["results"]] == ["31"]
    assert sandbox_state(sandbox)["contacts"][0]["associations"] == {
        "companies": ["7"],
        "deals": ["31"],
    }


def test_a_read_without_associations_asked_carries_none(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    contact_id = _contact(sandbox, "plain@example.se")
    action(sandbox, "associate", contact_id=contact_id, object_type="tickets", object_id="5")
    assert client.crm.contacts.basic_api.get_by_id(contact_id).associations is None


def test_a_merged_contact_keeps_the_associations_of_both(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    first = _contact(sandbox, "first@example.se")
    second = _contact(sandbox, "second@example.se")
    action(sandbox, "associate", contact_id=first, object_type="companies", object_id="7")
    action(sandbox, "associate", contact_id=second, object_type="companies", object_id="8")
    action(sandbox, "associate", contact_id=second, object_type="tickets", object_id="5")
    merged = action(sandbox, "merge", primary_id=first, secondary_id=second)["contact_id"]
    read = client.crm.contacts.basic_api.get_by_id(
        first, associations=["companies", "tickets"]
    ).to_dict()
    assert read["id"] == merged
    assert [r["id"] for r in read["associations"]["companies"]["results"]] == ["7", "8"]
    assert [r["id"] for r in read["associations"]["tickets"]["results"]] == ["5"]


def test_associating_an_unknown_object_type_or_contact_is_refused(
    sandbox: RunningSandbox,
) -> None:
    contact_id = _contact(sandbox, "refused@example.se")
    url = f"{sandbox.base_url}/_sandbox/actions/associate"
    bad_type = requests.post(
        url, json={"contact_id": contact_id, "object_type": "quotes", "object_id": "1"}, timeout=5
    )
    assert bad_type.status_code == 400
    unknown = requests.post(
        url, json={"contact_id": "999", "object_type": "companies", "object_id": "1"}, timeout=5
    )
    assert unknown.status_code == 404
