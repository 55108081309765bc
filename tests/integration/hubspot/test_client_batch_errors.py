"""Each input of a batch gets its own outcome, whether or not HubSpot names it in the error.

Before, an error whose context named no ``ids`` (the communication
preferences endpoints name ``subscriberIdString``) was applied to every
input: one bad address failed a hundred opt-outs that had gone through.
"""

from __future__ import annotations

import pytest

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.ratelimit import RateBudget
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import running_sandbox
from sync.clock import SystemClock
from sync.ledger.sql import SqlLedger

TOKEN = "pat-eu1-batch-errors"
BAD = "not an address"


@pytest.mark.parametrize("names_inputs", [True, False], ids=["named", "unnamed"])
def test_one_bad_address_of_a_hundred_opt_outs_fails_that_one_only(
    ledger: SqlLedger, names_inputs: bool
) -> None:
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        batch_errors_name_inputs=names_inputs,
    )
    emails = [f"person{n}@example.se" for n in range(99)]
    emails.insert(41, BAD)
    with running_sandbox(config) as sandbox:
        budget = RateBudget(ledger, SystemClock(), per_10s=10_000, daily=100_000, search_per_s=4)
        client = HubSpotClient(base_url=sandbox.base_url, access_token=TOKEN, budget=budget)

        outcomes = client.unsubscribe_all(emails)

        state = sandbox.sandbox.state
        calls = [r for r in sandbox.sandbox.requests.entries() if "unsubscribe-all" in r["path"]]

    assert [e for e, error in outcomes.items() if error is not None] == [BAD]
    assert outcomes[BAD] is not None
    assert outcomes[BAD].code == "validation_error"
    opted_out = [
        e for e in emails if state.subscriptions.optout_properties(e).get("hs_email_optout")
    ]
    assert opted_out == [e for e in emails if e != BAD]
    assert len(calls) == (1 if names_inputs else 15)  # else 1 + 2 halves x 7 levels
