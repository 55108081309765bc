"""Contacts v3 through the official client: reads, writes, batches, search, GDPR delete, merge."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    PublicGdprDeleteInput,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException, NotFoundException

from connectors.hubspot.sandbox.server import RunningSandbox
from tests.integration.sandbox.helpers import sandbox_requests, sandbox_state


def create(client: HubSpot, **props: str) -> str:
    result = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties=props)
    )
    return str(result.id)


def test_client_reaches_the_sandbox_not_hubspot(client: HubSpot, sandbox: RunningSandbox) -> None:
    create(client, email="anna@example.se")
    client.api_request({"method": "GET", "path": "/account-info/v3/details"})
    paths = [r["path"] for r in sandbox_requests(sandbox)]
    assert paths == ["/crm/v3/objects/contacts", "/account-info/v3/details"]


def test_created_contact_reads_back_by_id_and_by_email(client: HubSpot) -> None:
    contact_id = create(client, email="Anna@Example.se", firstname="Anna")
    api = client.crm.contacts.basic_api
    by_id = api.get_by_id(contact_id, properties=["email", "firstname", "phone"])
    by_email = api.get_by_id("anna@example.se", id_property="email")
    assert by_id.id == by_email.id == contact_id
    assert by_id.properties["email"] == "anna@example.se"
    assert by_id.properties["firstname"] == "Anna"
    assert by_id.properties["phone"] is None
    assert by_id.properties["hs_object_id"] == contact_id
    assert by_id.archived is False


def test_unknown_contact_is_404_with_hubspot_error_body(client: HubSpot) -> None:
    with pytest.raises(NotFoundException) as err:
        client.crm.contacts.basic_api.get_by_id("nobody@example.se", id_property="email")
    body = json.loads(err.value.body)
    assert err.value.status == 404
    assert body["status"] == "error"
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["correlationId"]


def test_duplicate_email_is_409_naming_the_existing_id(client: HubSpot) -> None:
    first = create(client, email="anna@example.se")
    with pytest.raises(ApiException) as err:
        create(client, email="ANNA@example.se")
    body = json.loads(err.value.body)
    assert err.value.status == 409
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first}"


def test_unknown_and_read_only_properties_are_rejected(client: HubSpot) -> None:
    with pytest.raises(ApiException) as err:
        create(client, email="a@example.se", shoe_size="42")
    assert err.value.status == 400
    assert "PROPERTY_DOESNT_EXIST" in json.loads(err.value.body)["message"]
    contact_id = create(client, email="a@example.se")
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.update(
            contact_id, SimplePublicObjectInput(properties={"hs_email_optout": "true"})
        )
    assert err.value.status == 400
    assert "READ_ONLY_VALUE" in json.loads(err.value.body)["message"]


def test_patch_by_id_and_by_email_updates_and_empty_string_clears(client: HubSpot) -> None:
    contact_id = create(client, email="anna@example.se", firstname="Anna", phone="123")
    api = client.crm.contacts.basic_api
    api.update(contact_id, SimplePublicObjectInput(properties={"firstname": "Anne"}))
    api.update(
        "anna@example.se",
        SimplePublicObjectInput(properties={"phone": ""}),
        id_property="email",
    )
    got = api.get_by_id(
        contact_id,
        properties=["firstname", "phone"],
        properties_with_history=["firstname"],
    )
    assert got.properties["firstname"] == "Anne"
    assert got.properties["phone"] is None
    history = got.properties_with_history["firstname"]
    assert [h.value for h in history] == ["Anne", "Anna"]
    assert history[0].source_type == "INTEGRATION"


def test_patch_to_an_email_another_contact_has_is_409(client: HubSpot) -> None:
    first = create(client, email="a@example.se")
    second = create(client, email="b@example.se")
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.update(
            second, SimplePublicObjectInput(properties={"email": "a@example.se"})
        )
    assert err.value.status == 409
    assert first in json.loads(err.value.body)["message"]


def test_list_pages_through_every_contact(client: HubSpot) -> None:
    ids = [create(client, email=f"p{i}@example.se") for i in range(7)]
    api = client.crm.contacts.basic_api
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = api.get_page(limit=3, after=after)
        seen += [c.id for c in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == ids
    assert len(client.crm.contacts.get_all()) == 7


def test_archive_hides_the_contact_and_archived_listing_shows_it(client: HubSpot) -> None:
    contact_id = create(client, email="a@example.se")
    api = client.crm.contacts.basic_api
    api.archive(contact_id)
    with pytest.raises(NotFoundException):
        api.get_by_id(contact_id)
    archived = api.get_by_id(contact_id, archived=True)
    assert archived.archived is True
    assert archived.archived_at is not None
    assert [c.id for c in api.get_page(archived=True).results] == [contact_id]
    # Archive frees the address: a new contact may use it.
    assert create(client, email="a@example.se") != contact_id


def test_batch_read_by_email_reports_missing_ids_in_a_207(client: HubSpot) -> None:
    a = create(client, email="a@example.se", firstname="A")
    result = client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            properties=["firstname"],
            properties_with_history=[],
            id_property="email",
            inputs=[{"id": "a@example.se"}, {"id": "ghost@example.se"}],
        )
    )
    assert [r.id for r in result.results] == [a]
    assert result.results[0].properties["firstname"] == "A"
    assert result.num_errors == 1
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["ghost@example.se"]}


def test_batch_of_101_inputs_is_400(client: HubSpot) -> None:
    inputs = [{"properties": {"email": f"x{i}@example.se"}} for i in range(101)]
    with pytest.raises(ApiException) as err:
        client.crm.contacts.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
        )
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
    assert client.crm.contacts.basic_api.get_page().results == []


def test_batch_read_with_history_allows_at_most_50(client: HubSpot) -> None:
    with pytest.raises(ApiException) as err:
        client.crm.contacts.batch_api.read(
            BatchReadInputSimplePublicObjectId(
                properties=[],
                properties_with_history=["email"],
                inputs=[{"id": str(i)} for i in range(51)],
            )
        )
    assert err.value.status == 400
    assert "property histories is 50" in json.loads(err.value.body)["message"]


def test_batch_create_with_trace_ids_gives_207_for_the_duplicate_only(client: HubSpot) -> None:
    existing = create(client, email="dup@example.se")
    result = client.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                {"properties": {"email": "new@example.se"}, "objectWriteTraceId": "t1"},
                {"properties": {"email": "dup@example.se"}, "objectWriteTraceId": "t2"},
            ]
        )
    )
    assert [r.properties["email"] for r in result.results] == ["new@example.se"]
    assert result.errors[0].category == "CONFLICT"
    assert existing in result.errors[0].message
    assert result.errors[0].context == {"objectWriteTraceId": ["t2"]}


def test_batch_create_without_trace_ids_is_all_or_nothing(client: HubSpot) -> None:
    create(client, email="dup@example.se")
    with pytest.raises(ApiException) as err:
        client.crm.contacts.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[
                    {"properties": {"email": "new@example.se"}},
                    {"properties": {"email": "dup@example.se"}},
                ]
            )
        )
    assert err.value.status == 409
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id("new@example.se", id_property="email")


def test_batch_update_applies_valid_inputs_and_reports_unknown_ids(client: HubSpot) -> None:
    a = create(client, email="a@example.se")
    result = client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": a, "properties": {"lastname": "Andersson"}},
                {"id": "999999", "properties": {"lastname": "Nobody"}},
            ]
        )
    )
    assert [r.id for r in result.results] == [a]
    assert result.errors[0].context == {"ids": ["999999"]}
    got = client.crm.contacts.basic_api.get_by_id(a, properties=["lastname"])
    assert got.properties["lastname"] == "Andersson"


def test_batch_upsert_by_email_updates_existing_and_creates_new(client: HubSpot) -> None:
    a = create(client, email="a@example.se")
    result = client.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"id": "a@example.se", "idProperty": "email", "properties": {"firstname": "A"}},
                {"id": "b@example.se", "idProperty": "email", "properties": {"firstname": "B"}},
            ]
        )
    )
    by_email = {r.properties["email"]: r for r in result.results}
    assert by_email["a@example.se"].id == a
    assert by_email["a@example.se"].new is False
    assert by_email["b@example.se"].new is True
    assert by_email["b@example.se"].properties["firstname"] == "B"


def test_batch_archive_is_204_and_ignores_unknown_ids(client: HubSpot) -> None:
    a = create(client, email="a@example.se")
    client.crm.contacts.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[{"id": a}, {"id": "424242"}])
    )
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(a)


def search(client: HubSpot, filters: list[dict[str, object]], **kw: object) -> list[str]:
    result = client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=[{"filters": filters}], **kw)
    )
    return [r.id for r in result.results]


def test_search_supports_eq_in_and_has_property(client: HubSpot) -> None:
    a = create(client, email="a@example.se", lastname="Berg")
    b = create(client, email="b@example.se")
    c = create(client, email="c@example.se", lastname="Dahl")
    assert search(
        client, [{"propertyName": "email", "operator": "EQ", "value": "B@example.se"}]
    ) == [b]
    assert search(
        client,
        [{"propertyName": "email", "operator": "IN", "values": ["a@example.se", "c@example.se"]}],
    ) == [a, c]
    assert search(client, [{"propertyName": "lastname", "operator": "HAS_PROPERTY"}]) == [a, c]
    assert search(
        client,
        [
            {"propertyName": "lastname", "operator": "HAS_PROPERTY"},
            {"propertyName": "lastname", "operator": "EQ", "value": "dahl"},
        ],
    ) == [c]


def test_search_pages_and_reports_total(client: HubSpot) -> None:
    ids = [create(client, email=f"s{i}@example.se") for i in range(5)]
    api = client.crm.contacts.search_api
    first = api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}],
            limit=3,
            properties=["email"],
        )
    )
    assert first.total == 5
    second = api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}],
            limit=3,
            after=first.paging.next.after,
        )
    )
    assert [r.id for r in first.results + second.results] == ids
    assert second.paging is None


def test_search_rejects_more_than_five_filter_groups(client: HubSpot) -> None:
    group = {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}
    with pytest.raises(ApiException) as err:
        client.crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(filter_groups=[group] * 6)
        )
    assert err.value.status == 400


def test_gdpr_delete_by_id_removes_and_blocklists_the_email(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    a = create(client, email="anna@example.se")
    client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=a))
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(a)
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.get_by_id(a, archived=True)
    assert sandbox_state(sandbox)["blocklist"] == ["anna@example.se"]


def test_gdpr_delete_of_an_unknown_email_blocklists_it_with_204(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    client.crm.contacts.basic_api.purge(
        PublicGdprDeleteInput(object_id="never@example.se", id_property="email")
    )
    assert sandbox_state(sandbox)["blocklist"] == ["never@example.se"]
    assert sandbox_requests(sandbox)[-1]["status"] == 204


def test_gdpr_delete_of_an_unknown_id_is_404(client: HubSpot) -> None:
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id="987654"))


def test_blocklist_does_not_stop_recreation_through_the_api(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    a = create(client, email="anna@example.se")
    client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=a))
    again = create(client, email="anna@example.se")
    assert again != a
    assert sandbox_state(sandbox)["blocklisted_recreations"] == 1


def test_merge_creates_a_new_id_that_both_old_ids_resolve_to(client: HubSpot) -> None:
    primary = create(client, email="anna@example.se", firstname="Anna")
    secondary = create(client, email="anna.old@example.se", firstname="A.", lastname="Berg")
    merged = client.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id=primary, object_id_to_merge=secondary)
    )
    assert merged.id not in (primary, secondary)
    assert merged.properties["firstname"] == "Anna"
    assert merged.properties["lastname"] == "Berg"
    assert merged.properties["hs_merged_object_ids"] == f"{primary};{secondary}"
    api = client.crm.contacts.basic_api
    for old in (primary, secondary):
        assert api.get_by_id(old).id == merged.id
    assert api.get_by_id("anna.old@example.se", id_property="email").id == merged.id
    # By default only reads resolve an old id; writes answer 404 (test_sandbox_merges.py).
    with pytest.raises(NotFoundException):
        api.update(primary, SimplePublicObjectInput(properties={"phone": "1"}))


def test_merge_of_unknown_or_same_ids_fails(client: HubSpot) -> None:
    a = create(client, email="a@example.se")
    with pytest.raises(NotFoundException):
        client.crm.contacts.basic_api.merge(
            PublicMergeInput(primary_object_id=a, object_id_to_merge="999999")
        )
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.merge(
            PublicMergeInput(primary_object_id=a, object_id_to_merge=a)
        )
    assert err.value.status == 400


def test_date_versioned_paths_serve_the_same_data(client: HubSpot) -> None:
    contact_id = create(client, email="anna@example.se")
    got = client.api_request(
        {"method": "GET", "path": f"/crm/objects/2026-03/contacts/{contact_id}"}
    )
    assert got.status_code == 200
    assert got.json()["properties"]["email"] == "anna@example.se"
    statuses = client.api_request(
        {
            "method": "GET",
            "path": "/communication-preferences/2026-03/statuses/anna@example.se",
            "qs": {"channel": "EMAIL"},
        }
    )
    assert statuses.status_code == 200
