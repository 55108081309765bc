"""An access export names every associated object, however many pages HubSpot gives them in.

A contact read names the first page of each type's associations and says
when there is more (``paging.next.after``); the export follows the paging
(issue 13). The sandbox here gives pages of 100, on both ledger backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from sync.handlers.access import AccessExporter
from sync.ledger.sql import SqlLedger
from tests.integration.access.conftest import EMAIL, Hub, validate
from tests.integration.conftest import TOKEN

NOW = datetime.now(UTC)
PAGE = 100


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningSandbox]:
    """This module's sandbox: association lists answer at most ``PAGE`` per page."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        search_limit_per_s=100_000,
        association_page_size=PAGE,
    )
    with running_sandbox(config) as running:
        yield running


def test_export_follows_association_paging_to_the_last_object(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    contact_id = hub.form(EMAIL)
    companies = [str(5000 + i) for i in range(2 * PAGE + 50)]  # three pages of the list
    state = hub.running.sandbox.state
    for company in companies:
        state.associate(contact_id, "companies", company)
    state.associate(contact_id, "deals", "77")  # one page only
    ledger.remember_subject("C-1", NOW, contact_ids=[contact_id])

    document = exporter.document("C-1")

    validate(document)
    (contact,) = document["hubspot"]["contacts"]
    assert contact["associations"]["companies"] == companies
    assert contact["associations"]["deals"] == ["77"]
    listed = [c for c in hub.calls() if c["path"].endswith(f"/{contact_id}/associations/companies")]
    assert len(listed) == 3  # pages of 100: after nothing, after 100, after 200
    assert not any(c["path"].endswith("/associations/deals") for c in hub.calls())
