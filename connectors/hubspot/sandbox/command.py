"""`hubsync sandbox`: the click command that runs the HubSpot emulator in the foreground."""

from __future__ import annotations

import click

from connectors.hubspot.sandbox.config import DEFAULT_PORT, SandboxConfig
from connectors.hubspot.sandbox.server import serve
from connectors.hubspot.scopes import REQUIRED_SCOPES


def _properties(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(p.strip() for p in value.split(",") if p.strip())


@click.command(name="sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--access-token",
    default=None,
    envvar="HUBSYNC_SANDBOX_ACCESS_TOKEN",
    help="Bearer token to require (default: any non-empty token).",
)
@click.option("--rate-limit-per-10s", default=100, show_default=True, type=int)
@click.option(
    "--rate-limit-interval-ms",
    default=10_000,
    show_default=True,
    type=int,
    help="Length of the rolling window (HubSpot: 10000).",
)
@click.option("--daily-limit", default=250_000, show_default=True, type=int)
@click.option("--search-limit-per-s", default=4, show_default=True, type=int)
@click.option(
    "--retry-after/--no-retry-after",
    default=False,
    show_default=True,
    help="Send Retry-After on 429 (HubSpot does not document it).",
)
@click.option("--hosting-location", default="eu1", show_default=True)
@click.option("--portal-id", default=12345678, show_default=True, type=int)
@click.option("--app-id", default=1234567, show_default=True, type=int)
@click.option(
    "--drop-scope",
    "drop_scopes",
    multiple=True,
    type=click.Choice(sorted(REQUIRED_SCOPES)),
    help="A scope the token lacks (repeatable; default: it has every scope hubsync needs).",
)
@click.option("--webhook-url", default=None, help="Where to POST webhook batches.")
@click.option(
    "--client-secret",
    default=SandboxConfig.client_secret,
    envvar="HUBSYNC_SANDBOX_CLIENT_SECRET",
    help="Secret that signs webhooks (v1 and v3).",
)
@click.option(
    "--webhook-properties",
    default=None,
    help="Comma-separated properties whose changes are delivered (default: all).",
)
@click.option("--webhook-max-attempts", default=10, show_default=True, type=int)
@click.option("--webhook-backoff-s", default=1.0, show_default=True, type=float)
@click.option("--webhook-timeout-s", default=5.0, show_default=True, type=float)
@click.option("--error-rate", default=0.0, show_default=True, type=float)
@click.option("--error-status", default=500, show_default=True, type=int)
@click.option("--timeout-rate", default=0.0, show_default=True, type=float)
@click.option("--timeout-hold-s", default=30.0, show_default=True, type=float)
@click.option("--latency-ms", default=0, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--request-log-size", default=1000, show_default=True, type=int)
def sandbox_command(
    host: str,
    port: int,
    access_token: str | None,
    rate_limit_per_10s: int,
    rate_limit_interval_ms: int,
    daily_limit: int,
    search_limit_per_s: int,
    retry_after: bool,
    hosting_location: str,
    portal_id: int,
    app_id: int,
    drop_scopes: tuple[str, ...],
    webhook_url: str | None,
    client_secret: str,
    webhook_properties: str | None,
    webhook_max_attempts: int,
    webhook_backoff_s: float,
    webhook_timeout_s: float,
    error_rate: float,
    error_status: int,
    timeout_rate: float,
    timeout_hold_s: float,
    latency_ms: int,
    seed: int,
    request_log_size: int,
) -> None:
    """Run the local HubSpot emulator (contacts, properties, comm prefs, account info, webhooks)."""
    serve(
        SandboxConfig(
            host=host,
            port=port,
            access_token=access_token,
            rate_limit_per_10s=rate_limit_per_10s,
            rate_limit_interval_ms=rate_limit_interval_ms,
            daily_limit=daily_limit,
            search_limit_per_s=search_limit_per_s,
            retry_after_header=retry_after,
            hosting_location=hosting_location,
            portal_id=portal_id,
            app_id=app_id,
            scopes=frozenset(REQUIRED_SCOPES) - set(drop_scopes),
            webhook_url=webhook_url,
            client_secret=client_secret,
            webhook_properties=_properties(webhook_properties),
            webhook_max_attempts=webhook_max_attempts,
            webhook_backoff_s=webhook_backoff_s,
            webhook_timeout_s=webhook_timeout_s,
            error_rate=error_rate,
            error_status=error_status,
            timeout_rate=timeout_rate,
            timeout_hold_s=timeout_hold_s,
            latency_ms=latency_ms,
            seed=seed,
            request_log_size=request_log_size,
        )
    )
