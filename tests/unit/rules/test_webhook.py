"""What a HubSpot change means (``sync.rules.webhook``): one row per line of the module's table.

Each row is a change in core terms, the facts the handler would have read,
and the verdicts expected; nothing here touches a ledger, a register or
HubSpot.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.model import (
    Authority,
    ChangeKind,
    EventKind,
    HubSpotChange,
    NoticeKind,
    OptOutChange,
    SubjectId,
)
from sync.rules.webhook import (
    DropEcho,
    EraseAgain,
    EraseInRegister,
    Facts,
    Ignore,
    Incomplete,
    LinkSubject,
    Mapped,
    Notify,
    RegisterEvent,
    Rekey,
    RevertHubSpot,
    SuppressContact,
    Verdict,
    after_rekey,
    distinct_opt_outs,
    meaning,
)

AT = datetime(2026, 11, 27, 10, tzinfo=UTC)
C1, C2 = SubjectId("C-1"), SubjectId("C-2")
FIRST = Mapped("first_name", Authority.BOTH)
EMAIL = Mapped("email", Authority.REGISTER)
PHONE = Mapped("phone", Authority.HUBSPOT)
OPT_OUT = EventKind.MARKETING_OPT_OUT
RECT = EventKind.RECTIFICATION


def change(kind: ChangeKind = ChangeKind.PROPERTY_CHANGED, **fields: object) -> HubSpotChange:
    base: dict[str, object] = {
        "receipt_key": "1:2:3",
        "kind": kind,
        "subscription_type": "contact.whatever",
        "occurred_at": AT,
        "object_id": "101",
    }
    if kind is ChangeKind.PROPERTY_CHANGED:
        base.update(property_name="firstname", property_value="Annika")
    base.update(fields)
    return HubSpotChange(**base)  # type: ignore[arg-type]


def email_change(value: str = "anna@example.se") -> HubSpotChange:
    return change(property_name="email", property_value=value, changes_email=True)


def opt_out(opted_out: bool = True, subscription: str | None = None) -> HubSpotChange:
    return change(
        property_name="x", property_value="x", opt_out=OptOutChange(opted_out, subscription)
    )


PROPERTY_ROWS: list[tuple[str, HubSpotChange, Facts, list[Verdict]]] = [
    ("no contact id", change(object_id=None), Facts(), [Incomplete("objectId or propertyName")]),
    ("no property", change(property_name=None), Facts(), [Incomplete("objectId or propertyName")]),
    (
        "made by hubsync's app",
        change(by_this_app=True),
        Facts(mapped=FIRST, subjects=(C1,)),
        [DropEcho()],
    ),
    (
        "a value hubsync wrote",
        change(),
        Facts(mapped=FIRST, subjects=(C1,), written=True),
        [DropEcho()],
    ),
    (
        "an erased address comes back",
        email_change(),
        Facts(mapped=EMAIL, email_suppressed=True),
        [EraseAgain("101")],
    ),
    (
        "... and is being erased again already",
        email_change(),
        Facts(mapped=EMAIL, email_suppressed=True, contact_suppressed=True),
        [],
    ),
    (
        "an address that is not suppressed",
        email_change(),
        Facts(mapped=EMAIL, subjects=(C1,)),
        [RevertHubSpot(C1, "email", "anna@example.se")],
    ),
    (
        "an unsubscribe from all email",
        opt_out(),
        Facts(subjects=(C1, C2)),
        [RegisterEvent(C1, OPT_OUT), RegisterEvent(C2, OPT_OUT)],
    ),
    (
        "an unsubscribe from one subscription",
        opt_out(subscription="7"),
        Facts(subjects=(C1,)),
        [RegisterEvent(C1, OPT_OUT, subscription_id="7")],
    ),
    ("an unsubscribe of a contact not linked yet", opt_out(), Facts(), [LinkSubject("101")]),
    ("an unsubscribe nobody is linked to", opt_out(), Facts(subjects=()), []),
    (
        "a resubscribe",
        opt_out(opted_out=False),
        Facts(subjects=(C1,)),
        [Ignore("hubspot_opt_in_not_propagated")],
    ),
    (
        "an unmapped property",
        change(property_name="hs_lead_status"),
        Facts(subjects=(C1,)),
        [Ignore()],
    ),
    (
        "a mapped property of a contact not linked yet",
        change(),
        Facts(mapped=FIRST),
        [LinkSubject("101")],
    ),
    (
        "... whose email is the change",
        email_change(),
        Facts(mapped=EMAIL),
        [LinkSubject("101", "anna@example.se")],
    ),
    (
        "a mapped property nobody is linked to",
        change(),
        Facts(mapped=FIRST, subjects=()),
        [Ignore("hubspot_change_unlinked")],
    ),
    (
        "both: HubSpot's edit is the latest",
        change(),
        Facts(mapped=FIRST, subjects=(C1,)),
        [RegisterEvent(C1, RECT, {"first_name": "Annika"})],
    ),
    (
        "both: the register changed it later",
        change(),
        Facts(mapped=FIRST, subjects=(C1, C2), register_changed_at={C1: AT + timedelta(seconds=1)}),
        [
            Ignore("hubspot_change_older_than_register"),
            RegisterEvent(C2, RECT, {"first_name": "Annika"}),
        ],
    ),
    (
        "both: the register changed it before",
        change(),
        Facts(mapped=FIRST, subjects=(C1,), register_changed_at={C1: AT - timedelta(seconds=1)}),
        [RegisterEvent(C1, RECT, {"first_name": "Annika"})],
    ),
    (
        "hubspot's field",
        change(property_name="phone", property_value=""),
        Facts(mapped=PHONE, subjects=(C1,), register_changed_at={C1: AT + timedelta(days=1)}),
        [RegisterEvent(C1, RECT, {"phone": None})],
    ),
    (
        "the register's field",
        change(property_name="email", property_value="x@example.se"),
        Facts(mapped=EMAIL, subjects=(C1,)),
        [RevertHubSpot(C1, "email", "x@example.se")],
    ),
]

OTHER_ROWS: list[tuple[str, HubSpotChange, Facts, list[Verdict]]] = [
    (
        "erased: no contact id",
        change(ChangeKind.ERASED, object_id=None),
        Facts(),
        [Incomplete("objectId")],
    ),
    (
        "erased: hubsync's own erasure",
        change(ChangeKind.ERASED),
        Facts(contact_suppressed=True, subjects=(C1,)),
        [DropEcho()],
    ),
    (
        "erased: nobody linked",
        change(ChangeKind.ERASED),
        Facts(subjects=()),
        [SuppressContact("101")],
    ),
    (
        "erased: linked subjects",
        change(ChangeKind.ERASED),
        Facts(subjects=(C1, C2), erasing=frozenset({C2})),
        [EraseInRegister(C1), DropEcho()],
    ),
    (
        "archived",
        change(ChangeKind.ARCHIVED),
        Facts(subjects=(C1,)),
        [Notify(NoticeKind.CONTACT_ARCHIVED, (C1,), "101")],
    ),
    ("archived: nobody linked", change(ChangeKind.ARCHIVED), Facts(subjects=()), [Ignore()]),
    (
        "archived: an erased contact",
        change(ChangeKind.ARCHIVED),
        Facts(subjects=(C1,), contact_suppressed=True),
        [Ignore()],
    ),
    (
        "archived: the deletion half of a GDPR delete (not held even archived)",
        change(ChangeKind.ARCHIVED),
        Facts(subjects=(C1,), contact_gone=True),
        [Ignore("webhook_deletion_of_a_gdpr_delete")],
    ),
    (
        "archived: no contact id",
        change(ChangeKind.ARCHIVED, object_id=None),
        Facts(),
        [Incomplete("objectId")],
    ),
    (
        "merged",
        change(ChangeKind.MERGED, new_id="300", primary_id="101", merged_ids=("102",)),
        Facts(),
        [Rekey(("101", "102"), "300")],
    ),
    (
        "merged: the object id is the new one",
        change(ChangeKind.MERGED, primary_id="101"),
        Facts(),
        [Rekey(("101",), "101")],
    ),
    (
        "merged: no new id",
        change(ChangeKind.MERGED, object_id=None),
        Facts(),
        [Incomplete("newObjectId")],
    ),
    (
        "created with an erased address",
        change(ChangeKind.CREATED),
        Facts(contact_email="anna@example.se", email_suppressed=True),
        [EraseAgain("101")],
    ),
    (
        "... erased again already",
        change(ChangeKind.CREATED),
        Facts(contact_email="anna@example.se", email_suppressed=True, contact_suppressed=True),
        [],
    ),
    (
        "created",
        change(ChangeKind.CREATED),
        Facts(contact_email="cleo@example.se"),
        [LinkSubject("101", "cleo@example.se")],
    ),
    (
        "created and linked",
        change(ChangeKind.CREATED),
        Facts(contact_email="cleo@example.se", subjects=(C1,)),
        [],
    ),
    ("created without an address", change(ChangeKind.CREATED), Facts(), []),
    ("created, then gone", change(ChangeKind.CREATED), Facts(contact_gone=True), []),
    (
        "created: no contact id",
        change(ChangeKind.CREATED, object_id=None),
        Facts(),
        [Incomplete("objectId")],
    ),
    ("any other type", change(ChangeKind.OTHER), Facts(), [Ignore("webhook_ignored")]),
]


@pytest.mark.parametrize(
    ("seen", "facts", "verdicts"),
    [row[1:] for row in PROPERTY_ROWS + OTHER_ROWS],
    ids=[row[0] for row in PROPERTY_ROWS + OTHER_ROWS],
)
def test_a_change_means_what_the_table_says(
    seen: HubSpotChange, facts: Facts, verdicts: list[Verdict]
) -> None:
    assert meaning(seen, facts) == verdicts


@pytest.mark.parametrize(
    ("subjects", "verdicts"),
    [
        ((), []),
        ((C1,), []),
        ((C1, C1), []),
        ((C1, C2), [Notify(NoticeKind.MERGE_CONFLICT, (C1, C2), "300")]),
    ],
)
def test_two_subjects_on_one_merged_contact_are_a_conflict(
    subjects: tuple[SubjectId, ...], verdicts: list[Verdict]
) -> None:
    assert after_rekey("300", subjects) == verdicts


@pytest.mark.parametrize(
    ("opt_outs", "kept"),
    [
        ([(1, None)], [1]),
        ([(1, "7"), (2, "8")], [1, 2]),
        ([(1, "7"), (2, None), (3, "8")], [2]),  # unsubscribed from all: one opt-out from all
        ([(1, None), (2, None)], [1]),  # the same twice in a round
        ([(1, "7"), (2, "7")], [1]),
    ],
)
def test_a_round_sends_one_opt_out_per_subject_and_subscription(
    opt_outs: list[tuple[int, str | None]], kept: list[int]
) -> None:
    items = [(n, RegisterEvent(C1, OPT_OUT, subscription_id=sub)) for n, sub in opt_outs]
    assert [n for n, _ in distinct_opt_outs(items)] == kept


def test_opt_outs_of_different_subjects_are_kept_apart() -> None:
    items = [(1, RegisterEvent(C1, OPT_OUT)), (2, RegisterEvent(C2, OPT_OUT, subscription_id="7"))]
    assert distinct_opt_outs(items) == items
