"""Every setting of the sandbox in one frozen value, so a run is reproducible from its flags."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.hubspot.scopes import REQUIRED_SCOPES

DEFAULT_PORT = 8089


@dataclass(frozen=True)
class SandboxConfig:
    """The sandbox's settings: listening address, auth, limits, account facts, webhooks, faults.

    Defaults describe a Free/Starter private app in an `eu1` account (100 calls per 10 s,
    250,000 per day, search 4 per second) with webhooks off. `access_token=None` accepts any
    non-empty Bearer token; `scopes` are what access-token info says it was granted. Fault
    fields are the initial values of `POST /_sandbox/faults`.
    `webhook_properties=None` delivers `contact.propertyChange` for every property; a set
    limits it to those names. `webhook_max_attempts` counts the first delivery (so the
    highest `attemptNumber` is `webhook_max_attempts - 1`); the delay before attempt `n` is
    `webhook_backoff_s * 2**(n-1)`, capped at `webhook_backoff_max_s`.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    access_token: str | None = None
    # Rate limits.
    rate_limit_per_10s: int = 100
    rate_limit_interval_ms: int = 10_000
    daily_limit: int = 250_000
    search_limit_per_s: int = 4
    retry_after_header: bool = False
    # Account.
    hosting_location: str = "eu1"
    portal_id: int = 12345678
    app_id: int = 1234567
    time_zone: str = "UTC"  # IANA name: account details and the daily reset follow it
    gdpr_enabled: bool = True
    # A GDPR delete sends contact.privacyDeletion and contact.deletion; which
    # comes first is not documented, so tests run both orders.
    gdpr_deletion_first: bool = False
    # Unknown on a real portal: whether 2026-09 `definitions` answers v4's
    # `{"results": [...]}` or v3's `{"subscriptionDefinitions": [...]}`
    # (hubspot-2026.md section 4.3 merges the two). Tests run both.
    dated_definitions_key: str = "results"
    # Whether a per-item error of a batch names its input in `context` (`ids`,
    # `subscriberIdString`); HubSpot does not always (hubspot-fidelity.md). Tests run both.
    batch_errors_name_inputs: bool = True
    # Scopes the token was granted (access-token info): every one hubsync needs.
    scopes: frozenset[str] = frozenset(REQUIRED_SCOPES)
    # What the token is (hubspot-2026.md section 1.1): "project_app" (a static token with
    # v3-signed webhooks), "legacy_private_app" (as project_app here) or "service_key"
    # (REST only: HubSpot sends a Service Key no webhooks, so none are configured or sent).
    credential: str = "project_app"
    # Webhooks.
    webhook_url: str | None = None
    client_secret: str = "sandbox-client-secret"  # noqa: S105 (a test fixture, not a secret)
    webhook_properties: frozenset[str] | None = None
    webhook_max_attempts: int = 10
    webhook_backoff_s: float = 1.0
    webhook_backoff_max_s: float = 3600.0
    webhook_timeout_s: float = 5.0
    webhook_batch_size: int = 100
    # Send the generic `object.*` events (objectTypeId "0-1") a project's `crmObjects`
    # subscriptions get, instead of the classic `contact.*` ones.
    webhook_generic_events: bool = False
    webhook_batch_window_ms: int = 50
    # Faults (deterministic with `seed`).
    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    latency_ms: int = 0
    seed: int = 0
    timeout_hold_s: float = 30.0
    # Bounded memory for the request log and the webhook delivery log.
    request_log_size: int = 1000
    delivery_log_size: int = 1000
    webhook_queue_limit: int = 10_000
