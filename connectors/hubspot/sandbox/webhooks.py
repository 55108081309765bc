"""Webhook delivery as HubSpot does it: batched JSON arrays, v1+v3 signatures, retries with backoff.

One background thread (started by `start()`, never by the constructor) batches events for
`batch_window_ms`, POSTs them to the target URL and reschedules a batch that got a non-2xx
answer, a timeout or a connection error, with `attemptNumber` counting up from 0, until
`max_attempts` deliveries were made. Queued events are bounded; the oldest are dropped
(and counted) when the receiver is gone for long.

As HubSpot (hubspot-fidelity.md 2.6): a 400, 401, 403, 404 or 405 is not retried unless
`retry_client_errors`; `event_id_cycle` makes eventIds repeat ("not guaranteed to be
unique", webhooks doc); `redeliver` sends each batch again after its 2xx (at least once).
`send_raw` queues items exactly as given (a malformed event, for tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
import structlog

from connectors.hubspot.sandbox.events import ContactEvent
from connectors.hubspot.sandbox.timefmt import iso_ms

log = structlog.get_logger()

USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client)"
SUBSCRIPTION_IDS = {
    "contact.creation": 100001,
    "contact.deletion": 100002,
    "contact.privacyDeletion": 100003,
    "contact.merge": 100004,
    "contact.restore": 100005,
}
PROPERTY_SUBSCRIPTION_BASE = 200000
MAX_IDLE_WAIT_S = 0.5
NOT_RETRIED = frozenset({400, 401, 403, 404, 405})
"""Answers HubSpot gives up on at once (HubSpot staff, community thread td-p/277558)."""


def sign_v3(client_secret: str, method: str, uri: str, body: str, timestamp_ms: int | str) -> str:
    """HubSpot's v3 signature: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    message = f"{method}{uri}{body}{timestamp_ms}".encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(client_secret: str, body: str) -> str:
    """HubSpot's v1 signature, still sent beside v3: hex(SHA-256(secret + body))."""
    return hashlib.sha256(f"{client_secret}{body}".encode()).hexdigest()


@dataclass
class _Batch:
    id: int
    events: list[Any]
    attempt: int
    due: float
    status: int | None = None
    redelivered: bool = False


GENERIC_ACTIONS = frozenset({"creation", "deletion", "merge", "restore", "propertyChange"})
"""The contact events HubSpot also sends as generic ``object.*`` events."""


