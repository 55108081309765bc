"""Each right end to end: submit -> the sandbox changed -> audit row -> event done."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from sync.audit import Pseudonymizer
from tests.integration.conftest import TOKEN
from tests.integration.worker.conftest import PSEUDONYM_KEY, System, build_system

EMAIL = "greta.holm@example.se"


def _audit_actions(system: System, event_id: str) -> list[tuple[str, str]]:
    return [
        (r.entry.action, r.entry.outcome)
        for r in system.operator.audit_rows()
        if r.entry.event_id == event_id and r.entry.system == "hubspot"
    ]


def test_rectification_updates_the_mapped_properties(system: System) -> None:
    contact_id = system.contact(EMAIL, firstname="Greta", lastname="Holm")
    system.submit(
        "rectification", "C-1", "r1", email=EMAIL,
        changes={"first_name": "Gretha", "phone": "+46 70 000 00 00"},
    )  # fmt: skip
    assert system.worker.run_until_idle() == 1
    contact = system.sandbox_contact(contact_id)
    assert contact is not None
    assert contact["properties"]["firstname"] == "Gretha"
    assert contact["properties"]["phone"] == "+46 70 000 00 00"
    assert contact["properties"]["lastname"] == "Holm"
    event = system.event("r1")
    assert (event.state.value, event.note) == ("done", None)
    assert _audit_actions(system, "r1") == [("contact_rectified", "done")]
    (row,) = [r for r in system.operator.audit_rows() if r.entry.action == "contact_rectified"]
    assert row.entry.field_names == ("first_name", "phone")
    assert row.entry.data_categories == ("user.contact.phone_number", "user.name.first")
    assert "Gretha" not in json.dumps(row.as_dict())
    record = system.operator.ledger.subject("C-1")
    assert record is not None
    assert record.contact_ids == (contact_id,)


def test_rectification_of_a_contact_hubspot_lacks_is_done_as_absent_and_creates_nothing(
    system: System,
) -> None:
    system.submit("rectification", "C-2", "r2", email=EMAIL, changes={"first_name": "Ann"})
    system.worker.run_until_idle()
    event = system.event("r2")
    assert (event.state.value, event.note) == ("done", "absent")
    assert system.state()["contacts"] == []
    writes = [r for r in system.api_requests() if r["method"] in ("POST", "PATCH", "PUT")]
    assert all("batch/update" not in r["path"] and r["path"] != "/crm/objects/2026-09/contacts"
               for r in writes)  # fmt: skip


def test_erasure_deletes_verifies_suppresses_and_scrubs(system: System) -> None:
    contact_id = system.contact(EMAIL, firstname="Greta")
    system.submit("erasure", "C-3", "e3", email=EMAIL)
    system.worker.run_until_idle()
    state = system.state()
    assert state["contacts"] == []
    assert EMAIL in state["blocklist"]
    event = system.event("e3")
    assert event.state.value == "done"
    assert event.payload is None
    pseudonymizer = Pseudonymizer(PSEUDONYM_KEY.encode())
    assert system.operator.ledger.is_suppressed(pseudonymizer.email(EMAIL))
    assert system.operator.ledger.is_suppressed(pseudonymizer.contact(contact_id))
    record = system.operator.ledger.subject("C-3")
    assert record is not None
    assert (record.erasure, record.email, record.contact_ids) == ("erased", None, ())
    assert _audit_actions(system, "e3") == [("contact_erased", "done")]
    paths = [r["path"] for r in system.api_requests()]
    assert "/crm/objects/2026-09/contacts/gdpr-delete" in paths
    assert "/crm/objects/2026-09/contacts/batch/read" in paths  # the verification


def test_erasure_of_an_unknown_person_deletes_by_email_to_blocklist_it(system: System) -> None:
    system.submit("erasure", "C-4", "e4", email=EMAIL)
    system.worker.run_until_idle()
    assert EMAIL in system.state()["blocklist"]
    assert system.event("e4").state.value == "done"
    (purge,) = [r for r in system.api_requests() if r["path"].endswith("gdpr-delete")]
    assert purge["body"] == {"objectId": EMAIL, "idProperty": "email"}


def test_opt_out_unsubscribes_from_all_email(system: System) -> None:
    system.contact(EMAIL)
    system.submit("marketing_opt_out", "C-5", "o5", email=EMAIL)
    system.worker.run_until_idle()
    subscriptions = system.state()["subscriptions"][EMAIL]
    assert subscriptions["unsubscribed_from_all"] is True
    assert system.event("o5").state.value == "done"
    assert _audit_actions(system, "o5") == [("marketing_opted_out", "done")]


def test_opt_out_of_named_subscriptions_only(system: System) -> None:
    system.contact(EMAIL)
    system.submit("marketing_opt_out", "C-6", "o6", email=EMAIL, subscription_ids=["1001"])
    system.worker.run_until_idle()
    subscriptions = system.state()["subscriptions"][EMAIL]
    assert subscriptions["statuses"]["1001"]["status"] == "UNSUBSCRIBED"
    assert not subscriptions.get("unsubscribed_from_all")


def test_opt_in_subscribes_with_its_legal_basis(system: System) -> None:
    system.contact(EMAIL)
    system.submit(
        "marketing_opt_in", "C-7", "i7", email=EMAIL,
        subscription_ids=["1002"], legal_basis="CONSENT_WITH_NOTICE",
    )  # fmt: skip
    system.worker.run_until_idle()
    status = system.state()["subscriptions"][EMAIL]["statuses"]["1002"]
    assert (status["status"], status["legal_basis"]) == ("SUBSCRIBED", "CONSENT_WITH_NOTICE")
    assert system.event("i7").state.value == "done"


def test_restriction_sets_the_property_and_unsubscribes_and_lifting_subscribes_nothing(
    system: System,
) -> None:
    contact_id = system.contact(EMAIL)
    system.submit("restriction", "C-8", "x8", email=EMAIL)
    system.worker.run_until_idle()
    contact = system.sandbox_contact(contact_id)
    assert contact is not None
    assert contact["properties"]["hubsync_processing_restricted"] == "true"
    state = system.state()
    assert "hubsync_processing_restricted" in state["custom_properties"]
    assert state["subscriptions"][EMAIL]["unsubscribed_from_all"] is True

    system.submit("restriction_lifted", "C-8", "x9", email=EMAIL)
    system.worker.run_until_idle()
    contact = system.sandbox_contact(contact_id)
    assert contact is not None
    assert not contact["properties"].get("hubsync_processing_restricted")
    assert system.state()["subscriptions"][EMAIL]["unsubscribed_from_all"] is True
    assert [system.event(e).state.value for e in ("x8", "x9")] == ["done", "done"]
    property_creates = [
        r
        for r in system.api_requests()
        if r["method"] == "POST" and r["path"] == "/crm/properties/2026-09/contacts"
    ]
    assert len(property_creates) == 1


def test_an_erasure_received_while_a_rectification_waits_means_the_value_never_reaches_hubspot(
    system: System,
) -> None:
    system.contact(EMAIL, firstname="Greta")
    system.submit("rectification", "C-9", "r9", email=EMAIL, changes={"first_name": "Zyxwv"})
    system.submit("erasure", "C-9", "e9", email=EMAIL)
    system.worker.run_until_idle()
    assert system.event("r9").state.value == "superseded"
    assert system.event("e9").state.value == "done"
    assert "Zyxwv" not in json.dumps(system.api_requests())
    assert system.state()["contacts"] == []


def test_residency_outside_the_allowed_locations_sends_nothing(
    sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]
) -> None:
    system = build_system(
        sandbox_server.base_url,
        ledger_settings,
        allowed_hosting_locations=["na1"],
    )
    system.control("POST", "/_sandbox/reset")
    system.contact(EMAIL, firstname="Greta")
    before = len(system.api_requests())
    system.submit("rectification", "C-10", "r10", email=EMAIL, changes={"first_name": "No"})
    system.worker.run_until_idle()
    event = system.event("r10")
    assert event.state.value == "pending"
    assert event.attempts == 0
    assert event.last_error is not None
    assert event.last_error.code == "residency_refused"
    assert "eu1" in (event.last_error.detail or "")
    calls = system.api_requests()[before:]
    assert [c["path"] for c in calls] == ["/account-info/2026-09/details"]
    system.operator.ledger.close()
    system.worker.close()


def test_a_merge_seen_in_a_write_re_keys_the_subject_map(system: System) -> None:
    first = system.contact(EMAIL, firstname="Greta")
    system.submit("rectification", "C-11", "m1", email=EMAIL, changes={"last_name": "Holm"})
    system.worker.run_until_idle()
    other = system.contact("other@example.se", firstname="Other")
    merged = system.control(
        "POST", "/_sandbox/actions/merge", {"primary_id": other, "secondary_id": first}
    )["contact_id"]
    system.submit("rectification", "C-11", "m2", email=EMAIL, changes={"last_name": "Lind"})
    system.worker.run_until_idle()
    assert system.event("m2").state.value == "done"
    contact = system.sandbox_contact(str(merged))
    assert contact is not None
    assert contact["properties"]["lastname"] == "Lind"
    record = system.operator.ledger.subject("C-11")
    assert record is not None
    assert record.contact_ids == (str(merged),)


@pytest.mark.parametrize("definitions_key", ["results", "subscriptionDefinitions"])
def test_the_v3_subscription_api_unsubscribes_from_every_definition(
    ledger_settings: dict[str, Any], definitions_key: str
) -> None:
    """Without the batch scopes, the single-address unsubscribe-all: no definitions needed."""
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=100_000,
        dated_definitions_key=definitions_key,
    )
    with running_sandbox(config) as sandbox:
        system = build_system(sandbox.base_url, ledger_settings, subscriptions_api="v3")
        system.contact(EMAIL)
        system.submit("marketing_opt_out", "C-12", "v3", email=EMAIL)
        system.worker.run_until_idle()
        assert system.event("v3").state.value == "done"
        statuses = system.state()["subscriptions"][EMAIL]["statuses"]
        assert statuses
        assert {s["status"] for s in statuses.values()} == {"UNSUBSCRIBED"}
        paths = {r["path"] for r in system.api_requests()}
        assert f"/communication-preferences/2026-09/statuses/{EMAIL}/unsubscribe-all" in paths
        assert "/communication-preferences/2026-09/unsubscribe" not in paths
        assert not any("/statuses/batch/" in p for p in paths)
        system.operator.ledger.close()
        system.worker.close()


def test_a_partial_batch_answer_maps_back_to_each_event(system: System) -> None:
    kept = system.contact(EMAIL, firstname="Greta")
    gone = system.contact("gone@example.se", firstname="Gone")
    for subject, email, contact in (("C-13", EMAIL, kept), ("C-14", "gone@example.se", gone)):
        system.operator.ledger.remember_subject(
            subject, system.operator.clock.now(), email=email, contact_ids=[contact]
        )
    system.control("POST", "/_sandbox/actions/gdpr_delete", {"contact_id": gone})
    system.submit("rectification", "C-13", "p1", email=EMAIL, changes={"company": "Acme"})
    system.submit("rectification", "C-14", "p2", email="gone@example.se",
                  changes={"company": "Acme"})  # fmt: skip
    system.worker.run_until_idle()
    (update,) = [r for r in system.api_requests() if r["path"].endswith("batch/update")]
    assert update["status"] == 200  # 2026-09: the failure is inside a 200, not a 207
    assert len(update["body"]["inputs"]) == 2
    assert (system.event("p1").state.value, system.event("p1").note) == ("done", None)
    assert (system.event("p2").state.value, system.event("p2").note) == ("done", "absent")
    contact = system.sandbox_contact(kept)
    assert contact is not None
    assert contact["properties"]["company"] == "Acme"
