"""Communication preferences v3 (typed client), v4 (`api_request`), and opt-out properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.communication_preferences.exceptions import ApiException as CommPrefsApiException
from hubspot.crm.contacts import PublicGdprDeleteInput, SimplePublicObjectInputForCreate

from connectors.hubspot.sandbox.server import RunningSandbox
from tests.integration.sandbox.helpers import action

NEWSLETTER = "1002"


def v4(client: HubSpot, method: str, path: str, body: Any = None, **qs: str) -> requests.Response:
    options: dict[str, Any] = {"method": method, "path": f"/communication-preferences/v4{path}"}
    if body is not None:
        options["body"] = body
    if qs:
        options["qs"] = qs
    response: requests.Response = client.api_request(options)
    return response


def statuses(client: HubSpot, email: str) -> dict[int, str]:
    response = v4(client, "GET", f"/statuses/{email}", channel="EMAIL")
    assert response.status_code == 200
    return {s["subscriptionId"]: s["status"] for s in response.json()["results"]}


def contact_props(client: HubSpot, email: str, *names: str) -> dict[str, Any]:
    got = client.crm.contacts.basic_api.get_by_id(
        email, id_property="email", properties=list(names)
    )
    return {n: got.properties.get(n) for n in names}


def test_v3_definitions_list_the_subscription_types(client: HubSpot) -> None:
    defs = client.communication_preferences.definition_api.get_page().subscription_definitions
    assert [d.id for d in defs] == ["1001", "1002", "1003"]
    assert all(d.is_active for d in defs)


def test_v3_subscribe_requires_a_valid_legal_basis(client: HubSpot) -> None:
    api = client.communication_preferences.status_api
    with pytest.raises(CommPrefsApiException) as err:
        api.subscribe(
            PublicUpdateSubscriptionStatusRequest(
                email_address="anna@example.se", subscription_id=NEWSLETTER
            )
        )
    assert err.value.status == 400
    assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(CommPrefsApiException) as err:
        api.subscribe(
            PublicUpdateSubscriptionStatusRequest(
                email_address="anna@example.se",
                subscription_id=NEWSLETTER,
                legal_basis="BECAUSE_I_SAY_SO",
                legal_basis_explanation="x",
            )
        )
    assert err.value.status == 400
    status = api.subscribe(
        PublicUpdateSubscriptionStatusRequest(
            email_address="anna@example.se",
            subscription_id=NEWSLETTER,
            legal_basis="CONSENT_WITH_NOTICE",
            legal_basis_explanation="Ticked the box on the signup form",
        )
    )
    assert status.status == "SUBSCRIBED"
    assert status.legal_basis == "CONSENT_WITH_NOTICE"


def test_v3_status_and_unsubscribe(client: HubSpot) -> None:
    api = client.communication_preferences.status_api
    api.subscribe(
        PublicUpdateSubscriptionStatusRequest(
            email_address="anna@example.se",
            subscription_id=NEWSLETTER,
            legal_basis="LEGITIMATE_INTEREST_CLIENT",
            legal_basis_explanation="Existing customer",
        )
    )
    before = api.get_email_status("anna@example.se")
    assert before.recipient == "anna@example.se"
    assert {s.id: s.status for s in before.subscription_statuses}[NEWSLETTER] == "SUBSCRIBED"
    result = api.unsubscribe(
        PublicUpdateSubscriptionStatusRequest(
            email_address="anna@example.se",
            subscription_id=NEWSLETTER,
            legal_basis="LEGITIMATE_INTEREST_OTHER",
            legal_basis_explanation="Objection recorded",
        )
    )
    assert result.status == "NOT_SUBSCRIBED"
    after = api.get_email_status("anna@example.se").subscription_statuses
    assert {s.id: s.status for s in after}[NEWSLETTER] == "NOT_SUBSCRIBED"
    # v3 neither repeats an unsubscribe nor resubscribes an opted-out address.
    for call in (api.unsubscribe, api.subscribe):
        with pytest.raises(CommPrefsApiException) as err:
            call(
                PublicUpdateSubscriptionStatusRequest(
                    email_address="anna@example.se",
                    subscription_id=NEWSLETTER,
                    legal_basis="CONSENT_WITH_NOTICE",
                    legal_basis_explanation="x",
                )
            )
        assert err.value.status == 400


def test_v4_single_write_and_read(client: HubSpot) -> None:
    written = v4(
        client,
        "POST",
        "/statuses/anna@example.se",
        {"channel": "EMAIL", "statusState": "UNSUBSCRIBED", "subscriptionId": int(NEWSLETTER)},
    )
    assert written.status_code == 200
    [result] = written.json()["results"]
    assert result["status"] == "UNSUBSCRIBED"
    assert result["setStatusSuccessReason"] == "REQUESTED_CHANGE_OCCURRED"
    assert statuses(client, "anna@example.se") == {
        1001: "NOT_SPECIFIED",
        1002: "UNSUBSCRIBED",
        1003: "NOT_SPECIFIED",
    }
    again = v4(
        client,
        "POST",
        "/statuses/anna@example.se",
        {"channel": "EMAIL", "statusState": "UNSUBSCRIBED", "subscriptionId": int(NEWSLETTER)},
    )
    assert again.json()["results"][0]["setStatusSuccessReason"] == "NO_STATUS_CHANGE"


def test_v4_resubscribe_needs_a_legal_basis(client: HubSpot) -> None:
    path = "/statuses/anna@example.se"
    v4(
        client,
        "POST",
        path,
        {"channel": "EMAIL", "statusState": "UNSUBSCRIBED", "subscriptionId": 1002},
    )
    refused = v4(
        client,
        "POST",
        path,
        {"channel": "EMAIL", "statusState": "SUBSCRIBED", "subscriptionId": 1002},
    )
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    resubscribed = v4(
        client,
        "POST",
        path,
        {
            "channel": "EMAIL",
            "statusState": "SUBSCRIBED",
            "subscriptionId": 1002,
            "legalBasis": "CONSENT_WITH_NOTICE",
            "legalBasisExplanation": "Asked to be subscribed again",
        },
    )
    assert resubscribed.json()["results"][0]["setStatusSuccessReason"] == "RESUBSCRIBE_OCCURRED"


def test_v4_status_read_requires_the_channel(client: HubSpot) -> None:
    response = v4(client, "GET", "/statuses/anna@example.se")
    assert response.status_code == 400


def test_v4_batch_write_reports_invalid_items_in_a_207(client: HubSpot) -> None:
    response = v4(
        client,
        "POST",
        "/statuses/batch/write",
        {
            "inputs": [
                {
                    "subscriberIdString": "a@example.se",
                    "channel": "EMAIL",
                    "statusState": "UNSUBSCRIBED",
                    "subscriptionId": 1001,
                },
                {
                    "subscriberIdString": "b@example.se",
                    "channel": "EMAIL",
                    "statusState": "SUBSCRIBED",
                    "subscriptionId": 1001,
                    "legalBasis": "NOT_A_BASIS",
                },
                {
                    "subscriberIdString": "c@example.se",
                    "channel": "EMAIL",
                    "statusState": "UNSUBSCRIBED",
                    "subscriptionId": 999,
                },
            ]
        },
    )
    assert response.status_code == 207
    body = response.json()
    assert [r["subscriberIdString"] for r in body["results"]] == ["a@example.se"]
    assert body["numErrors"] == 2
    assert [e["context"]["subscriberIdString"] for e in body["errors"]] == [
        ["b@example.se"],
        ["c@example.se"],
    ]
    read = v4(
        client,
        "POST",
        "/statuses/batch/read",
        {"inputs": ["a@example.se", "b@example.se"]},
        channel="EMAIL",
    )
    assert read.status_code == 200
    by_email = {r["subscriberIdString"]: r["statuses"] for r in read.json()["results"]}
    assert by_email["a@example.se"][0]["status"] == "UNSUBSCRIBED"
    assert by_email["b@example.se"][0]["status"] == "NOT_SPECIFIED"


def test_v4_batch_of_101_is_400(client: HubSpot) -> None:
    inputs = [f"u{i}@example.se" for i in range(101)]
    response = v4(client, "POST", "/statuses/batch/read", {"inputs": inputs}, channel="EMAIL")
    assert response.status_code == 400


def test_v4_unsubscribe_all_single_and_batch_and_its_status(client: HubSpot) -> None:
    before = v4(client, "GET", "/statuses/anna@example.se/unsubscribe-all", channel="EMAIL")
    assert before.json()["results"] == []
    single = v4(client, "POST", "/statuses/anna@example.se/unsubscribe-all", channel="EMAIL")
    assert single.status_code == 200
    assert {r["status"] for r in single.json()["results"]} == {"UNSUBSCRIBED"}
    assert {r["setStatusSuccessReason"] for r in single.json()["results"]} == {
        "UNSUBSCRIBE_FROM_ALL_OCCURRED"
    }
    wide = v4(client, "GET", "/statuses/anna@example.se/unsubscribe-all", channel="EMAIL")
    assert wide.json()["results"][0]["wideStatusType"] == "PORTAL_WIDE"
    batch = v4(
        client,
        "POST",
        "/statuses/batch/unsubscribe-all",
        {"inputs": ["b@example.se"]},
        channel="EMAIL",
    )
    assert batch.status_code == 200
    assert batch.json()["results"][0]["subscriberIdString"] == "b@example.se"
    read = v4(
        client,
        "POST",
        "/statuses/batch/unsubscribe-all/read",
        {"inputs": ["b@example.se", "c@example.se"]},
        channel="EMAIL",
    )
    wide_by_email = {r["subscriberIdString"]: r["wideStatuses"] for r in read.json()["results"]}
    assert wide_by_email["b@example.se"][0]["status"] == "UNSUBSCRIBED"
    assert wide_by_email["c@example.se"] == []
    # v3 sees the portal-wide opt-out too.
    v3 = client.communication_preferences.status_api.get_email_status("b@example.se")
    assert {s.source_of_status for s in v3.subscription_statuses} == {"PORTAL_WIDE_STATUS"}


def test_optout_properties_follow_statuses_and_survive_deletion(client: HubSpot) -> None:
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "anna@example.se"})
    )
    v4(client, "POST", "/statuses/anna@example.se/unsubscribe-all", channel="EMAIL")
    props = contact_props(client, "anna@example.se", "hs_email_optout", "hs_email_optout_1002")
    assert props == {"hs_email_optout": "true", "hs_email_optout_1002": "true"}
    client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=created.id))
    assert statuses(client, "anna@example.se")[1002] == "UNSUBSCRIBED"
    client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "anna@example.se"})
    )
    props = contact_props(client, "anna@example.se", "hs_email_optout", "hs_email_optout_1001")
    assert props == {"hs_email_optout": "true", "hs_email_optout_1001": "true"}


def test_unsubscribe_action_from_an_email_link(client: HubSpot, sandbox: RunningSandbox) -> None:
    created = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "anna@example.se"})
    )
    answer = action(sandbox, "unsubscribe", email="anna@example.se", subscription_id="1002")
    assert answer["contact_ids"] == [created.id]
    assert statuses(client, "anna@example.se")[1002] == "UNSUBSCRIBED"
    props = contact_props(client, "anna@example.se", "hs_email_optout_1002", "hs_email_optout")
    assert props == {"hs_email_optout_1002": "true", "hs_email_optout": "false"}
    action(sandbox, "unsubscribe", email="anna@example.se")
    assert contact_props(client, "anna@example.se", "hs_email_optout")["hs_email_optout"] == (
        "true"
    )
