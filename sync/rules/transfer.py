"""Which HubSpot-bound events carry personal data: the one residency policy for every write.

Transfers go only to a HubSpot account hosted in an allowed location
(DESIGN.md section 2). While the residency verdict refuses transfers (the
account is hosted elsewhere, or HubSpot cannot say where), nothing that
carries personal data goes out: values, email addresses, subscription
changes, reads by email. An erasure that can target its contacts by id is
the one exception: it sends only HubSpot's own ids and removes what is
there, so it is never held back, whether the register asked for it or
hubsync re-erases a contact that came back after an erasure. An erasure that
only an email address could target (no contact id is known) sends the
address, so it waits like any other transfer. One with neither has nothing
to send and nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.model import EventKind


def carries_personal_data(kind: EventKind, contact_ids: Sequence[str], email: str | None) -> bool:
    """Whether applying an event of ``kind`` to these contacts sends personal data to HubSpot."""
    if kind is EventKind.ERASURE:
        return not contact_ids and email is not None
    return True
