"""One sandbox instance's parts, wired from a `SandboxConfig`; no threads or sockets yet."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.faults import FaultInjector, FaultSettings
from connectors.hubspot.sandbox.ratelimit import RateLimiter
from connectors.hubspot.sandbox.requestlog import RequestLog
from connectors.hubspot.sandbox.state import SandboxState
from connectors.hubspot.sandbox.timefmt import Clock
from connectors.hubspot.sandbox.validation import ValidationRules
from connectors.hubspot.sandbox.webhooks import WebhookDispatcher


@dataclass
class Sandbox:
    """The state, limiter, faults, webhook dispatcher and request log of one running sandbox."""

    config: SandboxConfig
    clock: Clock
    state: SandboxState
    limiter: RateLimiter
    faults: FaultInjector
    webhooks: WebhookDispatcher
    requests: RequestLog
    validation: ValidationRules = field(default_factory=ValidationRules)
    stopping: threading.Event = field(default_factory=threading.Event)
    started_with: SandboxConfig | None = None  # `config` as built; `reset` goes back to it

    def __post_init__(self) -> None:
        if self.started_with is None:
            self.started_with = self.config

    def set_token(self, access_token: str | None) -> None:
        """Accept only ``access_token`` from the next call on (``None``: any token).

        A rotation, as HubSpot's "Rotate and expire this token now" (the
        private app's Auth tab): the old token answers 401 at once.
        """
        self.config = replace(self.config, access_token=access_token)

    def set_scopes(self, scopes: Iterable[str]) -> None:
        """The app's scopes from the next call on: a call needing one it lost answers 403
        ``MISSING_SCOPES`` (``scopes.check``), as after a scope is removed in the app's settings.
        """
        self.config = replace(self.config, scopes=frozenset(scopes))

    def reset(self) -> None:
        """Everything back to a fresh start (`POST /_sandbox/reset`), the auth settings too."""
        if self.started_with is not None:
            self.config = self.started_with
        self.state.reset()
        self.limiter.reset()
        self.faults.reset()
        self.webhooks.reset()
        self.requests.reset()
        self.validation.reset()


def build_sandbox(config: SandboxConfig, clock: Clock = time.time) -> Sandbox:
    """Wire a sandbox from its settings; `clock` drives rate limits and record timestamps."""
    webhooks = WebhookDispatcher(
        url=config.webhook_url if config.credential != "service_key" else None,
        client_secret=config.client_secret,
        portal_id=config.portal_id,
        app_id=config.app_id,
        properties=config.webhook_properties,
        max_attempts=config.webhook_max_attempts,
        backoff_s=config.webhook_backoff_s,
        backoff_max_s=config.webhook_backoff_max_s,
        timeout_s=config.webhook_timeout_s,
        batch_size=config.webhook_batch_size,
        batch_window_ms=config.webhook_batch_window_ms,
        queue_limit=config.webhook_queue_limit,
        log_size=config.delivery_log_size,
        generic_events=config.webhook_generic_events,
        retry_client_errors=config.webhook_retry_client_errors,
        event_id_cycle=config.webhook_event_id_cycle,
        redeliver=config.webhook_redeliver,
        email_optout_changes=config.webhook_email_optout_changes,
    )
    state = SandboxState(
        clock=clock,
        app_id=config.app_id,
        gdpr_enabled=config.gdpr_enabled,
        gdpr_deletion_first=config.gdpr_deletion_first,
        business_unit_ids=config.business_unit_ids,
        on_events=webhooks.emit,
    )
    limiter = RateLimiter(
        clock=clock,
        per_interval=config.rate_limit_per_10s,
        interval_ms=config.rate_limit_interval_ms,
        daily=config.daily_limit,
        search_per_s=config.search_limit_per_s,
        portal_id=config.portal_id,
        app_id=config.app_id,
        retry_after=config.retry_after_header,
        time_zone=config.time_zone,
    )
    faults = FaultInjector(
        FaultSettings(
            error_rate=config.error_rate,
            error_status=config.error_status,
            timeout_rate=config.timeout_rate,
            latency_ms=config.latency_ms,
            seed=config.seed,
        )
    )
    return Sandbox(
        config=config,
        clock=clock,
        state=state,
        limiter=limiter,
        faults=faults,
        webhooks=webhooks,
        requests=RequestLog(config.request_log_size),
    )
