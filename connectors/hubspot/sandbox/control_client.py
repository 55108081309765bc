"""A client of the sandbox's control API (``/_sandbox``), for the demo and other processes.

It does what a HubSpot user, a form or an email recipient would do
(``POST /_sandbox/actions/{action}``) and reads the sandbox's state; it is
never pointed at real HubSpot, which has no such API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import requests


class SandboxControl:
    """Actions and state of one running sandbox, over HTTP."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._session.request(
            method, f"{self.base_url}/_sandbox{path}", json=body, timeout=self._timeout_s
        )
        response.raise_for_status()
        return response.json()

    def act(self, action: str, **body: Any) -> dict[str, Any]:
        """Do what a user, form or recipient would (``update``, ``merge``, ``unsubscribe``...)."""
        return dict(self._call("POST", f"/actions/{action}", body))

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """One live (not archived) contact from the state, or None."""
        for contact in self._call("GET", "/state")["contacts"]:
            if str(contact["id"]) == contact_id and not contact.get("archived"):
                return dict(contact)
        return None

    def configure_webhooks(self, url: str | None, properties: Sequence[str] | None = None) -> None:
        """Deliver webhooks to ``url`` (None: down) for ``properties`` (None: every one)."""
        body = {"url": url, "properties": None if properties is None else list(properties)}
        self._call("POST", "/webhooks", body)

    def webhooks_idle(self) -> bool:
        """True when no webhook is queued, waiting for a retry or being delivered."""
        return bool(self._call("GET", "/webhooks")["idle"])

    def rotate_token(self, access_token: str | None) -> None:
        """Accept only ``access_token`` from now on (the old one answers 401); None: any token."""
        self._call("POST", "/auth", {"access_token": access_token})

    def remove_scopes(self, *scopes: str) -> None:
        """Take scopes from the app: calls that need them answer 403 ``MISSING_SCOPES``."""
        self._call("POST", "/auth", {"remove_scopes": list(scopes)})

    def restore_auth(self) -> None:
        """The token and scopes the sandbox started with."""
        self._call("POST", "/auth", {"restore": True})

    def auth(self) -> dict[str, Any]:
        """Whether a token is fixed (never the token) and the app's scopes."""
        return dict(self._call("GET", "/auth"))

    def close(self) -> None:
        """Release the HTTP session."""
        self._session.close()
