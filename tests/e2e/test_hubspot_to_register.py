"""Each thing a HubSpot user, form or recipient does reaches the register, or is undone.

Every test drives the sandbox's actions (DESIGN.md section 6), lets the
signed webhooks reach the intake, the worker take them from the inbox, and
then looks at the register, the sandbox and the audit log.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog

from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from sync import bootstrap
from sync.clock import FixedClock
from sync.model import Envelope, EventKind, EventState, NoticeKind
from sync.operator import new_envelope
from sync.settings import SubscriptionSettings
from tests.e2e.conftest import Loop, build_loop, e2e_sandbox_config


def test_a_hubspot_edit_of_a_shared_field_reaches_the_register_with_an_audit_row(
    loop: Loop,
) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")

    loop.act("update", contact_id=contact, properties={"firstname": "Annika"})
    loop.settle()

    assert loop.customer("C-1")["first_name"] == "Annika"
    [event] = [e for e in loop.register_events() if e.kind is EventKind.RECTIFICATION]
    assert event.state is EventState.DONE
    [row] = [r for r in loop.audit("register_updated") if r.entry.event_id == event.event_id]
    assert row.entry.system == "register"
    assert row.entry.field_names == ("first_name",)
    assert row.entry.data_categories == ("user.name.first",)


def test_generic_object_events_mean_what_their_contact_events_mean(
    ledger_settings: dict[str, Any], tmp_path: Path
) -> None:
    """A project's crmObjects subscriptions send object.* with objectTypeId 0-1."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            running_sandbox(e2e_sandbox_config(webhook_generic_events=True))
        )
        loop = build_loop(stack, sandbox, ledger_settings, tmp_path)
        anna = loop.link("C-1", "anna@example.se", first_name="Anna")
        bo = loop.link("C-2", "bo@example.se", first_name="Bo")

        loop.act("update", contact_id=anna, properties={"firstname": "Annika"})
        loop.act("archive", contact_id=bo)
        loop.settle()

        # Read as contact.propertyChange and contact.deletion; unread, neither would happen.
        assert loop.customer("C-1")["first_name"] == "Annika"
        [notice] = loop.register.list_notices()
        assert (notice.kind, notice.contact_ids) == (NoticeKind.CONTACT_ARCHIVED, (bo,))


def test_a_hubspot_edit_of_a_register_owned_field_is_set_back_and_audited(loop: Loop) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")

    loop.act("update", contact_id=contact, properties={"email": "someone.else@example.se"})
    loop.settle()

    assert loop.properties(contact)["email"] == "anna@example.se"
    assert loop.customer("C-1")["email"] == "anna@example.se"
    assert [r.entry.field_names for r in loop.audit("hubspot_change_reverted")] == [("email",)]
    reverts = [r for r in loop.audit("contact_rectified") if r.entry.event_id.endswith(":revert")]
    assert len(reverts) == 1
    assert not [e for e in loop.register_events() if e.kind is EventKind.RECTIFICATION]


def _a_period_later(loop: Loop) -> None:
    """A worker a subscription-check period later runs until idle (the check takes its turn)."""
    later = bootstrap.build_worker(
        loop.settings, clock=FixedClock(datetime.now(UTC) + timedelta(minutes=16))
    )
    try:
        later.run_until_idle()
    finally:
        later.close()


def test_an_unsubscribe_in_hubspot_opts_the_register_out(loop: Loop) -> None:
    """HubSpot may send no webhook for it (the sandbox's default): the periodic check finds it."""
    loop.link("C-1", "anna@example.se", first_name="Anna")
    assert not loop.customer("C-1")["marketing_opt_out"]

    loop.act("unsubscribe", email="anna@example.se")
    loop.settle()
    assert not loop.customer("C-1")["marketing_opt_out"]  # no webhook told hubsync

    _a_period_later(loop)

    assert loop.customer("C-1")["marketing_opt_out"]
    [event] = [e for e in loop.register_events() if e.kind is EventKind.MARKETING_OPT_OUT]
    assert event.event_id.startswith("subscription_check:C-1:")
    assert event.state is EventState.DONE
    assert any(r.entry.kind == "marketing_opt_out" for r in loop.audit("register_updated"))


