"""One residency policy for every write: while residency refuses, only erasures by id go out.

The worker's settings allow only ``na1`` while the sandbox says ``eu1``, so
the residency verdict refuses transfers. What carries personal data waits
with ``residency_refused`` (attempts not counted); an erasure of a contact
hubsync knows by id sends only HubSpot's own id and removes data, so it
goes. Every request the sandbox received is checked for the address.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.server import RunningSandbox
from sync.audit import Pseudonymizer
from tests.integration.worker.conftest import PSEUDONYM_KEY, System, build_system

EMAIL = "greta.holm@example.se"
OTHER = "bo.berg@example.se"


@pytest.fixture
def refusing(sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]) -> Iterator[System]:
    """A system whose worker refuses transfers to the sandbox's location (eu1)."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    built = build_system(
        sandbox_server.base_url, ledger_settings, allowed_hosting_locations=["na1"]
    )
    yield built
    built.operator.ledger.close()
    built.worker.close()


def _known(system: System, subject: str, email: str, contact_id: str) -> None:
    """The subject map links ``subject`` to its contact, as an earlier event would have."""
    system.operator.ledger.remember_subject(
        subject, system.operator.clock.now(), email=email, contact_ids=[contact_id]
    )


def _sent(system: System, before: int) -> list[dict[str, Any]]:
    return system.api_requests()[before:]


def test_an_erasure_of_a_known_contact_goes_out_while_residency_refuses(refusing: System) -> None:
    contact_id = refusing.contact(EMAIL, firstname="Greta")
    _known(refusing, "C-1", EMAIL, contact_id)
    before = len(refusing.api_requests())

    refusing.submit("erasure", "C-1", "e1", email=EMAIL)
    refusing.worker.run_until_idle()

    event = refusing.event("e1")
    assert (event.state.value, event.note, event.attempts) == ("done", None, 1)
    assert refusing.sandbox_contact(contact_id) is None
    pseudonymizer = Pseudonymizer(PSEUDONYM_KEY.encode())
    assert refusing.operator.ledger.is_suppressed(pseudonymizer.email(EMAIL))
    assert refusing.operator.ledger.is_suppressed(pseudonymizer.contact(contact_id))
    rows = [r.entry for r in refusing.operator.audit_rows() if r.entry.event_id == "e1"]
    assert [(r.action, r.outcome, r.system) for r in rows if r.system == "hubspot"] == [
        ("contact_erased", "done", "hubspot")
    ]
    calls = _sent(refusing, before)
    assert [c["path"] for c in calls] == [
        "/account-info/2026-09/details",
        "/crm/objects/2026-09/contacts/batch/read",  # where the known id lives now
        "/crm/objects/2026-09/contacts/gdpr-delete",
        "/crm/objects/2026-09/contacts/batch/read",  # the verification, by id
    ]
    assert calls[2]["body"] == {"objectId": contact_id}
    assert EMAIL not in json.dumps(calls).lower()


def test_an_erasure_only_an_email_address_could_target_waits_while_residency_refuses(
    refusing: System,
) -> None:
    contact_id = refusing.contact(EMAIL, firstname="Greta")  # HubSpot has it; hubsync never met it
    before = len(refusing.api_requests())

    refusing.submit("erasure", "C-2", "e2", email=EMAIL)
    refusing.worker.run_until_idle()

    event = refusing.event("e2")
    assert (event.state.value, event.attempts) == ("pending", 0)
    assert event.last_error is not None
    assert event.last_error.code == "residency_refused"
    assert refusing.sandbox_contact(contact_id) is not None
    assert [c["path"] for c in _sent(refusing, before)] == ["/account-info/2026-09/details"]


def test_while_residency_refuses_an_erasure_by_id_goes_and_every_other_write_waits(
    refusing: System,
) -> None:
    erased = refusing.contact(EMAIL, firstname="Greta")
    kept = refusing.contact(OTHER, firstname="Bo")
    _known(refusing, "C-3", EMAIL, erased)
    _known(refusing, "C-4", OTHER, kept)
    before = len(refusing.api_requests())

    refusing.submit("erasure", "C-3", "e3", email=EMAIL)
    refusing.submit("rectification", "C-4", "r4", email=OTHER, changes={"first_name": "Bosse"})
    refusing.submit("marketing_opt_out", "C-5", "o5", email=OTHER)
    refusing.submit("restriction", "C-6", "x6", email=OTHER)
    refusing.worker.run_until_idle()

    assert refusing.event("e3").state.value == "done"
    for waiting in ("r4", "o5", "x6"):
        event = refusing.event(waiting)
        assert (event.state.value, event.attempts) == ("pending", 0), waiting
        assert event.last_error is not None
        assert event.last_error.code == "residency_refused"
    contact = refusing.sandbox_contact(kept)
    assert contact is not None
    assert contact["properties"]["firstname"] == "Bo"
    calls = _sent(refusing, before)
    assert all(
        c["path"].startswith(("/account-info/", "/crm/objects/2026-09/contacts/")) for c in calls
    )
    sent = json.dumps(calls).lower()
    assert "bosse" not in sent
    assert OTHER not in sent
    assert EMAIL not in sent
