"""The client against answers no sandbox gives: a 200 that is not JSON, a refusal's headers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.ratelimit import DAILY, RateBudget
from sync.clock import SystemClock
from sync.errors import PermanentError, RetryableError
from sync.ledger.sql import SqlLedger


class _Proxy(BaseHTTPRequestHandler):
    """A proxy in front of HubSpot: an HTML page, a bare 403, a 404, a refused call."""

    def do_GET(self) -> None:
        if "/html" in self.path:
            body, status, headers = b"<html>maintenance</html>", 200, {}
        elif "/contacts/0" in self.path:  # a scope probe, refused without a category
            body, status, headers = b'{"status":"error","message":"forbidden"}', 403, {}
        elif "/properties/" in self.path:  # the schema read probe finds nothing
            body = b'{"status":"error","message":"no","category":"OBJECT_NOT_FOUND"}'
            status, headers = 404, {}
        else:
            body = b'{"status":"error","message":"nope","category":"VALIDATION_ERROR"}'
            status, headers = 400, {"X-HubSpot-RateLimit-Daily-Remaining": "0"}
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if status == 200 else "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def proxy() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client(base_url: str, ledger: SqlLedger) -> tuple[HubSpotClient, RateBudget]:
    budget = RateBudget(ledger, SystemClock(), per_10s=100, daily=1000, search_per_s=4)
    client = HubSpotClient(base_url=base_url, access_token="t", budget=budget, in_call_attempts=1)
    return client, budget


def test_a_200_that_is_not_json_is_retryable_not_a_crash(proxy: str, ledger: SqlLedger) -> None:
    client, _ = _client(proxy, ledger)

    with pytest.raises(RetryableError) as raised:
        client.get_contact("html")

    assert raised.value.code == "unreadable_answer"


def test_a_refusals_daily_remaining_of_zero_holds_the_daily_budget(
    proxy: str, ledger: SqlLedger
) -> None:
    client, _ = _client(proxy, ledger)

    with pytest.raises(PermanentError):
        client.get_contact("refused")

    bucket = ledger.rate_bucket(DAILY)
    assert bucket is not None
    assert bucket.blocked_until is not None


def test_a_403_without_a_category_counts_the_probed_scope_missing(
    proxy: str, ledger: SqlLedger
) -> None:
    client, _ = _client(proxy, ledger)

    missing = client.missing_scopes(["crm.objects.contacts.read", "crm.schemas.contacts.read"])

    assert missing == ["crm.objects.contacts.read"]  # the 404 of the other probe: granted
