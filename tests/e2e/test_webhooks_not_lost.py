"""Webhooks that must not be lost: HubSpot does not retry a 4xx, and its eventIds repeat.

The sandbox signs and delivers as HubSpot does (hubspot-fidelity.md 2.6): a
400 or 401 is given up at once, eventIds run 1..n again
(``webhook_event_id_cycle``) and a batch may come twice (``webhook_redeliver``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from sync.model import EventKind
from tests.e2e.conftest import Loop, build_loop, e2e_sandbox_config

MALFORMED = {
    "eventId": 77, "subscriptionId": 100003, "portalId": 12345678, "appId": 7654321,
    "occurredAt": 1795780800000, "subscriptionType": "contact.privacyDeletion",
    "attemptNumber": 0, "objectId": "not-a-number",
}  # fmt: skip


@pytest.fixture
def hubspot_loop(
    request: pytest.FixtureRequest, ledger_settings: dict[str, Any], tmp_path: Path
) -> Iterator[Loop]:
    """A loop over a sandbox with the options the test names (``request.param``)."""
    with ExitStack() as stack:
        sandbox: RunningSandbox = stack.enter_context(
            running_sandbox(e2e_sandbox_config(**request.param))
        )
        yield build_loop(stack, sandbox, ledger_settings, tmp_path)


def deliveries(loop: Loop) -> list[dict[str, Any]]:
    answer = requests.get(f"{loop.sandbox.base_url}/_sandbox/webhooks", timeout=10)
    answer.raise_for_status()
    return list(answer.json()["deliveries"])


@pytest.mark.parametrize(
    "hubspot_loop",
    [{"webhook_batch_window_ms": 500}, {"webhook_batch_window_ms": 500, "webhook_redeliver": True}],
    ids=["once", "redelivered"],
    indirect=True,
)
def test_a_malformed_event_never_costs_the_privacy_deletion_in_its_batch(
    hubspot_loop: Loop,
) -> None:
    loop = hubspot_loop
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")
    sent = len(deliveries(loop))

    # One batch: an event hubsync's parser refuses, then the GDPR delete's events.
    loop.sandbox._call("POST", "/webhooks", {"send": [MALFORMED]})
    loop.act("gdpr_delete", contact_id=contact)
    loop.settle()

    [batch, *again] = deliveries(loop)[sent:]
    assert batch["events"] == 3  # the malformed one and the GDPR delete's two
    assert batch["status"] == 204  # a 400 would be given up at once, deletion included
    assert all(d["status"] == 204 for d in again)
    assert loop.customer("C-1")["erased_at"] is not None
    report = loop.operator.inbox()
    assert report.as_dict()["failed"] == 1
    [aside] = report.failed_items
    assert aside.problem == "objectId: must be a non-negative 64-bit integer"
    assert "not-a-number" not in repr(report.as_dict())

    assert loop.operator.skip_webhooks([aside.receipt_key], "test: not HubSpot's") == 1
    assert loop.ledger.set_aside_webhooks() == []


@pytest.mark.parametrize(
    "hubspot_loop",
    [
        {"webhook_event_id_cycle": 1},
        {"webhook_event_id_cycle": 1, "webhook_redeliver": True},
    ],
    ids=["shared-event-ids", "shared-event-ids-redelivered"],
    indirect=True,
)
def test_distinct_events_sharing_an_event_id_are_all_processed_and_redeliveries_once(
    hubspot_loop: Loop,
) -> None:
    loop = hubspot_loop
    anna = loop.link("C-1", "anna@example.se", first_name="Anna")
    bo = loop.link("C-2", "bo@example.se", first_name="Bo")
    loop.before_test = {e.seq for e in loop.ledger.list_events(limit=None)}

    # Two HubSpot users' edits: same portal, subscription (firstname) and eventId (1).
    loop.act("update", contact_id=anna, properties={"firstname": "Annie"})
    loop.act("update", contact_id=bo, properties={"firstname": "Bosse"})
    loop.settle()

    assert loop.customer("C-1")["first_name"] == "Annie"
    assert loop.customer("C-2")["first_name"] == "Bosse"
    edits = [e for e in loop.register_events() if e.kind is EventKind.RECTIFICATION]
    assert sorted(e.subject_id for e in edits) == ["C-1", "C-2"]  # a redelivery adds none
    assert {d["event_ids"][0] for d in deliveries(loop)} == {1}


@pytest.mark.parametrize("hubspot_loop", [{}], indirect=True)
def test_signatures_refused_in_a_row_fail_readyz_and_status_until_one_is_good(
    hubspot_loop: Loop,
) -> None:
    loop = hubspot_loop
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")
    good_url = loop.sandbox._call("GET", "/webhooks")["url"]
    # HubSpot calls a name that is not [server] public_url (a proxy, a DNS alias):
    # it signs the URL it calls, so every batch fails hubsync's check.
    loop.sandbox.configure_webhooks(good_url.replace("127.0.0.1", "localhost"))
    for n in range(5):
        loop.act("update", contact_id=contact, properties={"firstname": f"Anna{n}"})
        loop.settle()

    statuses = [d["status"] for d in deliveries(loop)[-5:]]
    assert statuses == [401] * 5  # and HubSpot gives each up: the alarm is all there is
    ready = requests.get(f"{loop.intake_url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert "5 webhook requests in a row refused" in ready.json()["reason"]
    signatures = loop.operator.status().as_dict()["webhook_signatures"]
    assert (signatures["refusals"], signatures["last_reason"]) == (5, "signature_mismatch")
    assert signatures["alarm"] is not None
    assert "anna" not in repr(signatures).lower()

    loop.sandbox.configure_webhooks(good_url)
    loop.act("update", contact_id=contact, properties={"firstname": "Anna"})
    loop.settle()

    assert requests.get(f"{loop.intake_url}/readyz", timeout=10).status_code == 200
    assert loop.operator.status().as_dict()["webhook_signatures"]["alarm"] is None
