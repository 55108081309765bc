"""A whole register-to-HubSpot system: the sandbox, a ledger on each backend, the worker."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.server import RunningSandbox
from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.model import EventKind, StoredEvent, SubmitResult
from sync.operator import Operator, new_envelope
from sync.settings import Settings, load_settings
from sync.worker import Worker
from tests.integration.conftest import TOKEN

PSEUDONYM_KEY = "worker-test-pseudonym-key-0123"


@dataclass
class System:
    """The parts a test drives: settings, operator, worker, and the sandbox's control API."""

    settings: Settings
    operator: Operator
    worker: Worker
    base_url: str

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sandbox's control API."""
        response = requests.request(method, self.base_url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def contact(self, email: str, **properties: str) -> str:
        """Create a contact inside HubSpot, as a form would; returns its id."""
        answer = self.control(
            "POST", "/_sandbox/actions/form_submission", {"email": email, "properties": properties}
        )
        return str(answer["contact_id"])

    def state(self) -> dict[str, Any]:
        """The sandbox's state."""
        return dict(self.control("GET", "/_sandbox/state"))

    def sandbox_contact(self, contact_id: str) -> dict[str, Any] | None:
        """One contact from the sandbox's state, or None."""
        contacts = self.state()["contacts"]
        if isinstance(contacts, dict):
            return contacts.get(contact_id)
        return next((c for c in contacts if str(c.get("id")) == contact_id), None)

    def api_requests(self) -> list[dict[str, Any]]:
        """The API calls the sandbox received, in order."""
        return list(self.control("GET", "/_sandbox/requests")["requests"])

    def submit(self, kind: str, subject: str, event_id: str, **fields: Any) -> SubmitResult:
        """Submit a register-side event through the operator (audited)."""
        envelope = new_envelope(EventKind(kind), subject, datetime.now(UTC), event_id, **fields)
        return self.operator.submit(envelope)

    def event(self, event_id: str) -> StoredEvent:
        """One event as the ledger holds it."""
        return self.operator.event(event_id)


def build_system(base_url: str, ledger: dict[str, Any], **hubspot: Any) -> System:
    """Settings for the sandbox and a ledger, and the operator and worker they give.

    The register is an empty ``SqlRegister`` of its own: these tests drive
    register-to-HubSpot events, which never touch it.
    """
    register_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='hubsync-register-')) / 'r.db'}"
    register = SqlRegister(register_url)
    register.create_schema()
    register.close()
    settings = load_settings(
        None,
        ledger=ledger,
        hubspot={
            "base_url": base_url,
            "access_token": TOKEN,
            "rate_limit_per_10s": 10_000,
            "timeout_seconds": 2,
            **hubspot,
        },
        audit={"pseudonym_key": PSEUDONYM_KEY},
        register={"url": register_url},
        worker={"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "max_attempts": 8},
    )
    return System(
        settings=settings,
        operator=bootstrap.build_operator(settings, actor="test"),
        worker=bootstrap.build_worker(settings),
        base_url=base_url,
    )


@pytest.fixture
def system(sandbox_server: RunningSandbox, ledger_settings: dict[str, Any]) -> Iterator[System]:
    """A fresh system on a reset sandbox."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    built = build_system(sandbox_server.base_url, ledger_settings)
    yield built
    built.operator.ledger.close()
    built.worker.close()
