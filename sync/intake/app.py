"""The intake server: HubSpot webhooks and register events in, health and metrics out.

A Starlette app built by ``build_app``; ``hubsync run`` serves it with
uvicorn. Nothing is acknowledged before it is durable: a webhook batch is
committed to the ledger's inbox before the 204, register events before the
202. The app knows HubSpot's signature and payload format only through the
two callables it is given (``sync.bootstrap`` wires the HubSpot connector's),
so the core never imports a connector. Responses and logs name fields,
counts and refusal codes, never a value from a body.

=========================  ==================================================
route                      answers
=========================  ==================================================
POST /webhooks/hubspot     204 stored (malformed set aside); 401 signature; 413 size
POST /v1/events            202 stored; 401 signature; 400 JSON; 422 problems
GET /v1/events/{event_id}  the event without personal data; 404
GET /healthz               200 while the process serves
GET /readyz                200, or 503 while the ledger, residency, register, signatures fail
GET /metrics               Prometheus text
GET /openapi.json          the OpenAPI document of the POST endpoints
=========================  ==================================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync import signing
from sync.audit import AuditEntry, Pseudonymizer, submitted_entry
from sync.errors import HubsyncError, UnstorableInput
from sync.intake.envelope_json import envelopes_from_json
from sync.intake.metrics import CONTENT_TYPE, IntakeMetrics
from sync.intake.openapi import openapi_document
from sync.model import Direction, Envelope, NewEvent, Origin, StoredEvent, WebhookBatch
from sync.ports import (
    Clock,
    EventAdmin,
    EventQueue,
    HubSpotLink,
    Schema,
    SharedState,
    SignatureWatch,
    WebhookInbox,
)
from sync.rules.input import id_problem
from sync.rules.link import LinkState
from sync.rules.link import readiness as link_readiness
from sync.rules.signature_streak import DEFAULT_THRESHOLD, signature_alarm
from sync.status import (
    REGISTER_SIGNATURE_FAILURES,
    WEBHOOK_SIGNATURE_FAILURES,
    DailyBudgetReader,
    read_report,
)

log = structlog.get_logger("hubsync.intake")

WebhookVerifier = Callable[[str, Mapping[str, str], bytes, float], str | None]
"""(method, headers, raw body, now in Unix seconds) -> None, or why it is refused."""

WebhookReader = Callable[[bytes], WebhookBatch]
"""Raw body -> events and set-aside items (a body that is not a batch is set aside whole).

A ValueError naming the field is still answered 400, as a safety net."""

Readiness = Callable[[], tuple[bool, str]]
"""Whether transfers may happen now (residency verified, the register set up), and why not."""

MAX_SIGNATURE_HEADER = 1024
REGISTER_ACTOR = "register"
UNSTORABLE = "a value of this input cannot be stored (its characters or its size)"


class BodyTooLarge(Exception):
    """The request body passed the size limit (read no further)."""


@dataclass(frozen=True)
class IntakeOptions:
    """What the intake needs from settings, already resolved."""

    max_body_bytes: int = 1_048_576
    register_secret: bytes | None = None
    receipt_ttl: timedelta = timedelta(days=7)
    pseudonym_key: bytes | None = None
    signature_failure_threshold: int = DEFAULT_THRESHOLD


def _problem(status: int, error: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, **extra}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, read chunk by chunk; ``BodyTooLarge`` as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class IntakeLedger(
    EventQueue, EventAdmin, WebhookInbox, SharedState, SignatureWatch, HubSpotLink, Schema, Protocol
):
    """The ledger's roles the intake uses: events in, the inbox, counters, status, a probe."""