def test_an_unsubscribe_webhook_opts_the_register_out_at_once(
    ledger_settings: dict[str, Any], tmp_path: Path
) -> None:
    """Where HubSpot does send `hs_email_optout` changes, no check period is waited for."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            running_sandbox(e2e_sandbox_config(webhook_email_optout_changes=True))
        )
        loop = build_loop(stack, sandbox, ledger_settings, tmp_path)
        loop.link("C-1", "anna@example.se", first_name="Anna")

        loop.act("unsubscribe", email="anna@example.se")
        loop.settle()

        assert loop.customer("C-1")["marketing_opt_out"]
        [event] = [e for e in loop.register_events() if e.kind is EventKind.MARKETING_OPT_OUT]
        assert not event.event_id.startswith("subscription_check:")
        assert event.state is EventState.DONE


def test_a_gdpr_delete_in_hubspot_erases_the_register_record_and_suppresses_the_subject(
    loop: Loop,
) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")

    loop.act("gdpr_delete", contact_id=contact)
    loop.settle()

    record = loop.customer("C-1")
    assert record["erased_at"] is not None
    assert record["email"] is None
    assert record["first_name"] is None
    assert [r.entry.outcome for r in loop.audit("hubspot_erasure_seen")] == ["queued"]
    erased = loop.ledger.subject("C-1")
    assert erased is not None
    assert erased.erasure == "erased"
    assert erased.email is None

    # A late register event for the erased subject is refused, never sent.
    loop.submit("rectification", "C-1", "late-1", changes={"first_name": "Anna"})
    assert loop.operator.event("late-1").state is EventState.SKIPPED


@pytest.mark.parametrize("deletion_first", [False, True], ids=["privacy-first", "deletion-first"])
def test_a_gdpr_delete_sends_two_webhooks_and_is_one_erasure_never_an_archive(
    ledger_settings: dict[str, Any], tmp_path: Path, deletion_first: bool
) -> None:
    """HubSpot sends contact.privacyDeletion and contact.deletion, in an undocumented order."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(
            running_sandbox(e2e_sandbox_config(gdpr_deletion_first=deletion_first))
        )
        loop = build_loop(stack, sandbox, ledger_settings, tmp_path)
        contact = loop.link("C-1", "anna@example.se", first_name="Anna")

        with structlog.testing.capture_logs() as logs:
            loop.act("gdpr_delete", contact_id=contact)
            loop.settle()

        halves = [e for e in logs if e["event"] == "webhook_deletion_of_a_gdpr_delete"]
        # Deletion first: HubSpot no longer holds the contact even archived, so the
        # deletion is known for the half of a GDPR delete. Privacy first: the
        # contact is suppressed by then, and its deletion is dropped as such.
        assert len(halves) == (1 if deletion_first else 0)
        assert [r.entry.outcome for r in loop.audit("hubspot_erasure_seen")] == ["queued"]
        assert loop.customer("C-1")["erased_at"] is not None
        erasures = [e for e in loop.register_events() if e.kind is EventKind.ERASURE]
        assert len(erasures) == 1
        assert loop.register.list_notices() == []  # no archive notice for the deletion half


def test_a_gdpr_delete_in_hubspot_only_notifies_a_register_set_to_notify(
    sandbox_server: RunningSandbox, ledger_settings: dict[str, Any], tmp_path: Path
) -> None:
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    with ExitStack() as stack:
        loop = build_loop(
            stack, sandbox_server, ledger_settings, tmp_path, on_hubspot_erasure="notify"
        )
        contact = loop.link("C-1", "anna@example.se", first_name="Anna")

        loop.act("gdpr_delete", contact_id=contact)
        loop.settle()

        assert loop.customer("C-1")["email"] == "anna@example.se"
        kinds = [n.kind for n in loop.register.list_notices()]
        assert kinds == [NoticeKind.ERASURE_REQUESTED]


def test_an_archive_in_hubspot_is_a_notice_to_the_register_not_an_erasure(loop: Loop) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")

    loop.act("archive", contact_id=contact)
    loop.settle()

    assert loop.customer("C-1")["email"] == "anna@example.se"
    [notice] = loop.register.list_notices()
    assert notice.kind is NoticeKind.CONTACT_ARCHIVED
    assert notice.subject_ids == ("C-1",)
    assert notice.contact_ids == (contact,)
    [row] = loop.audit("contact_archived_noticed")
    assert (row.entry.kind, row.entry.detail, row.entry.outcome) == (
        None,
        "contact.deletion",
        "notified",
    )


