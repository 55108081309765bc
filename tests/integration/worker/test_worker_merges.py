"""Rights for a subject whose known contact was merged into a record with a new id.

HubSpot documents that reads of an old id answer the merged record; whether
its writes and its GDPR delete do is unknown (hubspot-fidelity.md 2.4). So
every test runs against a sandbox where only reads resolve old ids (the
default), where every endpoint does, and where none does, on both ledger
backends. Wherever the old id is refused, the live record must still get
the right applied, and the event must not be "done, absent" while it lives.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import MERGED_ID_ENDPOINTS, SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from sync.audit import Pseudonymizer
from tests.integration.conftest import TOKEN
from tests.integration.worker.conftest import PSEUDONYM_KEY, System, build_system

EMAIL = "greta.holm@example.se"
OTHER = "g.holm@example.se"
RESTRICTED = "hubsync_processing_restricted"

SETTINGS = {
    "reads_resolve": frozenset({"get", "batch_read"}),  # the default
    "all_resolve": MERGED_ID_ENDPOINTS,
    "none_resolve": frozenset[str](),
}


@pytest.fixture(scope="module", params=list(SETTINGS))
def sandbox_server(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    """The module's sandbox, once per setting of which endpoints resolve old merged ids."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        search_limit_per_s=100_000,
        merged_ids_resolve_on=SETTINGS[request.param],
    )
    with running_sandbox(config) as running:
        yield running


def _merged_subject(system: System, subject: str) -> tuple[str, str]:
    """A subject mapped to a contact that HubSpot then merged: (old id, merged record's id)."""
    old = system.contact(EMAIL, firstname="Greta", lastname="Holm")
    system.operator.ledger.remember_subject(
        subject, system.operator.clock.now(), email=EMAIL, contact_ids=[old]
    )
    other = system.contact(OTHER, firstname="G.")
    merged = system.control(
        "POST", "/_sandbox/actions/merge", {"primary_id": old, "secondary_id": other}
    )["contact_id"]
    return old, str(merged)


def _contact_ids(system: System, subject: str) -> tuple[str, ...]:
    record = system.operator.ledger.subject(subject)
    assert record is not None
    return record.contact_ids


def test_erasure_deletes_the_record_a_known_id_was_merged_into(system: System) -> None:
    _old, merged = _merged_subject(system, "C-1")
    system.submit("erasure", "C-1", "e1", email=EMAIL)
    system.worker.run_until_idle()
    assert system.sandbox_contact(merged) is None  # the person's record is gone
    assert system.state()["contacts"] == []
    event = system.event("e1")
    assert (event.state.value, event.note) == ("done", None)
    # The deleted record's id is suppressed too: its webhooks are hubsync's own.
    pseudonymizer = Pseudonymizer(PSEUDONYM_KEY.encode())
    assert system.operator.ledger.is_suppressed(pseudonymizer.contact(merged))
    assert system.operator.ledger.is_suppressed(pseudonymizer.email(EMAIL))


def test_rectification_reaches_the_record_a_known_id_was_merged_into(system: System) -> None:
    _old, merged = _merged_subject(system, "C-2")
    system.submit("rectification", "C-2", "r2", email=EMAIL, changes={"last_name": "Lind"})
    system.worker.run_until_idle()
    contact = system.sandbox_contact(merged)
    assert contact is not None
    assert contact["properties"]["lastname"] == "Lind"
    event = system.event("r2")
    assert (event.state.value, event.note) == ("done", None)
    assert _contact_ids(system, "C-2") == (merged,)  # re-keyed


def test_restriction_reaches_the_record_a_known_id_was_merged_into(system: System) -> None:
    _old, merged = _merged_subject(system, "C-3")
    system.submit("restriction", "C-3", "x3", email=EMAIL)
    system.worker.run_until_idle()
    contact = system.sandbox_contact(merged)
    assert contact is not None
    assert contact["properties"].get(RESTRICTED) == "true"
    event = system.event("x3")
    assert (event.state.value, event.note) == ("done", None)
    assert _contact_ids(system, "C-3") == (merged,)  # re-keyed


