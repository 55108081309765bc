"""Two workers creating the restriction property group at once: the loser's 409 is success.

The sandbox makes the race deterministic: a group named in
``concurrent_group_creates`` appears just after a read missed it, as when
another worker's create lands between this worker's read and create
(issue 13, "Smaller"). On both ledger backends (the rate budget lives there).
"""

from __future__ import annotations

import requests

from connectors.hubspot.client import RESTRICTION_GROUP, RESTRICTION_PROPERTY, HubSpotClient
from connectors.hubspot.ratelimit import RateBudget
from connectors.hubspot.sandbox.events import Source
from connectors.hubspot.sandbox.properties import PropertySchema
from connectors.hubspot.sandbox.server import RunningSandbox
from sync.clock import SystemClock
from sync.ledger.sql import SqlLedger
from tests.integration.conftest import TOKEN


def _client(sandbox: RunningSandbox, ledger: SqlLedger) -> HubSpotClient:
    budget = RateBudget(ledger, SystemClock(), per_10s=1000, daily=100_000, search_per_s=10)
    return HubSpotClient(
        base_url=sandbox.base_url, access_token=TOKEN, budget=budget, in_call_attempts=1
    )


def _another_worker_creates_the_group_after_our_read(schema: PropertySchema) -> None:
    schema.concurrent_group_creates.add(RESTRICTION_GROUP)


def test_a_409_on_the_group_create_is_another_workers_win_not_a_failed_batch(
    sandbox_server: RunningSandbox, ledger: SqlLedger
) -> None:
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    state = sandbox_server.sandbox.state
    contact = state.create({"email": "race@example.org"}, Source.form())
    state.property_call(_another_worker_creates_the_group_after_our_read)
    client = _client(sandbox_server, ledger)

    written = client.set_restricted([contact.id], True)

    assert written.errors == {contact.id: None}
    assert client.restricted(contact.id) is True
    calls = sandbox_server.sandbox.requests.entries()
    group_creates = [
        c for c in calls if c["method"] == "POST" and c["path"].endswith("/contacts/groups")
    ]
    assert [c["status"] for c in group_creates] == [409]  # the race did happen
    property_creates = [
        c
        for c in calls
        if c["method"] == "POST" and c["path"].endswith("/properties/2026-09/contacts")
    ]
    assert [c["status"] for c in property_creates] == [201]
    assert state.property_call(lambda s: s.get(RESTRICTION_PROPERTY).group_name) == (
        RESTRICTION_GROUP
    )
