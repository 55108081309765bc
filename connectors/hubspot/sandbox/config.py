"""Every setting of the sandbox in one frozen value, so a run is reproducible from its flags."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.hubspot.scopes import REQUIRED_SCOPES

DEFAULT_PORT = 8089
MERGED_ID_ENDPOINTS = frozenset({"get", "batch_read", "update", "batch_update", "gdpr_delete"})
"""The contact endpoints ``SandboxConfig.merged_ids_resolve_on`` may name (update: PATCH)."""


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
    # The account's brands (business units, HubSpot's Brands add-on); 0 is the default
    # brand, always there. Each has its own unsubscribe-all, named by `businessUnitId`
    # on the status calls (sandbox/subscriptions.py). Default: the default brand only.
    business_unit_ids: tuple[int, ...] = (0,)
    # In a GDPR-enabled account, the single unsubscribe refuses a write without
    # `legalBasis` and `legalBasisExplanation` (HubSpot's "Unsubscribe a contact"
    # reference, communication preferences v3: "required for GDPR enabled portals").
    legal_basis_to_unsubscribe: bool = True
    # Unknown: whether the batch status write enforces it for `UNSUBSCRIBED` too
    # (optional in its schema; hubspot-fidelity.md 2.5). Tests run both.
    legal_basis_to_unsubscribe_batch: bool = False
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
    # Which endpoints answer an OLD id of a merged contact with the merged record
    # (the others answer 404 / OBJECT_NOT_FOUND). HubSpot: "fetching any records
    # using the original IDs will return the new merged record" (changelog
    # "updated merge functionality"); writes and gdpr-delete are not documented
    # (hubspot-fidelity.md 2.4). Names: MERGED_ID_ENDPOINTS. Tests run several.
    merged_ids_resolve_on: frozenset[str] = frozenset({"get", "batch_read"})
    # The most associations one page of the association list gives (HubSpot caps `limit`
    # at 500); a contact read names the first 100 of a type and pages the rest
    # (sandbox/associations.py). Tests lower it so a few hundred objects page several times.
    association_page_size: int = 500
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
    # Whether `contact.propertyChange` is sent for `hs_email_optout` and
    # `hs_email_optout_<id>`. Unknown today: a 2020 community thread says
    # `hs_email_optout` "cannot be selected" for property-change webhooks
    # (community.hubspot.com "Webhook for contact opting out of email", m-p/320868),
    # and the `eventType` enum has no communication-preference event
    # (hubspot-fidelity.md 2.5). Off, so hubsync's periodic subscription check
    # must find opt-outs on its own; tests of the webhook path turn it on.
    webhook_email_optout_changes: bool = False
    webhook_batch_window_ms: int = 50
    # Whether a delivery answered 400, 401, 403, 404 or 405 is tried again. HubSpot
    # does not retry those (HubSpot staff, community thread "Webhooks response",
    # td-p/277558; the older webhooks doc quoted in integrate.hubspot.com "what does
    # will retry mean"); today's policy is partly unknown (hubspot-fidelity.md 2.6).
    # False (default): given up at once, so a refused batch is lost as in HubSpot.
    webhook_retry_client_errors: bool = False
    # eventId "is not guaranteed to be unique" (webhooks doc, field table). 0: each
    # event gets a new id; n > 0: ids run 1..n and start over, so distinct events share one.
    webhook_event_id_cycle: int = 0
    # Delivery is at least once: True sends every batch a second time after its 2xx
    # (attemptNumber + 1), as HubSpot does when it missed the answer.
    webhook_redeliver: bool = False
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
