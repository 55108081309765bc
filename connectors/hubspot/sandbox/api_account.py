"""Account info v3 routes: account details (residency) and daily API usage."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response

from connectors.hubspot.sandbox.call import Call, Handler, reply
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.timefmt import account_day, utc_offset

Route = tuple[str, str, Handler, bool]


def ui_domain(hosting_location: str) -> str:
    """`app.hubspot.com` for na1, `app-<location>.hubspot.com` otherwise."""
    location = hosting_location.lower()
    return "app.hubspot.com" if location == "na1" else f"app-{location}.hubspot.com"


def routes(sb: Sandbox) -> list[Route]:
    """The account-info endpoints bound to one sandbox."""
    config = sb.config

    def details(call: Call) -> Response:
        offset, offset_ms = utc_offset(sb.clock(), config.time_zone)
        return reply(
            {
                "portalId": config.portal_id,
                "accountType": "STANDARD",
                "timeZone": config.time_zone,
                "companyCurrency": "EUR",
                "additionalCurrencies": [],
                "utcOffset": offset,
                "utcOffsetMilliseconds": offset_ms,
                "uiDomain": ui_domain(config.hosting_location),
                "dataHostingLocation": config.hosting_location,
            }
        )

    def daily_usage(call: Call) -> Response:
        now = datetime.fromtimestamp(sb.clock(), tz=UTC)
        midnight = datetime.fromtimestamp(account_day(sb.clock(), config.time_zone)[1], tz=UTC)
        return reply(
            {
                "results": [
                    {
                        "name": "private-apps-api-calls-daily",
                        "usageLimit": config.daily_limit,
                        "currentUsage": sb.limiter.daily_used(),
                        "collectedAt": now.isoformat().replace("+00:00", "Z"),
                        "resetsAt": midnight.isoformat().replace("+00:00", "Z"),
                        "fetchStatus": "SUCCESS",
                    }
                ]
            }
        )

    return [
        ("GET", "/details", details, False),
        ("GET", "/api-usage/daily/private-apps", daily_usage, False),
    ]
