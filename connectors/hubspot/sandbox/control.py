"""The `/_sandbox` control API: inspect state and calls, reset, set faults, act as a HubSpot user.

Actions change state exactly as the corresponding HubSpot-side action would and emit the
same webhooks; they are not authenticated, rate limited or subject to faults.

`/_sandbox/auth` does what an account's super admin can do to the app at any time:
rotate its token (`{"access_token": "new"}`: the old one answers 401 from the next
call on; `null` accepts any token), remove or grant scopes (`{"remove_scopes": [...]}`,
`{"add_scopes": [...]}`, or all of them as `{"scopes": [...]}`: a call needing a
missing one answers 403 `MISSING_SCOPES`), and `{"restore": true}` goes back to the
settings the sandbox started with. It never shows a token, only whether one is fixed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.hubspot.sandbox.associations import require_object_type
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.errors import ApiError, not_found, validation_error
from connectors.hubspot.sandbox.events import Source
from connectors.hubspot.sandbox.subscriptions import UNSUBSCRIBED

Action = Callable[[dict[str, Any]], dict[str, Any]]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise validation_error("body must be JSON") from None
    if not isinstance(body, dict):
        raise validation_error("body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise validation_error(f"{name} is required", missingFields=[name])
    return str(value)


def _names(body: dict[str, Any], name: str) -> list[str] | None:
    """A list of strings in the body (scope names), or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise validation_error(f"{name} must be a list of strings")
    return list(value)


