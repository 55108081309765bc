"""The whole system in both directions: sandbox -> signed webhooks -> intake -> ledger -> worker.

The sandbox delivers its webhooks, signed v3, to a real intake server; the
worker takes them from the ledger's inbox into a ``SqlRegister`` (SQLite) and
applies register events to the sandbox. Nothing here is a stand-in for our own
code: only HubSpot is emulated.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.control_client import SandboxControl
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.audit import AuditRow
from sync.demo.scenario import settle
from sync.ledger.sql import SqlLedger
from sync.model import EventKind, StoredEvent
from sync.operator import Operator, new_envelope
from sync.serve import serving
from sync.settings import Settings, load_settings
from sync.worker import Worker

TOKEN = "pat-eu1-e2e-token"
CLIENT_SECRET = "e2e-client-secret"
PSEUDONYM_KEY = "e2e-pseudonym-key-0123456789"
APP_ID = 7654321


def e2e_sandbox_config(**options: Any) -> SandboxConfig:
    """The e2e sandbox: fast webhook delivery, generous limits; ``options`` change it."""
    return SandboxConfig(
        **{
            "port": 0,
            "access_token": TOKEN,
            "client_secret": CLIENT_SECRET,
            "app_id": APP_ID,
            "rate_limit_per_10s": 100_000,
            "search_limit_per_s": 100_000,
            "webhook_batch_window_ms": 10,
            "webhook_backoff_s": 0.05,
            "webhook_backoff_max_s": 0.2,
            **options,
        }
    )


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningSandbox]:
    """One sandbox per module; tests reset it."""
    with running_sandbox(e2e_sandbox_config()) as running:
        yield running


def free_port() -> int:
    """A loopback port nobody listens on (the intake must know its URL before it serves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Loop:
    """The system a test drives, and ways to look into each part."""

    settings: Settings
    operator: Operator
    worker: Worker
    register: SqlRegister
    sandbox: SandboxControl
    intake_url: str
    before_test: set[int] = field(default_factory=set)

    @property
    def ledger(self) -> SqlLedger:
        ledger = self.operator.ledger
        assert isinstance(ledger, SqlLedger)
        return ledger

    def act(self, action: str, **body: Any) -> dict[str, Any]:
        """What a HubSpot user, form or email recipient does in the sandbox."""
        return self.sandbox.act(action, **body)

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """A live contact as the sandbox holds it."""
        return self.sandbox.contact(contact_id)

    def properties(self, contact_id: str) -> dict[str, Any]:
        found = self.contact(contact_id)
        assert found is not None, f"contact {contact_id} is not in the sandbox"
        return dict(found["properties"])

    def deliveries_idle(self) -> bool:
        return self.sandbox.webhooks_idle()

    def settle(self) -> None:
        """Until webhooks are delivered and the worker has nothing left (both ways)."""
        settle(self.sandbox, self.worker, timeout_s=30)

    def link(self, subject: str, email: str, **fields: Any) -> str:
        """A register customer with a HubSpot contact, linked by a first register event."""
        self.register.add_customer(subject, email=email, **fields)
        contact_id = str(
            self.act("create", properties={"email": email, **_hs(fields)})["contact_id"]
        )
        self.settle()  # the creation's webhooks find no subject yet: nothing for the register
        self.submit("rectification", subject, f"link-{subject}", email=email, changes=fields)
        self.settle()
        record = self.ledger.subject(subject)
        assert record is not None
        assert contact_id in record.contact_ids
        # The contact's creation may have reached the register already (the
        # register found the subject by email): tests look at what follows.
        self.before_test = {e.seq for e in self.ledger.list_events(limit=None)}
        return contact_id

    def submit(self, kind: str, subject: str, event_id: str, **fields: Any) -> None:
        envelope = new_envelope(EventKind(kind), subject, datetime.now(UTC), event_id, **fields)
        self.operator.submit(envelope)

    def customer(self, subject: str) -> dict[str, Any]:
        record = self.register.record(subject)
        assert record is not None
        return record

    def audit(self, action: str | None = None) -> list[AuditRow]:
        rows = list(self.ledger.audit_rows())
        return [r for r in rows if action is None or r.entry.action == action]

    def register_events(self) -> list[StoredEvent]:
        """Register-bound events since the last ``link``."""
        return [
            e
            for e in self.ledger.list_events(limit=None)
            if e.direction.value == "to_register" and e.seq not in self.before_test
        ]


def _hs(fields: dict[str, Any]) -> dict[str, Any]:
    names = {"first_name": "firstname", "last_name": "lastname", "phone": "phone"}
    return {names[k]: v for k, v in fields.items() if k in names}


def build_loop(
    stack: ExitStack,
    sandbox: RunningSandbox,
    ledger: dict[str, Any],
    tmp_path: Path,
    *,
    app_id: int | None = APP_ID,
    on_hubspot_erasure: str = "apply",
    webhooks: bool = True,
) -> Loop:
    """Settings for every part, the intake served, the sandbox pointed at it."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    register_url = f"sqlite:///{tmp_path / 'register.db'}"
    register = SqlRegister(register_url, on_hubspot_erasure=on_hubspot_erasure)  # type: ignore[arg-type]
    register.create_schema()
    stack.callback(register.close)
    settings = load_settings(
        None,
        ledger=ledger,
        hubspot={
            "base_url": sandbox.base_url,
            "access_token": TOKEN,
            "client_secret": CLIENT_SECRET,
            "app_id": app_id,
            "rate_limit_per_10s": 10_000,
            "timeout_seconds": 5,
        },
        server={"public_url": public_url, "host": "127.0.0.1", "port": port},
        audit={"pseudonym_key": PSEUDONYM_KEY},
        register={"kind": "sql", "url": register_url, "on_hubspot_erasure": on_hubspot_erasure},
        worker={"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05},
    )
    app = bootstrap.build_intake(settings, ready=lambda: (True, "test"))
    stack.callback(app.state.intake.ledger.close)
    intake_url = stack.enter_context(serving(app, "127.0.0.1", port))
    worker = bootstrap.build_worker(settings)
    stack.callback(worker.close)
    operator = bootstrap.build_operator(settings, actor="test")
    stack.callback(operator.ledger.close)
    control = SandboxControl(sandbox.base_url)
    stack.callback(control.close)
    if webhooks:  # a Service Key gets none
        control.configure_webhooks(f"{public_url}/webhooks/hubspot")
    return Loop(settings, operator, worker, register, control, intake_url)


DATED_PREFIXES = (
    "/crm/objects/2026-09/",
    "/crm/properties/2026-09/",
    "/communication-preferences/2026-09/",
    "/account-info/2026-09/",
)
"""Where every HubSpot call hubsync makes must go: the 2026-09 paths (issue 12)."""


def undated_calls(base_url: str) -> list[str]:
    """The calls in the sandbox's request log that did not use a 2026-09 path."""
    answer = requests.get(f"{base_url}/_sandbox/requests", timeout=10)
    answer.raise_for_status()
    paths = [str(r["path"]) for r in answer.json()["requests"]]
    return sorted({p for p in paths if not p.startswith(DATED_PREFIXES)})


@pytest.fixture
def loop(
    sandbox_server: RunningSandbox, ledger_settings: dict[str, Any], tmp_path: Path
) -> Iterator[Loop]:
    """A fresh loop on a reset sandbox, register erasures applied.

    Afterwards the sandbox's request log must hold 2026-09 paths only: every
    e2e scenario checks that hubsync spoke today's HubSpot.
    """
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    with ExitStack() as stack:
        yield build_loop(stack, sandbox_server, ledger_settings, tmp_path)
    assert undated_calls(sandbox_server.base_url) == []