def test_a_merge_rekeys_the_subject_and_two_subjects_on_one_contact_raise_a_conflict(
    loop: Loop,
) -> None:
    first = loop.link("C-1", "anna@example.se", first_name="Anna")
    second = loop.link("C-2", "anna.work@example.se", first_name="Anna")

    merged = loop.act("merge", primary_id=first, secondary_id=second)["contact_id"]
    loop.settle()

    for subject in ("C-1", "C-2"):
        record = loop.ledger.subject(subject)
        assert record is not None
        assert record.contact_ids == (merged,)
    [notice] = loop.register.list_notices()
    assert notice.kind is NoticeKind.MERGE_CONFLICT
    assert sorted(notice.subject_ids) == ["C-1", "C-2"]
    assert len(loop.audit("merge_conflict_raised")) == 2

    # Later edits of the merged contact reach both subjects.
    loop.act("update", contact_id=merged, properties={"lastname": "Berg"})
    loop.settle()
    assert loop.customer("C-1")["last_name"] == "Berg"
    assert loop.customer("C-2")["last_name"] == "Berg"


def test_a_form_submission_of_an_erased_email_is_erased_again_and_raised(loop: Loop) -> None:
    loop.link("C-1", "anna@example.se", first_name="Anna")
    loop.submit("erasure", "C-1", "erase-1")
    loop.settle()
    assert loop.operator.event("erase-1").state is EventState.DONE

    again = loop.act("form_submission", email="Anna@Example.se", properties={"firstname": "A"})
    assert again["created"] is True
    with structlog.testing.capture_logs() as logs:
        loop.settle()

    assert loop.contact(str(again["contact_id"])) is None
    [row] = loop.audit("resurrection_blocked")
    assert (row.entry.outcome, row.entry.direction) == ("queued", "to_hubspot")
    # The re-erasure is an event like any other: queued, applied by the worker, audited.
    [event] = loop.operator.ledger.find(f"hs:resurrection:{again['contact_id']}")
    assert (event.kind, event.direction.value, event.state) == (
        EventKind.ERASURE,
        "to_hubspot",
        EventState.DONE,
    )
    [erased] = [r.entry for r in loop.audit("contact_erased") if r.entry.event_id == event.event_id]
    assert (erased.system, erased.outcome) == ("hubspot", "done")
    assert loop.ledger.counts().get("resurrections_blocked") == 1
    assert [n.kind for n in loop.register.list_notices()] == [NoticeKind.RESURRECTION_BLOCKED]
    assert [e["contact_id"] for e in logs if e["event"] == "resurrection_blocked"] == [
        str(again["contact_id"])
    ]
    assert "anna@example.se" not in repr(logs).lower()
    # HubSpot's re-creation brings nothing back into the register.
    assert not [e for e in loop.register_events() if e.kind is EventKind.RECTIFICATION]


@pytest.mark.parametrize("app_id", [7654321, None], ids=["by_app_id", "by_written_value"])
def test_what_hubsync_wrote_never_flows_back_over_100_round_trips(
    sandbox_server: RunningSandbox,
    ledger_settings: dict[str, Any],
    tmp_path: Path,
    app_id: int | None,
) -> None:
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    with ExitStack() as stack:
        loop = build_loop(stack, sandbox_server, ledger_settings, tmp_path, app_id=app_id)
        subjects = [f"C-{n}" for n in range(10)]
        contacts = {s: loop.link(s, f"{s.lower()}@example.se", first_name="Anna") for s in subjects}
        before = len(loop.register_events())

        # 10 rounds of a register change for each of 10 subjects: 100 round trips.
        for i in range(10):
            for subject in subjects:
                loop.register.record_change(
                    _rectification(f"rt-{subject}-{i}", subject, {"first_name": f"Anna-{i}"})
                )
            loop.settle()
            for subject in subjects:
                assert loop.properties(contacts[subject])["firstname"] == f"Anna-{i}"

        assert len(loop.register_events()) == before
        assert loop.ledger.counts().get("webhook_echoes_dropped", 0) >= 100
        # A real edit in HubSpot after all that still flows.
        loop.act("update", contact_id=contacts["C-0"], properties={"firstname": "Annika"})
        loop.settle()
        assert loop.customer("C-0")["first_name"] == "Annika"
        assert loop.customer("C-1")["first_name"] == "Anna-9"


def _rectification(event_id: str, subject: str, changes: dict[str, Any]) -> Envelope:
    return new_envelope(
        EventKind.RECTIFICATION, subject, datetime.now(UTC), event_id, changes=changes
    )


