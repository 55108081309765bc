"""Private-app token info: the scopes a token was granted (`hubsync check` reads them)."""

from __future__ import annotations

from starlette.responses import Response

from connectors.hubspot.sandbox.call import Call, Handler, reply
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.errors import ApiError, validation_error

Route = tuple[str, str, Handler, bool]

USER_ID = 1


def routes(sb: Sandbox) -> list[Route]:
    """`POST /oauth/v2/private-apps/get/access-token-info` bound to one sandbox."""
    config = sb.config

    def token_info(call: Call) -> Response:
        token = call.json_object().get("tokenKey")
        if not isinstance(token, str) or not token:
            raise validation_error("tokenKey is required", missingFields=["tokenKey"])
        if config.access_token is not None and token != config.access_token:
            raise ApiError(
                401, "INVALID_AUTHENTICATION", "The token is not a valid private app token."
            )
        return reply(
            {
                "userId": USER_ID,
                "hubId": config.portal_id,
                "appId": config.app_id,
                "scopes": sorted(config.scopes),
            }
        )

    return [("POST", "/get/access-token-info", token_info, False)]