class Intake:
    """The request handlers, over one ledger; ``build_app`` routes to them."""

    def __init__(
        self,
        ledger: IntakeLedger,
        clock: Clock,
        metrics: IntakeMetrics,
        verify_webhook: WebhookVerifier,
        read_webhooks: WebhookReader,
        ready: Readiness,
        options: IntakeOptions,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.metrics = metrics
        self.verify_webhook = verify_webhook
        self.read_webhooks = read_webhooks
        self.ready = ready
        self.options = options
        key = options.pseudonym_key
        self._pseudonymizer = Pseudonymizer(key) if key else None

    # -- HubSpot webhooks ---------------------------------------------------

    async def webhooks(self, request: Request) -> Response:
        """A HubSpot webhook batch: verified, parsed, committed, then 204."""
        try:
            body = await read_body(request, self.options.max_body_bytes)
        except BodyTooLarge:
            return _problem(413, f"body larger than {self.options.max_body_bytes} bytes")
        now = self.clock.now()
        refusal = self.verify_webhook(request.method, request.headers, body, now.timestamp())
        if refusal is not None:
            self.metrics.signature_failures.labels(reason=refusal).inc()
            await self._count(WEBHOOK_SIGNATURE_FAILURES, now)
            await self._record_refusal(refusal, now)
            return _problem(401, "invalid signature", reason=refusal)
        try:  # parsing is CPU work: off the event loop, so /healthz keeps answering
            batch = await run_in_threadpool(self.read_webhooks, body)
        except ValueError as exc:
            log.warning("webhook_malformed", reason=str(exc))
            return _problem(400, str(exc))
        try:
            fresh = await run_in_threadpool(
                self.ledger.store_webhooks,
                batch.items,
                now,
                self.options.receipt_ttl,
                batch.set_aside,
            )
        except UnstorableInput as exc:  # validation should have set it aside: never retry
            log.error("webhook_not_stored", error=type(exc).__name__)
            return _problem(400, UNSTORABLE)
        except HubsyncError as exc:
            log.error("webhook_not_stored", error=type(exc).__name__)
            return _problem(503, "the ledger is unavailable; retry later")
        stored = sum(fresh[: len(batch.items)])
        aside = sum(fresh[len(batch.items) :])
        self.metrics.webhook_events.inc(stored)
        self.metrics.redeliveries.inc(len(fresh) - stored - aside)
        if aside:
            self.metrics.set_aside.inc(aside)
            log.error(
                "webhook_items_set_aside",
                count=aside,
                problems=sorted({item.problem for item in batch.set_aside}),
            )
        log.debug("webhooks_stored", count=stored, duplicate=len(fresh) - stored - aside)
        return Response(status_code=204)

    # -- register events ----------------------------------------------------

    async def register_events(self, request: Request) -> Response:  # noqa: PLR0911 - a status each
        """Register events: signed, validated, stored with an audit row each, then 202."""
        secret = self.options.register_secret
        if secret is None or self._pseudonymizer is None:
            return _problem(503, "register intake is not configured on this server")
        try:
            body = await read_body(request, self.options.max_body_bytes)
        except BodyTooLarge:
            return _problem(413, f"body larger than {self.options.max_body_bytes} bytes")
        now = self.clock.now()
        refused = self._register_signature_refused(secret, request, body, now.timestamp())
        if refused is not None:
            await self._count(REGISTER_SIGNATURE_FAILURES, now)
            return refused
        try:  # parsing and validation are CPU work: off the event loop
            envelopes, found = await run_in_threadpool(_read_events, body)
        except ValueError:
            return _problem(400, "body: not valid JSON")
        if found:
            return _problem(422, "invalid events", problems=found)
        events = [NewEvent(e, Origin.REGISTER, Direction.TO_HUBSPOT) for e in envelopes]
        try:
            results = await run_in_threadpool(
                self.ledger.submit, events, now, self._audit_builder(now)
            )
        except UnstorableInput as exc:  # what validation did not foresee: never "retry later"
            log.warning("register_events_refused", reason=type(exc).__name__)
            return _problem(422, "invalid events", problems=[f"events: {UNSTORABLE}"])
        except HubsyncError as exc:
            log.error("register_events_not_stored", error=type(exc).__name__)
            return _problem(503, "the ledger is unavailable; retry later")
        self.metrics.register_events.inc(len(results))
        log.info(
            "event_received",
            origin=Origin.REGISTER.value,
            count=len(results),
            duplicate=sum(r.duplicate for r in results),
        )
        return JSONResponse({"events": [r.as_dict() for r in results]}, status_code=202)

    def _register_signature_refused(
        self, secret: bytes, request: Request, body: bytes, now_s: float
    ) -> Response | None:
        """A 401 (counted) unless ``X-Hubsync-Signature`` signs the body within the window."""
        header = request.headers.get(signing.SIGNATURE_HEADER)
        refusal: str | None
        if header is not None and len(header) > MAX_SIGNATURE_HEADER:
            refusal = signing.SignatureProblem.MALFORMED  # also keeps int() off huge numbers
        else:
            refusal = signing.verify(secret, body, header, now_s)
        if refusal is None:
            return None
        self.metrics.register_refusals.labels(reason=str(refusal)).inc()
        log.warning("register_events_refused", reason=str(refusal))
        return _problem(401, "invalid signature", reason=str(refusal))

    async def _record_refusal(self, refusal: str, now: datetime) -> None:
        """One more refused webhook signature in the ledger's streak, logged as an error.

        An error, not a warning: with a wrong ``public_url`` or proxy every
        genuine batch is refused, and HubSpot may never send it again. The
        log names the refusal code and the streak, never the request.
        """
        threshold = self.options.signature_failure_threshold
        try:
            streak = await run_in_threadpool(
                self.ledger.record_signature_refusal, refusal, now, threshold
            )
        except Exception as exc:  # any failure: the answer must stay a 401
            log.error("webhook_refused", reason=refusal, error=type(exc).__name__)
            return
        log.error("webhook_refused", reason=refusal, count=streak.refusals, limit=threshold)

    async def _count(self, name: str, now: datetime) -> None:
        """Add one to a ledger counter (``hubsync status`` reads it from another process).

        One small upsert; a ledger that fails here is logged and otherwise
        ignored, so a refusal stays a 401 and never becomes a 500.
        """
        try:
            await run_in_threadpool(self.ledger.add_counts, {name: 1}, now)
        except Exception as exc:  # any failure: the answer must not change
            log.warning("counter_not_stored", code=name, error=type(exc).__name__)

    def _audit_builder(self, now: Any) -> Callable[[StoredEvent], AuditEntry]:
        pseudonymizer = self._pseudonymizer
        assert pseudonymizer is not None

        def build(event: StoredEvent) -> AuditEntry:
            return submitted_entry(event, actor=REGISTER_ACTOR, at=now, pseudonymizer=pseudonymizer)

        return build

    async def event(self, request: Request) -> Response:
        """One event's state, without personal data (a register's own events first)."""
        event_id = request.path_params["event_id"]
        problem = id_problem(event_id)
        if problem is not None:
            return _problem(422, "invalid event id", problems=[f"event_id: {problem}"])
        try:
            found = await run_in_threadpool(self.ledger.find, event_id)
        except UnstorableInput:
            return _problem(422, "invalid event id", problems=[f"event_id: {UNSTORABLE}"])
        except HubsyncError:
            return _problem(503, "the ledger is unavailable; retry later")
        if not found:
            return _problem(404, "no such event")
        found.sort(key=lambda e: e.origin is not Origin.REGISTER)
        return JSONResponse(found[0].public())

    # -- health and metrics -------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        """The process is alive and serving."""
        return JSONResponse({"ok": True})

    async def readyz(self, request: Request) -> Response:
        """Ready when the ledger answers and ``ready`` says so (residency, the register)."""
        try:
            await run_in_threadpool(self.ledger.schema_version)
        except HubsyncError as exc:
            return JSONResponse(
                {"ready": False, "reason": f"the ledger is unreachable ({type(exc).__name__})"},
                status_code=503,
            )
        alarm = await run_in_threadpool(self._signature_alarm)
        if alarm is not None:
            return JSONResponse({"ready": False, "reason": alarm}, status_code=503)
        ok, reason = await run_in_threadpool(self.ready)
        # HubSpot refusing the token (a worker marked the link down) fails it too, with why.
        ok, reason = link_readiness(ok, reason, await run_in_threadpool(self._hubspot_link))
        return JSONResponse({"ready": ok, "reason": reason}, status_code=200 if ok else 503)

    def _hubspot_link(self) -> LinkState | None:
        """Why the HubSpot link is down (``sync.rules.link``), or None while it is up."""
        try:
            return self.ledger.hubspot_link()
        except HubsyncError:
            return None  # the ledger probe above has just answered: a blip

    def _signature_alarm(self) -> str | None:
        """Why refused webhook signatures make this server unready now, or None."""
        try:
            streak = self.ledger.signature_streak()
        except HubsyncError:
            return None  # the ledger probe above has just answered: a blip, not this alarm
        return signature_alarm(streak, self.clock.now())

    async def metrics_text(self, request: Request) -> Response:
        """Prometheus text format; ledger gauges are read now."""
        text = await run_in_threadpool(self.metrics.render)
        return Response(text, media_type=CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI document of the intake's endpoints."""
        return JSONResponse(openapi_document())


def _read_events(body: bytes) -> tuple[list[Envelope], list[str]]:
    """Envelopes, or the problems by field, of a ``/v1/events`` body; ValueError if not JSON."""
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise ValueError("too deeply nested") from exc
    return envelopes_from_json(document)


class RequestCounter:
    """ASGI middleware counting requests by route template and status code."""

    def __init__(self, app: ASGIApp, routes: Sequence[Route], metrics: IntakeMetrics) -> None:
        self.app = app
        self.routes = routes
        self.metrics = metrics

    def _template(self, scope: Scope) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; count its status once the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.http_requests.labels(path=self._template(scope), status=str(status)).inc()


def build_app(
    ledger: IntakeLedger,
    clock: Clock,
    *,
    verify_webhook: WebhookVerifier,
    read_webhooks: WebhookReader,
    ready: Readiness,
    options: IntakeOptions | None = None,
    metrics: IntakeMetrics | None = None,
    daily_budget: DailyBudgetReader | None = None,
) -> Starlette:
    """The intake app over ``ledger``; ``metrics`` defaults to a registry of its own.

    ``daily_budget`` reads HubSpot's daily budget for the default metrics
    (``RateBudget.daily_usage``; without it the budget gauges are left out).
    """
    metrics = metrics or IntakeMetrics(lambda: read_report(ledger, clock.now(), daily_budget))
    intake = Intake(
        ledger, clock, metrics, verify_webhook, read_webhooks, ready, options or IntakeOptions()
    )
    handler = Callable[[Request], Awaitable[Response]]
    table: list[tuple[str, handler, list[str]]] = [
        ("/webhooks/hubspot", intake.webhooks, ["POST"]),
        ("/v1/events", intake.register_events, ["POST"]),
        ("/v1/events/{event_id}", intake.event, ["GET"]),
        ("/healthz", intake.healthz, ["GET"]),
        ("/readyz", intake.readyz, ["GET"]),
        ("/metrics", intake.metrics_text, ["GET"]),
        ("/openapi.json", intake.openapi, ["GET"]),
    ]
    routes = [Route(path, endpoint, methods=methods) for path, endpoint, methods in table]
    app = Starlette(routes=routes)
    app.add_middleware(RequestCounter, routes=routes, metrics=metrics)
    app.state.intake = intake
    return app