def test_an_unsubscribe_missed_by_the_webhooks_is_found_by_the_subscription_check(
    loop: Loop,
) -> None:
    loop.link("C-1", "anna@example.se", first_name="Anna")
    loop.link("C-2", "bo@example.se", first_name="Bo")
    loop.sandbox.configure_webhooks(None)  # the webhook is down
    loop.act("unsubscribe", email="anna@example.se")
    loop.settle()
    assert not loop.customer("C-1")["marketing_opt_out"]

    # A period later, two workers: one of them reads the statuses, once (a cycle of
    # one period: every subject in one turn).
    clock = FixedClock(datetime.now(UTC) + timedelta(minutes=16))
    one_turn = loop.settings.model_copy(
        update={"subscriptions": SubscriptionSettings(check_cycle_hours=0.25)}
    )
    workers = [bootstrap.build_worker(one_turn, clock=clock) for _ in range(2)]
    try:
        with structlog.testing.capture_logs() as logs:
            for worker in workers:
                worker.run_until_idle()
                worker.run_until_idle()  # the period has not passed: nothing more is read
    finally:
        for worker in workers:
            worker.close()

    assert [e["subjects"] for e in logs if e["event"] == "subscriptions_checked"] == [2]
    assert loop.customer("C-1")["marketing_opt_out"] is True
    assert loop.customer("C-2")["marketing_opt_out"] is False
    [event] = [e for e in loop.register_events() if e.kind is EventKind.MARKETING_OPT_OUT]
    assert event.event_id.startswith("subscription_check:C-1:")
    assert event.state is EventState.DONE


def test_with_a_service_key_no_webhook_comes_and_only_the_check_finds_an_unsubscribe(
    ledger_settings: dict[str, Any], tmp_path: Path
) -> None:
    """A Service Key is REST only (hubspot-2026.md 1.5): what the README and check promise."""
    with ExitStack() as stack:
        sandbox = stack.enter_context(running_sandbox(e2e_sandbox_config(credential="service_key")))
        refused = requests.post(
            f"{sandbox.base_url}/_sandbox/webhooks", json={"url": "https://x"}, timeout=5
        )
        assert refused.status_code == 400
        loop = build_loop(stack, sandbox, ledger_settings, tmp_path, webhooks=False)
        contact = loop.link("C-1", "anna@example.se", first_name="Anna")

        loop.act("update", contact_id=contact, properties={"firstname": "Annika"})
        loop.act("unsubscribe", email="anna@example.se")
        loop.settle()
        assert loop.customer("C-1")["first_name"] == "Anna"  # no webhook: not heard of
        assert not loop.customer("C-1")["marketing_opt_out"]

        clock = FixedClock(datetime.now(UTC) + timedelta(minutes=16))
        later = bootstrap.build_worker(loop.settings, clock=clock)
        try:
            later.run_until_idle()
        finally:
            later.close()

        assert loop.customer("C-1")["marketing_opt_out"] is True  # the periodic check found it
        assert loop.customer("C-1")["first_name"] == "Anna"  # a correction never arrives
        assert sandbox.sandbox.webhooks.counters["deliveries"] == 0


def test_a_contact_hubsync_never_linked_finds_its_subject_in_the_register_by_email(
    loop: Loop,
) -> None:
    loop.register.add_customer("C-9", email="cleo@example.se", first_name="Cleo")
    contact = str(
        loop.act("create", properties={"email": "Cleo@Example.se", "firstname": "Cleo"})[
            "contact_id"
        ]
    )
    loop.settle()
    record = loop.ledger.subject("C-9")
    assert record is not None
    assert record.contact_ids == (contact,)

    loop.act("update", contact_id=contact, properties={"phone": "+46 8 123"})
    loop.settle()

    assert loop.customer("C-9")["phone"] == "+46 8 123"


def test_a_gdpr_delete_while_the_registers_own_erasure_is_under_way_is_not_sent_back(
    loop: Loop,
) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")
    loop.submit("erasure", "C-1", "erase-1")  # waiting in the ledger, not yet applied
    loop.act("gdpr_delete", contact_id=contact)

    loop.settle()

    assert loop.operator.event("erase-1").state is EventState.DONE
    assert not loop.register_events()
    assert loop.customer("C-1")["email"] == "anna@example.se"  # the register erases on its own
    assert loop.register.list_notices() == []


