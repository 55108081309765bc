"""Reconciliation rules (``sync.rules.reconcile``): every drift class, from one table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sync.model import Authority, RegisterSubject, SubjectId
from sync.rules.reconcile import (
    Ambiguity,
    ContactFacts,
    Drift,
    DriftClass,
    FieldTimes,
    Match,
    Repair,
    classify_contact,
    counts,
    email_key,
    field_repair,
    several_contacts,
)

T = datetime(2026, 11, 27, 10, tzinfo=UTC)
AUTHORITIES = {
    "email": Authority.REGISTER,
    "first_name": Authority.BOTH,
    "phone": Authority.HUBSPOT,
    "company": Authority.REGISTER,
}


def subject(
    sid: str = "S-1", email: str | None = "anna@example.se", **kw: object
) -> RegisterSubject:
    base = RegisterSubject(
        subject_id=SubjectId(sid),
        email=email,
        fields={"first_name": "Anna", "phone": "+46701", "company": None},
        opted_out=False,
        restricted=False,
        erased=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def contact(**kw: object) -> ContactFacts:
    base = ContactFacts(
        contact_id="101",
        email="anna@example.se",
        values={"email": "anna@example.se", "first_name": "Anna", "phone": "+46701", "company": ""},
        linked=("S-1",),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


ANNA = subject()
ERASED = subject(email=None, erased=True, fields={})
CASE = contact(email="Anna@Example.se ")

CASES = [
    # (name, contact, by_email, linked, expected classes)
    ("in step", contact(), [ANNA], [ANNA], []),
    ("suppressed", contact(suppressed=True), [ANNA], [ANNA], ["erased_but_present"]),
    ("linked to an erased subject", contact(), [], [ERASED], ["erased_but_present"]),
    (
        "register opted out",
        contact(),
        [subject(opted_out=True)],
        [subject(opted_out=True)],
        ["opt_out_missing_in_hubspot"],
    ),
    (
        "register restricted, subscribed",
        contact(restricted=True),
        [subject(restricted=True)],
        [subject(restricted=True)],
        ["opt_out_missing_in_hubspot"],
    ),
    (
        "hubspot opted out",
        contact(opted_out_all=True),
        [ANNA],
        [ANNA],
        ["opt_out_missing_in_register"],
    ),
    (
        "statuses unknown",
        contact(opted_out_all=None),
        [subject(opted_out=True)],
        [subject(opted_out=True)],
        [],
    ),
    (
        "restriction set in hubspot only",
        contact(restricted=True),
        [ANNA],
        [ANNA],
        ["restriction_drift"],
    ),
    (
        "field differs",
        contact(values={"email": "anna@example.se", "first_name": "Ann"}),
        [ANNA],
        [ANNA],
        ["field_drift"],
    ),
    (
        "email case in a value is no drift",
        contact(values={"email": "ANNA@example.se"}),
        [ANNA],
        [ANNA],
        [],
    ),
    ("not linked", contact(linked=()), [ANNA], [], ["unlinked"]),
    ("unknown", contact(linked=()), [], [], ["unknown_to_register"]),
    ("two subjects share the email", contact(linked=()), [ANNA, subject("S-2")], [], ["ambiguous"]),
    ("case or whitespace only", replace(CASE, linked=()), [ANNA], [], ["ambiguous"]),
    (
        "linked to several",
        contact(linked=("S-1", "S-2")),
        [ANNA],
        [ANNA, subject("S-2")],
        ["ambiguous"],
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "by_email", "linked", "classes"), CASES, ids=[c[0] for c in CASES]
)
def test_each_difference_gets_its_class(
    name: str,
    facts: ContactFacts,
    by_email: list[RegisterSubject],
    linked: list[RegisterSubject],
    classes: list[str],
) -> None:
    drifts, _matched = classify_contact(facts, by_email, linked, AUTHORITIES)
    assert [d.drift_class.value for d in drifts] == classes


def test_an_ambiguous_contact_gets_no_other_drift_and_no_repair() -> None:
    shared = [subject(opted_out=True), subject("S-2", restricted=True)]
    drifts, matched = classify_contact(contact(linked=()), shared, [], AUTHORITIES)
    assert drifts == [
        Drift(DriftClass.AMBIGUOUS, ("101",), ("S-1", "S-2"), reason=Ambiguity.SHARED_EMAIL)
    ]
    assert matched is None


def test_a_field_drift_names_each_field_and_its_repair_by_authority() -> None:
    values = {"email": "bo@example.se", "first_name": "Ann", "phone": "+1", "company": "Acme"}
    drifts, matched = classify_contact(contact(values=values), [], [ANNA], AUTHORITIES)
    assert matched == "S-1"
    assert [(d.field_names, d.repair) for d in drifts] == [
        (("company",), Repair.RECTIFY_HUBSPOT),
        (("email",), Repair.RECTIFY_HUBSPOT),
        (("first_name",), Repair.REPORT_ONLY),
        (("phone",), Repair.UPDATE_REGISTER),
    ]


@pytest.mark.parametrize(
    ("authority", "register_at", "hubspot_at", "repair"),
    [
        (Authority.REGISTER, None, T, Repair.RECTIFY_HUBSPOT),
        (Authority.HUBSPOT, T, None, Repair.UPDATE_REGISTER),
        (Authority.BOTH, None, None, Repair.REPORT_ONLY),
        (Authority.BOTH, T, None, Repair.RECTIFY_HUBSPOT),
        (Authority.BOTH, None, T, Repair.UPDATE_REGISTER),
        (Authority.BOTH, T + timedelta(seconds=1), T, Repair.RECTIFY_HUBSPOT),
        (Authority.BOTH, T, T + timedelta(seconds=1), Repair.UPDATE_REGISTER),
        (Authority.BOTH, T, T, Repair.UPDATE_REGISTER),  # a tie goes to HubSpot
    ],
)
def test_the_repair_follows_the_authority_and_for_both_the_later_change(
    authority: Authority, register_at: datetime | None, hubspot_at: datetime | None, repair: Repair
) -> None:
    times = FieldTimes(
        register={"x": register_at} if register_at else {},
        hubspot={"x": hubspot_at} if hubspot_at else {},
    )
    assert field_repair(authority, "x", times) is repair


@pytest.mark.parametrize(
    ("matches", "ambiguous"),
    [
        ({"S-1": [Match("101")]}, []),
        ({"S-1": [Match("101"), Match("102")]}, [("101", "102")]),
        ({"S-1": [Match("101", ("102",)), Match("102")]}, []),  # a merge explains it
        ({"S-1": [Match("101"), Match("101")]}, []),  # the same contact twice
    ],
)
def test_one_subject_matching_several_contacts_is_ambiguous_unless_a_merge_explains_it(
    matches: dict[str, list[Match]], ambiguous: list[tuple[str, ...]]
) -> None:
    drifts = several_contacts(matches)
    assert [d.contact_ids for d in drifts] == ambiguous
    assert all(d.reason == Ambiguity.SEVERAL_CONTACTS for d in drifts)


def test_no_drift_carries_an_email_or_a_value() -> None:
    values = {"email": "bo@example.se", "first_name": "Ann", "phone": "+1", "company": "Acme"}
    everything = [
        d
        for facts, by_email, linked in [(contact(values=values, opted_out_all=True), [], [ANNA])]
        + [(c[1], c[2], c[3]) for c in CASES]
        for d in classify_contact(facts, by_email, linked, AUTHORITIES)[0]
    ]
    text = repr([d.as_dict() for d in everything])
    for secret in ("example.se", "Anna", "Ann'", "Acme", "+46701", "+1"):
        assert secret not in text


def test_counts_name_every_class_even_when_none_was_found() -> None:
    found = counts([Drift(DriftClass.UNLINKED, ("1",)), Drift(DriftClass.UNLINKED, ("2",))])
    assert found == {c.value: (2 if c is DriftClass.UNLINKED else 0) for c in DriftClass}


@pytest.mark.parametrize(
    ("raw", "key"),
    [(" Anna@Example.SE ", "anna@example.se"), ("", None), ("  ", None), (None, None)],
)
def test_emails_are_compared_trimmed_and_in_lower_case(raw: str | None, key: str | None) -> None:
    assert email_key(raw) == key
