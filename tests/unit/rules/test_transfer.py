"""The residency policy (``sync.rules.transfer``): what may go out while residency refuses."""

from __future__ import annotations

import pytest

from sync.model import EventKind
from sync.rules.transfer import carries_personal_data

ID, EMAIL = ["101"], "anna@example.se"


@pytest.mark.parametrize(
    ("kind", "contact_ids", "email", "personal"),
    [
        (EventKind.ERASURE, ID, EMAIL, False),  # by id: the address is never sent
        (EventKind.ERASURE, ID, None, False),  # a re-erasure of a contact that came back
        (EventKind.ERASURE, [], EMAIL, True),  # only the address could target it
        (EventKind.ERASURE, [], None, False),  # nothing to target: nothing sent
        (EventKind.RECTIFICATION, ID, EMAIL, True),
        (EventKind.RECTIFICATION, ID, None, True),  # values are personal data
        (EventKind.MARKETING_OPT_OUT, ID, EMAIL, True),
        (EventKind.MARKETING_OPT_IN, ID, EMAIL, True),
        (EventKind.RESTRICTION, ID, None, True),
        (EventKind.RESTRICTION_LIFTED, ID, None, True),
        (EventKind.ACCESS, ID, EMAIL, True),  # reads by address
    ],
)
def test_only_an_erasure_by_contact_id_carries_no_personal_data(
    kind: EventKind, contact_ids: list[str], email: str | None, personal: bool
) -> None:
    assert carries_personal_data(kind, contact_ids, email) is personal