def configure_auth(sb: Sandbox, body: dict[str, Any]) -> None:
    """Apply a `POST /_sandbox/auth` body: restore first, then the token, then the scopes.

    The whole body is checked before anything changes: a 400 changes nothing.
    """
    token = body.get("access_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise validation_error("access_token must be a non-empty string or null")
    exact, add, remove = (_names(body, n) for n in ("scopes", "add_scopes", "remove_scopes"))
    start = sb.started_with or sb.config
    if body.get("restore"):
        sb.set_token(start.access_token)
        sb.set_scopes(start.scopes)
    if "access_token" in body:
        sb.set_token(token)
    scopes = set(sb.config.scopes if exact is None else exact)
    scopes = (scopes | set(add or ())) - set(remove or ())
    if scopes != sb.config.scopes:
        sb.set_scopes(scopes)


def auth_view(sb: Sandbox) -> dict[str, Any]:
    """What `/_sandbox/auth` shows: whether a token is fixed (never the token) and the scopes."""
    return {"token_fixed": sb.config.access_token is not None, "scopes": sorted(sb.config.scopes)}


def _props(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties", {})
    if not isinstance(props, dict):
        raise validation_error("properties must be an object")
    return props


def actions(sb: Sandbox) -> dict[str, Action]:
    """What a HubSpot user, a form or an email recipient can do, by action name."""
    state = sb.state
    user = Source.user()

    def update(body: dict[str, Any]) -> dict[str, Any]:
        contact = state.update(_field(body, "contact_id"), _props(body), user)
        return {"contact_id": contact.id}

    def create(body: dict[str, Any]) -> dict[str, Any]:
        return {"contact_id": state.create(_props(body), user).id}

    def gdpr_delete(body: dict[str, Any]) -> dict[str, Any]:
        return {"contact_id": state.gdpr_delete(_field(body, "contact_id"), None, user)}

    def archive(body: dict[str, Any]) -> dict[str, Any]:
        contact_id = state.archive(_field(body, "contact_id"), user)
        if contact_id is None:
            raise not_found("no such contact")
        return {"contact_id": contact_id}

    def restore(body: dict[str, Any]) -> dict[str, Any]:
        return {"contact_id": state.restore(_field(body, "contact_id"), user).id}

    def merge(body: dict[str, Any]) -> dict[str, Any]:
        primary, secondary = _field(body, "primary_id"), _field(body, "secondary_id")
        merged = state.merge(primary, secondary, user)
        return {"contact_id": merged.id, "primary_id": primary, "secondary_id": secondary}

    def associate(body: dict[str, Any]) -> dict[str, Any]:
        object_type = require_object_type(body.get("object_type"))
        object_id = _field(body, "object_id")
        contact = state.associate(_field(body, "contact_id"), object_type, object_id)
        return {"contact_id": contact.id, "object_type": object_type, "object_id": object_id}

    def unsubscribe(body: dict[str, Any]) -> dict[str, Any]:
        email = _field(body, "email")
        sub_id = body.get("subscription_id")
        link = Source.email_link()
        if sub_id is None:  # a brand's "unsubscribe from all" (`business_unit_id`; none: 0)
            state.v4_unsubscribe_all(email, link, body.get("business_unit_id"))
        else:
            state.v4_set(
                email, sub_id, UNSUBSCRIBED, legal_basis=None, explanation=None, source=link
            )
        return {"contact_ids": state.subscriber_contact_ids(email), "subscription_id": sub_id}

    def form_submission(body: dict[str, Any]) -> dict[str, Any]:
        email = _field(body, "email")
        props = {**_props(body), "email": email}
        existing = state.subscriber_contact_ids(email)
        if existing:
            return {
                "contact_id": state.update(existing[0], props, Source.form()).id,
                "created": False,
            }
        return {"contact_id": state.create(props, Source.form()).id, "created": True}

    return {
        "update": update,
        "create": create,
        "gdpr_delete": gdpr_delete,
        "archive": archive,
        "restore": restore,
        "merge": merge,
        "associate": associate,
        "unsubscribe": unsubscribe,
        "form_submission": form_submission,
    }


def _guard(
    fn: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    return endpoint


def routes(sb: Sandbox) -> list[Route]:
    """The control routes bound to one sandbox."""
    by_name = actions(sb)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def state(request: Request) -> Response:
        snapshot = sb.state.snapshot()
        counters = sb.requests.snapshot_counters()
        counters["webhook_deliveries"] = sb.webhooks.counters["deliveries"]
        counters["webhook_events_dropped"] = sb.webhooks.counters["events_dropped"]
        snapshot["counters"] = counters
        snapshot["faults"] = sb.faults.settings.to_json()
        return JSONResponse(snapshot)

    async def requests(request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            raise validation_error("since must be an integer") from None
        return JSONResponse({"requests": sb.requests.entries(since)})

    async def reset(request: Request) -> Response:
        sb.reset()
        return JSONResponse({"reset": True})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            return JSONResponse(sb.faults.configure(await _body(request)).to_json())
        return JSONResponse(sb.faults.settings.to_json())

    async def validation(request: Request) -> Response:
        if request.method == "POST":
            return JSONResponse(sb.validation.configure(await _body(request)))
        return JSONResponse(sb.validation.to_json())

    async def auth(request: Request) -> Response:
        if request.method == "POST":
            configure_auth(sb, await _body(request))
        return JSONResponse(auth_view(sb))

    async def webhooks(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if body.get("url") and sb.config.credential == "service_key":
                raise validation_error(
                    "Service Keys do not support webhooks: use a project app to receive them"
                )
            props = body.get("properties", sb.webhooks.properties)
            sb.webhooks.configure(
                url=body.get("url", sb.webhooks.url),
                properties=frozenset(props) if props is not None else None,
            )
            raw = body.get("send")  # items delivered exactly as given (a malformed event)
            if raw is not None:
                if not isinstance(raw, list):
                    raise validation_error("send must be an array of items")
                sb.webhooks.send_raw(raw)
        return JSONResponse(
            {
                "url": sb.webhooks.url,
                "properties": sorted(sb.webhooks.properties)
                if sb.webhooks.properties is not None
                else None,
                "idle": sb.webhooks.idle(),
                "counters": dict(sb.webhooks.counters),
                "deliveries": sb.webhooks.deliveries(),
            }
        )

    async def action(request: Request) -> Response:
        name = request.path_params["action"]
        fn = by_name.get(name)
        if fn is None:
            raise not_found(f"unknown action {name}; known: {', '.join(sorted(by_name))}")
        return JSONResponse(fn(await _body(request)))

    return [
        Route("/_sandbox/health", _guard(health), methods=["GET"]),
        Route("/_sandbox/state", _guard(state), methods=["GET"]),
        Route("/_sandbox/requests", _guard(requests), methods=["GET"]),
        Route("/_sandbox/reset", _guard(reset), methods=["POST"]),
        Route("/_sandbox/faults", _guard(faults), methods=["GET", "POST"]),
        Route("/_sandbox/validation", _guard(validation), methods=["GET", "POST"]),
        Route("/_sandbox/webhooks", _guard(webhooks), methods=["GET", "POST"]),
        Route("/_sandbox/auth", _guard(auth), methods=["GET", "POST"]),
        Route("/_sandbox/actions/{action}", _guard(action), methods=["POST"]),
    ]