class WebhookDispatcher:
    """Batches, signs and delivers webhook events to one target URL from a background thread."""

    def __init__(
        self,
        *,
        url: str | None,
        client_secret: str,
        portal_id: int,
        app_id: int,
        properties: frozenset[str] | None = None,
        max_attempts: int = 10,
        backoff_s: float = 1.0,
        backoff_max_s: float = 3600.0,
        timeout_s: float = 5.0,
        batch_size: int = 100,
        batch_window_ms: int = 50,
        queue_limit: int = 10_000,
        log_size: int = 1000,
        wall_clock: Callable[[], float] = time.time,
        generic_events: bool = False,
        retry_client_errors: bool = False,
        event_id_cycle: int = 0,
        redeliver: bool = False,
        email_optout_changes: bool = False,
    ) -> None:
        self.url = url
        # Whether `hs_email_optout*` property changes are sent (SandboxConfig
        # `webhook_email_optout_changes`: HubSpot may not offer them).
        self._email_optout_changes = email_optout_changes
        self._retry_client_errors = retry_client_errors
        self._event_id_cycle = max(0, event_id_cycle)
        self._redeliver = redeliver
        self._generic = generic_events
        self.properties = properties
        self._secret = client_secret
        self._portal_id = portal_id
        self._app_id = app_id
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._batch_size = max(1, batch_size)
        self._window_s = batch_window_ms / 1000
        self._queue_limit = queue_limit
        self._wall_clock = wall_clock
        self._cond = threading.Condition()
        self._fresh: deque[dict[str, Any]] = deque()
        self._fresh_since = 0.0
        self._scheduled: list[_Batch] = []
        self._in_flight = 0
        self._log: deque[dict[str, Any]] = deque(maxlen=log_size)
        self._event_ids = itertools.count(1)
        self._batch_ids = itertools.count(1)
        self._property_subscriptions: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.counters = {"events_queued": 0, "events_dropped": 0, "deliveries": 0, "failed": 0}

    # --- producer side ------------------------------------------------------------------

    def emit(self, events: list[ContactEvent]) -> None:
        """Queue events for delivery (no-op without a URL; filtered by the property list)."""
        with self._cond:
            if self.url is None:
                return
            for event in events:
                if (
                    event.subscription_type == "contact.propertyChange"
                    and self.properties is not None
                    and event.property_name not in self.properties
                ):
                    continue
                if self._unoffered(event):
                    continue
                if not self._fresh:
                    self._fresh_since = time.monotonic()
                self._fresh.append(self._payload(event))
                self.counters["events_queued"] += 1
            while self._queued() > self._queue_limit and self._fresh:
                self._fresh.popleft()
                self.counters["events_dropped"] += 1
            self._cond.notify_all()

    def send_raw(self, items: list[Any]) -> None:
        """Queue items to be delivered exactly as given (the control API's `send`)."""
        with self._cond:
            if self.url is None:
                return
            for item in items:
                if not self._fresh:
                    self._fresh_since = time.monotonic()
                self._fresh.append(item)
                self.counters["events_queued"] += 1
            self._cond.notify_all()

    def _unoffered(self, event: ContactEvent) -> bool:
        """An `hs_email_optout*` change while such webhooks are off (not sent)."""
        name = event.property_name or ""
        return (
            not self._email_optout_changes
            and event.subscription_type == "contact.propertyChange"
            and (name == "hs_email_optout" or name.startswith("hs_email_optout_"))
        )

    def _event_id(self) -> int:
        """The next eventId: unique, or running 1..`event_id_cycle` again and again."""
        n = next(self._event_ids)
        return (n - 1) % self._event_id_cycle + 1 if self._event_id_cycle else n

    def _queued(self) -> int:
        return len(self._fresh) + sum(len(b.events) for b in self._scheduled)

    def _subscription_id(self, event: ContactEvent) -> int:
        if event.subscription_type != "contact.propertyChange":
            return SUBSCRIPTION_IDS.get(event.subscription_type, 100000)
        name = event.property_name or ""
        if name not in self._property_subscriptions:
            self._property_subscriptions[name] = (
                PROPERTY_SUBSCRIPTION_BASE + len(self._property_subscriptions) + 1
            )
        return self._property_subscriptions[name]

    def _payload(self, event: ContactEvent) -> dict[str, Any]:
        out: dict[str, Any] = {
            "eventId": self._event_id(),
            "subscriptionId": self._subscription_id(event),
            "portalId": self._portal_id,
            "appId": self._app_id,
            "occurredAt": event.occurred_at_ms,
            "subscriptionType": event.subscription_type,
            "attemptNumber": 0,
            "objectId": int(event.object_id),
        }
        kind, _, action = event.subscription_type.partition(".")
        if self._generic and kind == "contact" and action in GENERIC_ACTIONS:
            # A `crmObjects` subscription: `object.<action>` with the raw type id
            # (changelog "public-beta-generic-webhook-subscriptions"). There is no
            # object.privacyDeletion: that one stays contact.privacyDeletion.
            out["subscriptionType"] = f"object.{action}"
            out["objectTypeId"] = "0-1"
        if event.source is not None:
            out["changeSource"] = event.source.change_source
            if event.source.source_id is not None:
                out["sourceId"] = event.source.source_id
        if event.subscription_type == "contact.creation":
            out["changeFlag"] = "NEW"
        if event.property_name is not None:
            out["propertyName"] = event.property_name
            out["propertyValue"] = event.property_value or ""
        out.update(event.extra)
        return out

    # --- control ------------------------------------------------------------------------

    def configure(self, *, url: str | None, properties: frozenset[str] | None) -> None:
        """Change the target URL and the delivered properties (the control API's settings)."""
        with self._cond:
            self.url = url
            self.properties = properties

    def reset(self) -> None:
        """Drop queued events and the delivery log."""
        with self._cond:
            self._fresh.clear()
            self._scheduled.clear()
            self._log.clear()
            self.counters = dict.fromkeys(self.counters, 0)

    def deliveries(self) -> list[dict[str, Any]]:
        """The latest delivery attempts, oldest first (bounded)."""
        with self._cond:
            return list(self._log)

    def idle(self) -> bool:
        """True when nothing is queued, scheduled for retry, or being sent."""
        with self._cond:
            return not self._fresh and not self._scheduled and self._in_flight == 0

    def start(self) -> None:
        """Start the delivery thread."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread (queued events are dropped)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    # --- delivery thread ----------------------------------------------------------------

    def _next_batch(self) -> _Batch | None:
        """Under the lock: cut a fresh batch when due, and return a batch due now, if any."""
        now = time.monotonic()
        if self._fresh and (
            len(self._fresh) >= self._batch_size or now - self._fresh_since >= self._window_s
        ):
            size = min(self._batch_size, len(self._fresh))
            events = [self._fresh.popleft() for _ in range(size)]
            self._fresh_since = now
            self._scheduled.append(_Batch(next(self._batch_ids), events, 0, now))
        due = [b for b in self._scheduled if b.due <= now]
        if due:
            batch = min(due, key=lambda b: b.due)
            self._scheduled.remove(batch)
            self._in_flight += 1
            return batch
        deadlines = [b.due for b in self._scheduled]
        if self._fresh:
            deadlines.append(self._fresh_since + self._window_s)
        wait = min(deadlines) - now if deadlines else MAX_IDLE_WAIT_S
        self._cond.wait(min(max(wait, 0.001), MAX_IDLE_WAIT_S))
        return None

    def _run(self) -> None:
        with requests.Session() as session:
            while True:
                with self._cond:
                    if self._stopping:
                        return
                    batch = self._next_batch()
                if batch is None:
                    continue
                ok = self._deliver(session, batch)
                with self._cond:
                    self._in_flight -= 1
                    if ok and self._redeliver and not batch.redelivered:
                        batch.redelivered = True
                        batch.attempt += 1
                        self._scheduled.append(batch)  # due at once: HubSpot missed the 2xx
                    if not ok and self._gives_up(batch):
                        self.counters["failed"] += 1
                        status = batch.status
                        log.warning("webhook_batch_not_retried", batch=batch.id, status=status)
                    elif not ok:
                        if batch.attempt + 1 < self._max_attempts:
                            batch.attempt += 1
                            delay = min(
                                self._backoff_s * 2 ** (batch.attempt - 1), self._backoff_max_s
                            )
                            batch.due = time.monotonic() + delay
                            self._scheduled.append(batch)
                        else:
                            self.counters["failed"] += 1
                            log.warning(
                                "webhook_batch_abandoned",
                                batch=batch.id,
                                attempts=batch.attempt + 1,
                            )

    def _gives_up(self, batch: _Batch) -> bool:
        """Whether the batch's last answer is one HubSpot does not retry."""
        return not self._retry_client_errors and batch.status in NOT_RETRIED

    def _deliver(self, session: requests.Session, batch: _Batch) -> bool:
        url = self.url
        if url is None:
            return True
        for event in batch.events:
            if isinstance(event, dict):
                event["attemptNumber"] = batch.attempt
        body = json.dumps(batch.events, separators=(",", ":"))
        timestamp = str(int(self._wall_clock() * 1000))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HubSpot-Signature": sign_v1(self._secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Signature-v3": sign_v3(self._secret, "POST", url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Timeout-Millis": str(int(self._timeout_s * 1000)),
        }
        status: int | None = None
        error: str | None = None
        try:
            response = session.post(
                url, data=body.encode(), headers=headers, timeout=self._timeout_s
            )
            status = response.status_code
            response.close()
        except requests.RequestException as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        batch.status = status
        with self._cond:
            self.counters["deliveries"] += 1
            self._log.append(
                {
                    "batch": batch.id,
                    "attempt": batch.attempt,
                    "events": len(batch.events),
                    "event_ids": [
                        e.get("eventId") if isinstance(e, dict) else None for e in batch.events
                    ],
                    "status": status,
                    "error": error,
                    "at": iso_ms(int(self._wall_clock() * 1000)),
                }
            )
        log.info(
            "webhook_batch_delivered" if ok else "webhook_batch_failed",
            batch=batch.id,
            attempt=batch.attempt,
            events=len(batch.events),
            status=status,
            error=error,
        )
        return ok