def test_a_blocked_resurrection_is_erased_again_through_the_queue_while_residency_refuses(
    loop: Loop,
) -> None:
    loop.link("C-1", "anna@example.se", first_name="Anna")
    other = loop.link("C-2", "bo@example.se", first_name="Bo")
    loop.submit("erasure", "C-1", "erase-1")
    loop.settle()

    # From now on the worker's residency verdict refuses the sandbox's location (eu1).
    settings = loop.settings.model_copy(
        update={
            "hubspot": loop.settings.hubspot.model_copy(
                update={"allowed_hosting_locations": ["na1"]}
            )
        }
    )
    refusing = replace(loop, worker=bootstrap.build_worker(settings))
    try:
        again = loop.act("form_submission", email="anna@example.se", properties={"firstname": "A"})
        loop.act("update", contact_id=other, properties={"email": "someone.else@example.se"})
        refusing.settle()
    finally:
        refusing.worker.close()

    # The re-erasure carries no personal data: it goes, through the queue, audited.
    contact_id = str(again["contact_id"])
    assert loop.contact(contact_id) is None
    [event] = loop.operator.ledger.find(f"hs:resurrection:{contact_id}")
    assert (event.state, event.attempts) == (EventState.DONE, 1)
    assert [
        (r.entry.action, r.entry.outcome)
        for r in loop.audit()
        if r.entry.event_id == event.event_id
    ] == [("contact_erased", "done")]
    # Setting a register-owned field back sends its value: it waits.
    [revert] = [e for e in loop.ledger.list_events(limit=None) if e.event_id.endswith(":revert")]
    assert (revert.state, revert.attempts) == (EventState.PENDING, 0)
    assert revert.last_error is not None
    assert revert.last_error.code == "residency_refused"
    assert loop.properties(other)["email"] == "someone.else@example.se"


def _firstname_edit(loop: Loop, contact: str, value: str, occurred: datetime, n: int) -> None:
    """A HubSpot user's edit of ``firstname`` that occurred at ``occurred``, in the inbox."""
    item = {
        "eventId": 900_000 + n,
        "subscriptionId": 900_001,
        "portalId": 62515,
        "occurredAt": int(occurred.timestamp() * 1000),
        "subscriptionType": "contact.propertyChange",
        "objectId": int(contact),
        "propertyName": "firstname",
        "propertyValue": value,
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }
    key = f"62515:900001:{900_000 + n}"
    loop.ledger.store_webhooks([(key, item)], datetime.now(UTC), timedelta(days=1))


def test_a_shared_field_takes_the_latest_change_by_when_each_occurred(loop: Loop) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")
    changed_at = datetime.now(UTC)
    loop.submit("rectification", "C-1", "reg-later", changes={"first_name": "Reggie"})

    # An edit HubSpot made before the register's change: the register's wins.
    _firstname_edit(loop, contact, "Hubby", changed_at - timedelta(minutes=1), 1)
    loop.settle()
    assert loop.customer("C-1")["first_name"] == "Anna"
    assert not [e for e in loop.register_events() if e.kind is EventKind.RECTIFICATION]
    assert loop.properties(contact)["firstname"] == "Reggie"

    # An edit made after it: HubSpot's wins.
    _firstname_edit(loop, contact, "Hubert", changed_at + timedelta(minutes=1), 2)
    loop.settle()
    assert loop.customer("C-1")["first_name"] == "Hubert"


def test_a_register_change_of_a_shared_field_older_than_hubspots_is_not_written_back(
    loop: Loop,
) -> None:
    contact = loop.link("C-1", "anna@example.se", first_name="Anna")
    now = datetime.now(UTC)
    # HubSpot's edit (its webhook only: the sandbox keeps "Anna") reaches the register first ...
    _firstname_edit(loop, contact, "Hubert", now + timedelta(minutes=1), 3)
    loop.settle()
    assert loop.customer("C-1")["first_name"] == "Hubert"

    # ... then a register change made before it arrives late: nothing is written.
    stale = new_envelope(
        EventKind.RECTIFICATION, "C-1", now, "reg-stale", changes={"first_name": "Old"}
    )
    loop.operator.submit(stale)
    loop.settle()
    assert loop.properties(contact)["firstname"] == "Anna"
    (event,) = loop.ledger.find("reg-stale")
    assert (event.state, event.note) == (EventState.DONE, "hubspot_newer")
    (row,) = [r.entry for r in loop.audit("contact_rectified") if r.entry.event_id == "reg-stale"]
    assert (row.outcome, row.field_names) == ("hubspot_newer", ())

    # A register change made after HubSpot's goes out as usual.
    newer = new_envelope(
        EventKind.RECTIFICATION,
        "C-1",
        now + timedelta(minutes=2),
        "reg-newer",
        changes={"first_name": "Reggie", "last_name": "Berg"},
    )
    loop.operator.submit(newer)
    loop.settle()
    assert loop.properties(contact)["firstname"] == "Reggie"
    assert loop.properties(contact)["lastname"] == "Berg"