def _gone_subject(system: System, subject: str) -> str:
    """A subject mapped to a contact HubSpot no longer has under any id or address."""
    gone = system.contact(EMAIL, firstname="Greta")
    system.operator.ledger.remember_subject(
        subject, system.operator.clock.now(), email=EMAIL, contact_ids=[gone]
    )
    system.control("POST", "/_sandbox/actions/gdpr_delete", {"contact_id": gone})
    return gone


def _looked_up_by_email(system: System) -> bool:
    """Whether hubsync read a contact by its address (``idProperty=email``)."""
    return any(
        r["method"] == "GET" and "idProperty=email" in (r.get("query") or "")
        for r in system.api_requests()
    )


@pytest.mark.parametrize(
    ("kind", "fields"),
    [("rectification", {"changes": {"last_name": "Lind"}}), ("restriction", {})],
)
def test_a_contact_gone_by_id_and_by_address_is_absent_only_after_both_were_asked(
    system: System, kind: str, fields: dict[str, object]
) -> None:
    _gone_subject(system, "C-4")
    system.submit(kind, "C-4", "g4", email=EMAIL, **fields)
    system.worker.run_until_idle()
    event = system.event("g4")
    assert (event.state.value, event.note) == ("done", "absent")
    assert system.state()["contacts"] == []
    assert _looked_up_by_email(system)


def test_erasure_of_a_contact_gone_everywhere_is_done_and_deletes_by_address(
    system: System,
) -> None:
    _gone_subject(system, "C-5")
    system.submit("erasure", "C-5", "e5", email=EMAIL)
    system.worker.run_until_idle()
    assert system.event("e5").state.value == "done"
    assert system.state()["contacts"] == []
    assert _looked_up_by_email(system)  # asked before calling it gone, and to verify
    purges = [r["body"] for r in system.api_requests() if r["path"].endswith("gdpr-delete")]
    # No live record known: the delete by address blocklists it, whatever HubSpot kept.
    assert {"objectId": EMAIL, "idProperty": "email"} in purges


def test_while_residency_refuses_an_erasure_follows_a_merge_by_id_and_sends_no_address(
    sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    """Only ids may go out (sync.rules.transfer): the merged record is found by id, or the
    erasure waits (pending, attempt not counted), never "done" while the record lives."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    system = build_system(
        sandbox_server.base_url, ledger_settings, allowed_hosting_locations=["na1"]
    )
    try:
        _old, merged = _merged_subject(system, "C-6")
        before = len(system.api_requests())
        system.submit("erasure", "C-6", "e6", email=EMAIL)
        system.worker.run_until_idle()
        sent = json.dumps(system.api_requests()[before:]).lower()
        assert EMAIL not in sent
        assert OTHER not in sent
        event = system.event("e6")
        if sandbox_server.sandbox.config.merged_ids_resolve_on & {"batch_read", "gdpr_delete"}:
            assert system.sandbox_contact(merged) is None
            assert event.state.value == "done"
        else:  # no id leads to the merged record: only its address could, and it may not go
            assert system.sandbox_contact(merged) is not None
            assert event.state.value == "pending"
            assert event.attempts == 0
            assert event.last_error is not None
            assert event.last_error.code == "transfer_held"
    finally:
        system.operator.ledger.close()
        system.worker.close()


def test_a_failed_lookup_by_address_fails_that_erasure_only(
    sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    """One erasure's read by address that HubSpot refuses is its own error, not its batch's."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    system = build_system(sandbox_server.base_url, ledger_settings)
    try:
        kept = system.contact(EMAIL, firstname="Greta")
        now = system.operator.clock.now()
        system.operator.ledger.remember_subject("C-7", now, email=EMAIL, contact_ids=[kept])
        # A known id HubSpot does not find, and an address whose lookup fails (503).
        system.operator.ledger.remember_subject(
            "C-8", now, email="failing@example.se", contact_ids=["999999"]
        )
        fault = {"error_status": 503, "error_when": "failing@"}
        system.control("POST", "/_sandbox/faults", fault)
        system.submit("erasure", "C-7", "e7")
        system.submit("erasure", "C-8", "e8")
        system.worker.run_until_idle()
        assert system.sandbox_contact(kept) is None
        assert system.event("e7").state.value == "done"
        e8 = system.event("e8")
        assert e8.state.value == "pending"
        assert e8.last_error is not None
        assert e8.last_error.code == "http_503"
    finally:
        system.operator.ledger.close()
        system.worker.close()
