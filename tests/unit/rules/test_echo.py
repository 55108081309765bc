"""Echo recognition (``sync.rules.echo``): what hubsync remembers writing, and what comes back.

The digest is a readable stand-in here (the real one is a keyed HMAC), so a
row of the table shows which key and value were marked.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync.model import ChangeKind, HubSpotChange, OptOutChange
from sync.rules.echo import (
    WriteMark,
    change_mark,
    is_echo,
    opt_out_key,
    opt_out_marks,
    written_marks,
)

AT = datetime(2026, 11, 27, 10, tzinfo=UTC)


def digest(key: str, value: str) -> str:
    return f"h({key}={value})"


def change(**fields: object) -> HubSpotChange:
    base: dict[str, object] = {
        "receipt_key": "1:2:3",
        "kind": ChangeKind.PROPERTY_CHANGED,
        "subscription_type": "contact.propertyChange",
        "occurred_at": AT,
        "object_id": "101",
        "property_name": "firstname",
        "property_value": "Anna",
    }
    base.update(fields)
    return HubSpotChange(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subscription_id", "key"),
    [(None, "opt_out"), ("4711", "opt_out:4711")],
)
def test_opt_outs_are_marked_under_core_keys(subscription_id: str | None, key: str) -> None:
    assert opt_out_key(subscription_id) == key


@pytest.mark.parametrize(
    ("updates", "failed", "renamed", "marks"),
    [
        (
            {"101": {"firstname": "Anna", "lastname": "Berg"}},
            [],
            {},
            [
                WriteMark("101", "firstname", "h(firstname=Anna)"),
                WriteMark("101", "lastname", "h(lastname=Berg)"),
            ],
        ),
        ({"101": {"firstname": "Anna"}, "102": {"firstname": "Bo"}}, ["102"], {}, [
            WriteMark("101", "firstname", "h(firstname=Anna)"),
        ]),
        ({"101": {"firstname": "Anna"}}, [], {"101": "900"}, [
            WriteMark("900", "firstname", "h(firstname=Anna)"),  # merged: its webhooks say 900
        ]),
        ({"101": {"firstname": ""}}, [], {}, [WriteMark("101", "firstname", "h(firstname=)")]),
        ({}, [], {}, []),
    ],
)  # fmt: skip
def test_written_marks_remember_each_successful_write_under_the_id_webhooks_will_carry(
    updates: dict[str, dict[str, str]],
    failed: list[str],
    renamed: dict[str, str],
    marks: list[WriteMark],
) -> None:
    assert written_marks(updates, failed, renamed, digest) == marks


@pytest.mark.parametrize(
    ("contacts", "subscriptions", "marks"),
    [
        (["101"], [], [WriteMark("101", "opt_out", "h(opt_out=opted_out)")]),
        (["101", "102"], ["7"], [
            WriteMark("101", "opt_out:7", "h(opt_out:7=opted_out)"),
            WriteMark("102", "opt_out:7", "h(opt_out:7=opted_out)"),
        ]),
        (["101"], ["7", "8"], [
            WriteMark("101", "opt_out:7", "h(opt_out:7=opted_out)"),
            WriteMark("101", "opt_out:8", "h(opt_out:8=opted_out)"),
        ]),
        ([], ["7"], []),
    ],
)  # fmt: skip
def test_opt_out_marks_name_each_subscription_or_all_email(
    contacts: list[str], subscriptions: list[str], marks: list[WriteMark]
) -> None:
    assert opt_out_marks(contacts, subscriptions, digest) == marks


@pytest.mark.parametrize(
    ("fields", "mark"),
    [
        ({}, WriteMark("101", "firstname", "h(firstname=Anna)")),
        ({"property_value": None}, WriteMark("101", "firstname", "h(firstname=)")),
        (
            {"property_name": "hs_email_optout", "opt_out": OptOutChange(True)},
            WriteMark("101", "opt_out", "h(opt_out=opted_out)"),
        ),
        (
            {"property_name": "hs_email_optout_7", "opt_out": OptOutChange(True, "7")},
            WriteMark("101", "opt_out:7", "h(opt_out:7=opted_out)"),
        ),
        (
            {"opt_out": OptOutChange(False, "7")},
            WriteMark("101", "opt_out:7", "h(opt_out:7=opted_in)"),  # never one hubsync wrote
        ),
        ({"object_id": None}, None),
        ({"property_name": None}, None),
    ],
)
def test_a_change_is_compared_by_the_mark_its_write_would_have_left(
    fields: dict[str, object], mark: WriteMark | None
) -> None:
    assert change_mark(change(**fields), digest) == mark


def test_both_sides_agree_on_the_mark_of_an_opt_out() -> None:
    [written] = opt_out_marks(["101"], ["7"], digest)
    seen = change(property_name="hs_email_optout_7", opt_out=OptOutChange(True, "7"))
    assert change_mark(seen, digest) == written


@pytest.mark.parametrize(
    ("by_this_app", "written", "echo"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
)
def test_a_change_is_an_echo_when_hubsyncs_app_made_it_or_hubsync_wrote_its_value(
    by_this_app: bool, written: bool, echo: bool
) -> None:
    assert is_echo(change(by_this_app=by_this_app), written) is echo
