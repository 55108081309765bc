"""Helpers shared by the sandbox tests: the client, control-API calls, a fake clock, a receiver."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from hubspot import HubSpot

from connectors.hubspot.sandbox.server import RunningSandbox

TOKEN = "pat-eu1-sandbox-test"


def make_client(running: RunningSandbox, token: str = TOKEN) -> HubSpot:
    """The official client pointed at the sandbox (typed APIs use host, api_request base_url)."""
    return HubSpot(access_token=token, host=running.base_url, base_url=running.base_url)


def sandbox_requests(running: RunningSandbox) -> list[dict[str, Any]]:
    """The calls the sandbox logged, read through its control API."""
    response = requests.get(f"{running.base_url}/_sandbox/requests", timeout=5)
    return list(response.json()["requests"])


def sandbox_state(running: RunningSandbox) -> dict[str, Any]:
    """The sandbox's state, read through its control API."""
    return dict(requests.get(f"{running.base_url}/_sandbox/state", timeout=5).json())


def action(running: RunningSandbox, name: str, **body: Any) -> dict[str, Any]:
    """Perform a HubSpot-side action through the control API."""
    response = requests.post(f"{running.base_url}/_sandbox/actions/{name}", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return dict(response.json())


class FakeClock:
    """A clock the test moves by hand (starts at the real time so signatures stay fresh)."""

    def __init__(self) -> None:
        self.now = time.time()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        with self._lock:
            self.now += seconds


@dataclass
class Received:
    """One request the webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: str

    @property
    def events(self) -> list[dict[str, Any]]:
        """The JSON array of events."""
        return list(json.loads(self.body))


@dataclass
class Receiver:
    """A tiny HTTP server on 127.0.0.1 that records webhook deliveries."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        """The status for the next delivery: queued ones first, then 204."""
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 204

    def events(self) -> list[dict[str, Any]]:
        """Every event received, in arrival order."""
        with self.lock:
            return [e for r in self.received for e in r.events]

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        """Wait until `predicate(self)` holds (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.01)
        raise AssertionError(f"webhook receiver: condition not met; got {self.events()}")
