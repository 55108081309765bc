"""Communication preferences routes: v3 (definitions, status, subscribe, unsubscribe) and v4."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from connectors.hubspot.sandbox.call import Call, Handler, input_list, reply
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.errors import ApiError, validation_error
from connectors.hubspot.sandbox.events import Source
from connectors.hubspot.sandbox.subscriptions import UNSUBSCRIBED, check_legal_basis

Route = tuple[str, str, Handler, bool]
MAX_BATCH = 100


def _require_channel(value: object) -> None:
    if value != "EMAIL":
        raise validation_error("channel is required and must be EMAIL", missingFields=["channel"])


def _unsubscribe_basis(sb: Sandbox, body: dict[str, Any], *, batch: bool) -> None:
    """Refuse an unsubscribe without its legal basis where the account demands one.

    The single unsubscribe documents ``legalBasis`` and
    ``legalBasisExplanation`` as "required for GDPR enabled portals"; for the
    batch write it is unknown (``legal_basis_to_unsubscribe_batch``). An
    address unsubscribing through an email's link needs none (``control``).
    """
    enforced = (
        sb.config.legal_basis_to_unsubscribe_batch
        if batch
        else sb.config.legal_basis_to_unsubscribe
    )
    if enforced and sb.state.gdpr_enabled:
        check_legal_basis(body.get("legalBasis"), body.get("legalBasisExplanation"), required=True)


def v3_routes(sb: Sandbox) -> list[Route]:
    """`/communication-preferences/v3/...` bound to one sandbox."""
    state = sb.state
    source = Source.app(sb.config.app_id)

    def definitions(call: Call) -> Response:
        defs = [d.to_json() for d in state.subscriptions.definitions.values()]
        return reply({"subscriptionDefinitions": defs})

    def status(call: Call) -> Response:
        email = call.params["email"]
        statuses = state.v3_statuses(email)
        return reply({"recipient": email.strip().lower(), "subscriptionStatuses": statuses})

    def change(subscribe: bool) -> Handler:
        def handler(call: Call) -> Response:
            body = call.json_object()
            email, sub_id = body.get("emailAddress"), body.get("subscriptionId")
            if not isinstance(email, str) or sub_id is None:
                raise validation_error(
                    "emailAddress and subscriptionId are required",
                    missingFields=["emailAddress", "subscriptionId"],
                )
            if not subscribe:
                _unsubscribe_basis(sb, body, batch=False)
            return reply(
                state.v3_change(
                    email,
                    sub_id,
                    subscribe=subscribe,
                    legal_basis=body.get("legalBasis"),
                    explanation=body.get("legalBasisExplanation"),
                    source=source,
                )
            )

        return handler

    return [
        ("GET", "/definitions", definitions, False),
        ("GET", "/status/email/{email}", status, False),
        ("POST", "/subscribe", change(True), False),
        ("POST", "/unsubscribe", change(False), False),
    ]


def dated_routes(sb: Sandbox) -> list[Route]:
    """`/communication-preferences/2026-09/...`: the v4 batch endpoints and v3's single ones.

    2026-09 merges the two generations (hubspot-2026.md section 4.3): the
    batch reads and writes answer 200 with ``errors`` and ``numErrors``, and
    ``status/email/{emailAddress}``, ``subscribe`` and ``unsubscribe`` keep
    v3's shapes. ``definitions`` answers under ``dated_definitions_key``
    (``results`` as v4, or v3's ``subscriptionDefinitions``: unknown, so both).
    """
    state = sb.state
    key = sb.config.dated_definitions_key

    def definitions(call: Call) -> Response:
        return reply({key: [d.to_json() for d in state.subscriptions.definitions.values()]})

    batch = [r for r in v4_routes(sb, dated=True) if r[1] != "/definitions"]
    single = [r for r in v3_routes(sb) if r[1] != "/definitions"]
    return [("GET", "/definitions", definitions, False), *batch, *single]


def v4_routes(sb: Sandbox, *, dated: bool = False) -> list[Route]:  # noqa: PLR0915 (one closure per endpoint)
    """`/communication-preferences/v4/...` (and the same under `2026-03`) bound to one sandbox.

    ``dated``: per-item failures answer 200, not 207 (``dated_routes``). The
    status reads and the unsubscribe-all calls take ``businessUnitId`` (a
    brand; none: the default brand 0), as hubspot-api.md's v4 table and
    hubspot-2026.md 4.3 list it; an unknown brand is a 400 for the whole
    request (not documented: the most likely).
    """
    state = sb.state
    source = Source.app(sb.config.app_id)

    def envelope(results: list[Any], errors: list[ApiError] | None = None) -> Response:
        now = state.now_iso()
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": now,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = [e.item_error() for e in errors]
        return reply(body, 207 if errors and not dated else 200)

    def per_item(items: list[Any], fn: Callable[[Any], Any]) -> tuple[list[Any], list[ApiError]]:
        results, errors = [], []
        for item in items:
            try:
                results.append(fn(item))
            except ApiError as exc:
                if not sb.config.batch_errors_name_inputs:
                    exc.context = None
                elif isinstance(item, str):
                    exc.context = {"subscriberIdString": [str(item)]}
                errors.append(exc)
        return results, errors

    def brand(call: Call) -> int:
        """The brand the call names (``businessUnitId``; none: the default), or a 400."""
        return state.subscriptions.brand(call.query.get("businessUnitId"))

    def definitions(call: Call) -> Response:
        return envelope([d.to_json() for d in state.subscriptions.definitions.values()])

    def read(call: Call) -> Response:
        _require_channel(call.query.get("channel"))
        return envelope(state.v4_statuses(call.params["subscriber"], brand(call)))

    def write_one(email: str, body: dict[str, Any]) -> dict[str, Any]:
        _require_channel(body.get("channel"))
        if body.get("statusState") == UNSUBSCRIBED:
            _unsubscribe_basis(sb, body, batch=True)
        return state.v4_set(
            email,
            body.get("subscriptionId"),
            body.get("statusState"),
            legal_basis=body.get("legalBasis"),
            explanation=body.get("legalBasisExplanation"),
            source=source,
        )

    def write(call: Call) -> Response:
        return envelope([write_one(call.params["subscriber"], call.json_object())])

    def read_wide(call: Call) -> Response:
        _require_channel(call.query.get("channel"))
        return envelope(state.v4_wide_statuses(call.params["subscriber"], brand(call)))

    def unsubscribe_all(call: Call) -> Response:
        _require_channel(call.query.get("channel"))
        return envelope(state.v4_unsubscribe_all(call.params["subscriber"], source, brand(call)))

    def batch_read(call: Call) -> Response:
        _require_channel(call.query.get("channel"))
        emails = input_list(call.json_object(), limit=MAX_BATCH)
        unit = brand(call)
        results, errors = per_item(
            emails,
            lambda e: {"subscriberIdString": str(e), "statuses": state.v4_statuses(str(e), unit)},
        )
        return envelope(results, errors)

    def batch_write(call: Call) -> Response:
        inputs = input_list(call.json_object(), limit=MAX_BATCH)

        def one(item: Any) -> dict[str, Any]:
            if not isinstance(item, dict) or not isinstance(item.get("subscriberIdString"), str):
                raise validation_error("subscriberIdString is required")
            try:
                return write_one(item["subscriberIdString"], item)
            except ApiError as exc:
                exc.context = {"subscriberIdString": [item["subscriberIdString"]]}
                raise

        results, errors = per_item(inputs, one)
        return envelope(results, errors)

    def batch_unsubscribe_all(call: Call) -> Response:
        _require_channel(call.query.get("channel"))
        emails = input_list(call.json_object(), limit=MAX_BATCH)
        unit = brand(call)
        results, errors = per_item(
            emails,
            lambda e: {
                "subscriberIdString": str(e),
                "statuses": state.v4_unsubscribe_all(str(e), source, unit),
            },
        )
        return envelope(results, errors)

    def batch_read_wide(call: Call) -> Response:
        _require_channel(call.query.get("channel"))
        emails = input_list(call.json_object(), limit=MAX_BATCH)
        unit = brand(call)
        results, errors = per_item(
            emails,
            lambda e: {
                "subscriberIdString": str(e),
                "wideStatuses": state.v4_wide_statuses(str(e), unit),
            },
        )
        return envelope(results, errors)

    return [
        ("GET", "/definitions", definitions, False),
        ("POST", "/statuses/batch/read", batch_read, False),
        ("POST", "/statuses/batch/write", batch_write, False),
        ("POST", "/statuses/batch/unsubscribe-all", batch_unsubscribe_all, False),
        ("POST", "/statuses/batch/unsubscribe-all/read", batch_read_wide, False),
        ("GET", "/statuses/{subscriber}/unsubscribe-all", read_wide, False),
        ("POST", "/statuses/{subscriber}/unsubscribe-all", unsubscribe_all, False),
        ("GET", "/statuses/{subscriber}", read, False),
        ("POST", "/statuses/{subscriber}", write, False),
    ]
