"""The ASGI app: HubSpot API paths behind auth, rate limits and faults, plus `/_sandbox`.

Every API call goes through the same pipeline: Bearer auth (401), rate limits (429), then
injected latency, held connections and errors, then the handler. Its outcome is added to
the bounded request log. The `/_sandbox` control routes skip the pipeline.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.hubspot.sandbox import (
    api_account,
    api_commprefs,
    api_contacts,
    api_oauth,
    api_properties,
    control,
    scopes,
)
from connectors.hubspot.sandbox.call import Call, Handler
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.errors import ApiError, new_correlation_id

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
HOLD_POLL_S = 0.05

# (path prefix, routes factory). The 2026-09 paths are what hubsync calls
# (connectors/hubspot/paths.py); v3/v4 and 2026-03 stay for the client's
# older callers and the sandbox's own tests, sharing the handlers.
PREFIXES: list[tuple[str, Callable[[Sandbox], list[tuple[str, str, Handler, bool]]]]] = [
    ("/crm/objects/2026-09/contacts", functools.partial(api_contacts.routes, dated=True)),
    ("/crm/v3/objects/contacts", api_contacts.routes),
    ("/crm/objects/2026-03/contacts", api_contacts.routes),
    ("/crm/properties/2026-09", api_properties.routes),
    ("/crm/v3/properties", api_properties.routes),
    ("/communication-preferences/2026-09", api_commprefs.dated_routes),
    ("/communication-preferences/v3", api_commprefs.v3_routes),
    ("/communication-preferences/v4", api_commprefs.v4_routes),
    ("/communication-preferences/2026-03", api_commprefs.v4_routes),
    ("/account-info/2026-09", api_account.routes),
    ("/account-info/v3", api_account.routes),
    ("/account-info/2026-03", api_account.routes),
    ("/oauth/v2/private-apps", api_oauth.routes),
]


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _error(exc: ApiError, correlation_id: str) -> Response:
    return JSONResponse(exc.body(correlation_id), status_code=exc.status)


def _logged_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    if isinstance(body, dict) and "tokenKey" in body:  # a token never goes into the log
        body = {**body, "tokenKey": "[redacted]"}
    return body


async def _hold(sb: Sandbox) -> None:
    """Keep the connection open past any sane client timeout, but stop with the server."""
    deadline = time.monotonic() + sb.config.timeout_hold_s
    while time.monotonic() < deadline and not sb.stopping.is_set():
        await asyncio.sleep(HOLD_POLL_S)


def guarded(
    sb: Sandbox, handler: Handler, *, search: bool
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler in the API pipeline: auth, rate limits, faults, errors, request log."""

    async def endpoint(request: Request) -> Response:
        started = time.monotonic()
        correlation_id = new_correlation_id()
        raw = await request.body()
        entry: dict[str, Any] = {
            "at": sb.clock(),
            "method": request.method,
            "path": request.url.path,
            "query": str(request.url.query),
            "body": _logged_body(raw),
            "fault": None,
        }
        response = await _answer(sb, request, handler, raw, search, entry, correlation_id)
        response.headers["X-HubSpot-Correlation-Id"] = correlation_id
        entry["status"] = response.status_code
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        sb.requests.record(entry)
        return response

    return endpoint


async def _answer(
    sb: Sandbox,
    request: Request,
    handler: Handler,
    raw: bytes,
    search: bool,
    entry: dict[str, Any],
    correlation_id: str,
) -> Response:
    token = _token(request)
    expected = sb.config.access_token
    if token is None or (expected is not None and token != expected):
        return _error(ApiError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE), correlation_id)
    try:
        scopes.check(request.method, request.url.path, sb.config.scopes)
    except ApiError as exc:
        return _error(exc, correlation_id)
    verdict = sb.limiter.check(token, search=search)
    if verdict.error is not None:
        response = _error(verdict.error, correlation_id)
        response.headers.update(verdict.headers)
        return response
    decision = sb.faults.decide(f"{request.url.path}?{request.url.query}")
    if decision.latency_ms:
        await asyncio.sleep(decision.latency_ms / 1000)
    if decision.hold:
        entry["fault"] = "timeout"
        await _hold(sb)
        response = _error(
            ApiError(504, "GATEWAY_TIMEOUT", "The request timed out."), correlation_id
        )
    elif decision.error_status is not None:
        entry["fault"] = "error"
        response = _error(
            ApiError(
                decision.error_status,
                "INTERNAL_ERROR" if decision.error_status >= 500 else "VALIDATION_ERROR",
                "Injected fault: the sandbox failed this call on purpose.",
            ),
            correlation_id,
        )
    else:
        call = Call(
            method=request.method,
            params={k: str(v) for k, v in request.path_params.items()},
            query=request.query_params,
            raw_body=raw,
        )
        try:
            response = handler(call)
        except ApiError as exc:
            response = _error(exc, correlation_id)
    response.headers.update(verdict.headers)
    return response


async def _not_found(request: Request, exc: Exception) -> Response:
    body = ApiError(404, "OBJECT_NOT_FOUND", "resource not found").body()
    return JSONResponse(body, status_code=404)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    body = ApiError(405, "VALIDATION_ERROR", "HTTP method not allowed").body()
    return JSONResponse(body, status_code=405)


def create_app(sb: Sandbox) -> Starlette:
    """The Starlette app serving one sandbox (no I/O happens until a server runs it)."""
    routes: list[BaseRoute] = list(control.routes(sb))
    for prefix, factory in PREFIXES:
        for method, suffix, handler, search in factory(sb):
            routes.append(
                Route(
                    prefix + suffix,
                    guarded(sb, handler, search=search),
                    methods=[method],
                    name=f"{method} {prefix}{suffix}",
                )
            )
    return Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
