"""The access document of a subject, read from the sandbox through the real client."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.clock import SystemClock
from sync.errors import RateLimited, SubjectUnknown
from sync.handlers.access import SCHEMA_ID, AccessExporter, file_name
from sync.ledger.sql import SqlLedger
from sync.schemas import ACCESS_EXPORT, load
from tests.integration.access.conftest import (
    EMAIL,
    FIRST_NAME,
    LAST_NAME,
    Hub,
    make_settings,
    validate,
)

NOW = datetime.now(UTC)


def _only_contact(document: dict[str, Any]) -> dict[str, Any]:
    (contact,) = document["hubspot"]["contacts"]
    return dict(contact)


def test_export_of_a_sandbox_contact_holds_every_property_the_sandbox_holds_and_validates(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    contact_id = hub.form(EMAIL, firstname=FIRST_NAME, lastname=LAST_NAME, city="Umeå")
    hub.action("update", contact_id=contact_id, properties={"phone": "+46 90 000 00 00"})
    hub.action("unsubscribe", email=EMAIL, subscription_id="1002")
    ledger.remember_subject("C-1", NOW, email=EMAIL, contact_ids=[contact_id])

    document = exporter.document("C-1")

    validate(document)
    assert document["schema"] == SCHEMA_ID == load(ACCESS_EXPORT)["$id"]
    assert document["subject_id"] == "C-1"
    contact = _only_contact(document)
    held = hub.contact(contact_id)["properties"]
    assert contact["id"] == contact_id
    assert contact["properties"] == held
    assert {"hs_email_optout_1002", "phone", "city", "createdate"} <= set(held)


def test_export_carries_each_property_history_newest_first_with_its_source(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    contact_id = hub.form(EMAIL, firstname="Karn")
    hub.action("update", contact_id=contact_id, properties={"firstname": FIRST_NAME})
    ledger.remember_subject("C-1", NOW, contact_ids=[contact_id])

    history = _only_contact(exporter.document("C-1"))["history"]

    assert [v["value"] for v in history["firstname"]] == [FIRST_NAME, "Karn"]
    assert [v["source_type"] for v in history["firstname"]] == ["CRM_UI", "FORM"]
    assert all(v["timestamp"].endswith("Z") for v in history["firstname"])
    assert set(history) >= {"email", "firstname", "hs_object_id", "createdate"}


def test_export_carries_the_subscription_statuses_of_the_subject_address(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    hub.form(EMAIL)
    hub.action("unsubscribe", email=EMAIL, subscription_id="1002")
    ledger.remember_subject("C-1", NOW, email=EMAIL)

    before = exporter.document("C-1")["hubspot"]["subscriptions"]
    hub.action("unsubscribe", email=EMAIL)
    after = exporter.document("C-1")["hubspot"]["subscriptions"]

    assert before == {
        "email": EMAIL,
        "unsubscribed_from_all": False,
        "statuses": {"1001": "NOT_SPECIFIED", "1002": "UNSUBSCRIBED", "1003": "NOT_SPECIFIED"},
    }
    assert after["unsubscribed_from_all"] is True
    assert set(after["statuses"].values()) == {"UNSUBSCRIBED"}
    paths = [c["path"] for c in hub.calls() if "communication-preferences" in c["path"]]
    assert "/communication-preferences/2026-09/statuses/batch/read" in paths
    assert not any(EMAIL in p for p in paths)  # the address travels in bodies, not URLs


def test_v3_subscription_reads_report_an_opt_out_of_all_and_no_invented_objections(
    hub: Hub, ledger_section: dict[str, Any], tmp_path: Path, register: SqlRegister
) -> None:
    settings = make_settings(hub, ledger_section, tmp_path, subscriptions_api="v3")
    ledger = bootstrap.build_ledger(settings)
    ledger.open(NOW)
    hubspot = bootstrap.build_hubspot(settings, ledger, SystemClock())
    hub.form(EMAIL)
    hub.action("unsubscribe", email=EMAIL, subscription_id="1002")
    try:
        single = hubspot.subscription_statuses(EMAIL)
        hub.action("unsubscribe", email=EMAIL)
        wide = hubspot.subscription_statuses(EMAIL)
    finally:
        ledger.close()
    # v3 cannot tell a single opt-out from no choice: neither is claimed as an objection.
    assert single.unsubscribed_from_all is False
    assert single.statuses == {
        "1001": "NOT_SPECIFIED",
        "1002": "NOT_SPECIFIED",
        "1003": "NOT_SPECIFIED",
    }
    assert wide.unsubscribed_from_all is True
    assert set(wide.statuses.values()) == {"UNSUBSCRIBED"}
    assert any(
        c["path"].startswith("/communication-preferences/2026-09/status/") for c in hub.calls()
    )


def test_export_includes_the_register_record_and_finds_hubspot_by_its_email(
    hub: Hub, register: SqlRegister, exporter: AccessExporter
) -> None:
    contact_id = hub.form(EMAIL, firstname=FIRST_NAME)
    register.add_customer("C-7", email=EMAIL, first_name=FIRST_NAME, last_name=LAST_NAME)

    document = exporter.document("C-7")  # the ledger has never heard of C-7

    validate(document)
    assert document["register"] == register.record("C-7")
    assert document["register"]["last_name"] == LAST_NAME
    assert _only_contact(document)["id"] == contact_id
    assert document["hubspot"]["subscriptions"]["email"] == EMAIL


def test_export_names_the_associated_companies_deals_and_tickets(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    contact_id = hub.form(EMAIL)
    for object_type, object_id in (("companies", "7"), ("deals", "31"), ("deals", "32")):
        hub.action("associate", contact_id=contact_id, object_type=object_type, object_id=object_id)
    ledger.remember_subject("C-1", NOW, contact_ids=[contact_id])

    document = exporter.document("C-1")

    validate(document)
    assert _only_contact(document)["associations"] == {"companies": ["7"], "deals": ["31", "32"]}


def test_a_merged_subject_is_exported_as_the_one_contact_both_old_ids_lead_to(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    first = hub.form(EMAIL, firstname=FIRST_NAME)
    second = hub.form("karin.work@example.se", lastname=LAST_NAME)
    merged = hub.action("merge", primary_id=first, secondary_id=second)["contact_id"]
    ledger.remember_subject("C-1", NOW, contact_ids=[first, second])

    document = exporter.document("C-1")

    contact = _only_contact(document)
    assert contact["id"] == merged
    assert contact["properties"] == hub.contact(merged)["properties"]


def test_a_subject_with_several_contacts_reports_progress_per_contact(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    ids = [hub.form(f"karin{i}@example.se") for i in range(3)]
    ledger.remember_subject("C-1", NOW, contact_ids=ids)
    seen: list[tuple[int, int]] = []

    document = exporter.document("C-1", progress=lambda done, total: seen.append((done, total)))

    assert [c["id"] for c in document["hubspot"]["contacts"]] == ids
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_property_names_are_read_once_and_sent_in_bodies_however_many_there_are(
    hub: Hub, ledger: SqlLedger, exporter: AccessExporter
) -> None:
    # Enough long names to overflow a GET's URL, as a real account's few hundred would.
    names = [f"custom_property_with_a_rather_long_name_{i:03d}" for i in range(400)]
    hub.running.sandbox.state.property_call(
        lambda schema: [
            schema.create(
                {"name": n, "label": n, "type": "string", "fieldType": "text",
                 "groupName": "contactinformation"},
                "2026-01-01T00:00:00.000Z",
            )
            for n in names
        ]
    )  # fmt: skip
    contact_id = hub.form(EMAIL, **{names[-1]: "kept"})
    ledger.remember_subject("C-1", NOW, contact_ids=[contact_id])

    first = exporter.document("C-1")
    exporter.document("C-1")

    assert _only_contact(first)["properties"][names[-1]] == "kept"
    calls = hub.calls()
    lists = [c["query"] for c in calls if c["path"] == "/crm/properties/2026-09/contacts"]
    assert sorted(lists) == sorted(  # once per sensitivity level, for both exports
        f"archived=false&dataSensitivity={level}"
        for level in ("non_sensitive", "sensitive", "highly_sensitive")
    )
    assert max(len(c["query"]) for c in calls) < 2000


def test_export_reads_spend_the_shared_rate_budget_and_stop_when_it_is_spent(
    hub: Hub, ledger_section: dict[str, Any], tmp_path: Path, register: SqlRegister
) -> None:
    settings = make_settings(hub, ledger_section, tmp_path, daily_limit=3)
    ledger = bootstrap.build_ledger(settings)
    ledger.open(NOW)
    contact_id = hub.form(EMAIL)
    ledger.remember_subject("C-1", NOW, email=EMAIL, contact_ids=[contact_id])
    exporter = bootstrap.build_exporter(settings, ledger, SystemClock())
    try:
        with pytest.raises(RateLimited):
            exporter.document(
                "C-1"
            )  # the property list, once per sensitivity level: then the day is spent
    finally:
        exporter.close()
        ledger.close()
    assert len(hub.calls()) == 3


def test_an_unknown_subject_is_refused_by_name_without_reading_hubspot(
    hub: Hub, exporter: AccessExporter
) -> None:
    with pytest.raises(SubjectUnknown, match="no subject C-404"):
        exporter.document("C-404")
    assert hub.calls() == []


def test_an_access_request_for_a_subject_nobody_knows_is_answered_with_an_empty_document(
    hub: Hub, exporter: AccessExporter
) -> None:
    document = exporter.document("C-404", require_known=False)
    validate(document)
    assert document["hubspot"] == {"contacts": [], "subscriptions": None}
    assert document["register"] is None


def test_export_file_names_keep_odd_event_ids_inside_the_directory() -> None:
    assert file_name("reg-8812") == "reg-8812.json"
    assert file_name("../../etc/passwd") == "%2E.%2F..%2Fetc%2Fpasswd.json"
    assert "/" not in file_name("a/b")
    assert file_name("a/b") != file_name("a_b")
    long = file_name("x" * 300)
    assert long.startswith("event-")
    assert len(long) < 100
