"""Fixtures for the sandbox tests: a running sandbox, the official client, a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from hubspot import HubSpot

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from tests.integration.sandbox.helpers import Received, Receiver, make_client


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[RunningSandbox]:
    """One sandbox per test module, generous limits; tests reset it through `sandbox`."""
    config = SandboxConfig(port=0, rate_limit_per_10s=100_000, search_limit_per_s=100_000)
    with running_sandbox(config) as running:
        yield running


@pytest.fixture
def sandbox(shared_sandbox: RunningSandbox) -> RunningSandbox:
    """The module's sandbox, reset to empty through the control API."""
    response = requests.post(f"{shared_sandbox.base_url}/_sandbox/reset", timeout=5)
    assert response.status_code == 200
    return shared_sandbox


@pytest.fixture
def client(sandbox: RunningSandbox) -> HubSpot:
    """The official client for the shared sandbox."""
    return make_client(sandbox)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver running in a thread for the test's duration."""
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            rec = holder["r"]
            with rec.lock:
                rec.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(rec.next_status())
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["r"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/webhooks/hubspot")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
