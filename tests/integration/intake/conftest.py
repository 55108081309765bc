"""An intake app over a real ledger (both backends), with signing helpers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from connectors.hubspot.signatures import V3Verifier, sign_v3, webhook_uri
from connectors.hubspot.webhook_payloads import inbox_items, parse_event
from sync import signing
from sync.clock import FixedClock
from sync.intake import IntakeOptions, build_app
from sync.intake.metrics import IntakeMetrics
from sync.ledger.sql import SqlLedger
from sync.serve import serving
from sync.status import read_report

CLIENT_SECRET = b"hubspot-client-secret"
REGISTER_SECRET = b"register-shared-secret"
PSEUDONYM_KEY = b"pseudonym-key-0123456789"
PUBLIC_URL = "https://hooks.example.com"
URI = webhook_uri(PUBLIC_URL)
MAX_BODY = 256 * 1024


@dataclass
class Ready:
    """A readiness verdict a test can flip."""

    ok: bool = True
    reason: str = "hosted in eu1"

    def __call__(self) -> tuple[bool, str]:
        return self.ok, self.reason


class Client:
    """A keep-alive HTTP client of one served app, with paths relative to its base URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=10)

    def post(self, path: str, *, content: Any, headers: dict[str, str]) -> requests.Response:
        return self.session.post(self.base_url + path, data=content, headers=headers, timeout=10)


@dataclass
class Harness:
    """The app's client, its ledger, clock, metrics and readiness."""

    client: Client
    ledger: SqlLedger
    clock: FixedClock
    metrics: IntakeMetrics
    ready: Ready = field(default_factory=Ready)

    def now_ms(self) -> str:
        return str(int(self.clock.now().timestamp() * 1000))

    def post_webhooks(
        self, body: bytes, *, secret: bytes = CLIENT_SECRET, uri: str = URI, **headers: str
    ) -> Any:
        ts = headers.pop("ts", self.now_ms())
        sent = {
            "content-type": "application/json",
            "x-hubspot-signature-v3": sign_v3(secret, "POST", uri, body, ts),
            "x-hubspot-request-timestamp": ts,
            **headers,
        }
        return self.client.post("/webhooks/hubspot", content=body, headers=sent)

    def post_events(self, document: Any, *, secret: bytes = REGISTER_SECRET) -> Any:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        header = signing.sign(secret, body, int(self.clock.now().timestamp()))
        return self.client.post(
            "/v1/events",
            content=body,
            headers={"content-type": "application/json", signing.SIGNATURE_HEADER: header},
        )


@contextmanager
def served(ledger: SqlLedger, clock: FixedClock, max_body: int = MAX_BODY) -> Iterator[Harness]:
    """The intake app over ``ledger``, served by uvicorn on a loopback port."""
    ready = Ready()
    metrics = IntakeMetrics(lambda: read_report(ledger, clock.now()))
    app = build_app(
        ledger,
        clock,
        verify_webhook=V3Verifier(CLIENT_SECRET, URI),
        read_webhooks=inbox_items,
        ready=ready,
        options=IntakeOptions(
            max_body_bytes=max_body,
            register_secret=REGISTER_SECRET,
            pseudonym_key=PSEUDONYM_KEY,
        ),
        metrics=metrics,
    )
    with serving(app) as base_url:
        client = Client(base_url)
        yield Harness(client, ledger, clock, metrics, ready)
        client.session.close()


@pytest.fixture
def intake(ledger: SqlLedger, clock: FixedClock) -> Iterator[Harness]:
    """The intake app over a fresh ledger of each backend."""
    with served(ledger, clock) as harness:
        yield harness


def webhook(event_id: int, **extra: Any) -> dict[str, Any]:
    """One HubSpot webhook event as HubSpot sends it."""
    return {
        "eventId": event_id, "subscriptionId": 200001, "portalId": 62515, "appId": 54321,
        "occurredAt": 1795780800000, "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0, "objectId": 1000 + event_id, "changeSource": "CRM_UI",
        "propertyName": "firstname", "propertyValue": f"Secret{event_id}", **extra,
    }  # fmt: skip


def receipt_key(event_id: int, **extra: Any) -> str:
    """The inbox key of ``webhook(event_id, **extra)``: its identity, as the intake makes it."""
    return parse_event(webhook(event_id, **extra)).receipt_key


def batch(*ids: int) -> bytes:
    return json.dumps([webhook(i) for i in ids], separators=(",", ":")).encode()


Envelope = Callable[..., dict[str, Any]]


def envelope(event_id: str = "reg-1", **overrides: Any) -> dict[str, Any]:
    """One register event envelope (DESIGN.md section 6)."""
    base: dict[str, Any] = {
        "event_id": event_id, "kind": "rectification", "subject_id": "C-1001",
        "email": "anna@example.se", "changes": {"first_name": "Anna"},
        "subscription_ids": [], "legal_basis": None, "reference": "ticket-42",
        "occurred_at": "2026-11-27T10:00:00Z",
    }  # fmt: skip
    base.update(overrides)
    return base
