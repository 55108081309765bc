"""The composition root: builds the application from settings.

The only module that may import ``connectors``; everything else in ``sync``
depends on ports. Building connects to nothing: connections open on first use.
"""

from __future__ import annotations

import functools
import getpass
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from connectors.hubspot import project
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.ratelimit import RateBudget
from connectors.hubspot.sandbox.command import sandbox_command as sandbox_command  # noqa: PLC0414 - re-exported for the CLI
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.control_client import SandboxControl
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.scopes import optional_scopes, required_scopes
from connectors.hubspot.signatures import V3Verifier, webhook_uri
from connectors.hubspot.webhook_payloads import change_from_item, inbox_items
from connectors.register.build import register_from_settings
from connectors.register.sql import SqlRegister
from mappings import MappingFileError, load_mapping
from sync.audit import Pseudonymizer
from sync.clock import SystemClock
from sync.errors import ConfigurationError, HubsyncError
from sync.handlers.access import AccessExporter, AccessExports
from sync.handlers.from_hubspot import HubSpotInbound
from sync.handlers.link_watch import LinkProbe
from sync.handlers.outbox import RegisterOutbox
from sync.handlers.reconcile import Mapped, Reconciler
from sync.handlers.residency import ResidencyGuard
from sync.handlers.subscription_check import SubscriptionCheck
from sync.handlers.to_hubspot import HubSpotEffects
from sync.intake import IntakeOptions, Readiness, build_app
from sync.ledger import open_ledger
from sync.ledger.sql import SqlLedger
from sync.model import RegisterReadiness
from sync.operator import Operator
from sync.ports import Clock, HubSpot, Ledger, Register
from sync.register_readiness import CachedReadiness, with_register
from sync.rules.retry import RetryPolicy
from sync.settings import Settings
from sync.system_check import CheckParts, HubSpotProbe, run_checks
from sync.worker import Worker, worker_id


def build_ledger(settings: Settings) -> SqlLedger:
    """The ledger the settings name (not yet opened)."""
    return open_ledger(
        settings.ledger.url,
        schema=settings.ledger.schema_name,
        max_attempts=settings.worker.max_attempts,
    )


def default_actor() -> str:
    """Who the CLI's actions are attributed to when ``--actor`` is not given."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def upgrade_ledger(settings: Settings, *, clock: Clock | None = None) -> tuple[int, int]:
    """``hubsync db upgrade``: apply the ledger's migrations in place; (from, to) versions.

    Opens the ledger without ``open`` (which refuses an outdated schema), and closes it.
    """
    ledger = build_ledger(settings)
    try:
        return ledger.upgrade((clock or SystemClock()).now())
    finally:
        ledger.close()


def build_operator(
    settings: Settings, *, actor: str | None = None, clock: Clock | None = None
) -> Operator:
    """An operator over an opened ledger (created fresh when the database is empty)."""
    clock = clock or SystemClock()
    ledger = open_ledger_of(settings, clock)
    key = settings.audit.pseudonym_key
    return Operator(
        ledger=ledger,
        clock=clock,
        actor=actor or default_actor(),
        pseudonym_key=key.get_secret_value().encode() if key else None,
        daily_budget=build_budget(settings, ledger, clock).daily_usage,
        register_readiness=lambda: register_readiness(settings, clock),
        open_register=lambda: register_from_settings(settings.register, clock.now),
    )


def register_readiness(settings: Settings, clock: Clock | None = None) -> RegisterReadiness:
    """Whether the register the settings name is set up (``check``, ``status``, ``/readyz``).

    A register setting that cannot be used (an HTTP register without its
    secret, a URL of the wrong kind) is a problem naming the setting;
    otherwise the register answers for itself. Connects, asks, and closes.
    """
    clock = clock or SystemClock()
    try:
        register = register_from_settings(settings.register, clock.now)
    except ConfigurationError as exc:
        return RegisterReadiness(tuple(exc.problems) or (str(exc),))
    try:
        return register.readiness()
    finally:
        register.close()


def init_register(settings: Settings) -> dict[str, Any]:
    """``hubsync register init``: create a sql register's three tables unless they exist.

    For trying hubsync out: a real register's application owns its tables
    (their layout is in ``connectors.register.sql``). Returns the tables,
    what was missing before (``was``) and the readiness after.
    """
    if settings.register.kind != "sql":
        raise ConfigurationError(
            "[register] kind is http: an HTTP register keeps its own data; "
            "`hubsync register init` creates the tables of a sql register"
        )
    register = register_from_settings(settings.register)
    if not isinstance(register, SqlRegister):  # pragma: no cover - kind is sql
        raise ConfigurationError("[register] kind: not a sql register")
    try:
        before = register.readiness()
        register.create_schema()
        after = register.readiness()
    finally:
        register.close()
    return {
        "tables": list(register.tables.values()),
        "was": list(before.problems),
        **after.as_dict(),
    }


def _secret(value: object, variable: str, what: str) -> str:
    secret = getattr(value, "get_secret_value", lambda: None)()
    if not secret:
        raise ConfigurationError(f"{what} is not set: set {variable} in the environment")
    return str(secret)


def build_budget(settings: Settings, ledger: Ledger, clock: Clock) -> RateBudget:
    """HubSpot's rate budgets as the settings give them, kept in the ledger (no token needed)."""
    hub = settings.hubspot
    return RateBudget(
        ledger,
        clock,
        per_10s=hub.rate_limit_per_10s,
        margin=hub.rate_safety_margin,
        daily=hub.daily_limit,
        search_per_s=hub.search_limit_per_s,
    )


def build_hubspot(settings: Settings, ledger: Ledger, clock: Clock) -> HubSpotClient:
    """The HubSpot client with its rate budget kept in the ledger."""
    hub = settings.hubspot
    token = _secret(hub.access_token, "HUBSYNC_HUBSPOT__ACCESS_TOKEN", "[hubspot] access_token")
    client = HubSpotClient(
        base_url=hub.base_url,
        access_token=token,
        budget=build_budget(settings, ledger, clock),
        timeout_s=hub.timeout_seconds,
        subscriptions_api=hub.subscriptions_api,
        api_version=hub.api_version,
        now=clock.now,
    )
    client.default_legal_basis(hub.legal_basis, hub.legal_basis_explanation)
    client.business_units(hub.business_unit_ids)
    return client


def build_exporter(settings: Settings, ledger: Ledger, clock: Clock) -> AccessExporter:
    """What ``hubsync export`` reads with: HubSpot (the shared budget) and the register."""
    register = register_from_settings(settings.register, clock.now)
    return AccessExporter(build_hubspot(settings, ledger, clock), ledger, register, clock)


def build_access_exports(
    settings: Settings, hubspot: HubSpot, ledger: Ledger, register: Register, clock: Clock
) -> AccessExports:
    """How the worker answers ``access`` events: a document each in ``[export] directory``."""
    exporter = AccessExporter(hubspot, ledger, register, clock)
    return AccessExports(exporter, Path(settings.export.directory))


def build_reconciler(
    settings: Settings, ledger: Ledger, clock: Clock, actor: str
) -> tuple[Reconciler, Register]:
    """What ``hubsync reconcile`` compares with: HubSpot (the shared budget), the register.

    The register is returned too, for the caller to close.
    """
    key = _secret(
        settings.audit.pseudonym_key, "HUBSYNC_AUDIT__PSEUDONYM_KEY", "[audit] pseudonym_key"
    )
    try:
        fields = load_mapping()
    except MappingFileError as exc:
        raise ConfigurationError(str(exc), problems=exc.problems) from exc
    register = register_from_settings(settings.register, clock.now)
    reconciler = Reconciler(
        hubspot=build_hubspot(settings, ledger, clock),
        register=register,
        ledger=ledger,
        mapped=[Mapped(m.field, m.hubspot, m.authority) for m in fields.fields.values()],
        pseudonymizer=Pseudonymizer(key.encode()),
        clock=clock,
        actor=actor,
    )
    return reconciler, register


def build_residency(settings: Settings, hubspot: HubSpotClient, clock: Clock) -> ResidencyGuard:
    """The residency guard over the configured allowed locations."""
    return ResidencyGuard(
        hubspot,
        settings.hubspot.allowed_hosting_locations,
        clock,
        timedelta(minutes=settings.hubspot.residency_check_minutes),
    )


def open_ledger_of(settings: Settings, clock: Clock) -> SqlLedger:
    """The ledger the settings name, opened (created, or checked against the schema)."""
    ledger = build_ledger(settings)
    ledger.open(clock.now())
    return ledger


def build_worker(
    settings: Settings, *, clock: Clock | None = None, ledger: SqlLedger | None = None
) -> Worker:
    """A worker over an opened ledger, the HubSpot client and the default mapping.

    ``ledger``: one already opened (``hubsync run`` shares one with the intake).
    """
    clock = clock or SystemClock()
    ledger = ledger or open_ledger_of(settings, clock)
    key = _secret(
        settings.audit.pseudonym_key, "HUBSYNC_AUDIT__PSEUDONYM_KEY", "[audit] pseudonym_key"
    )
    pseudonymizer = Pseudonymizer(key.encode())
    try:
        fields = load_mapping()
    except MappingFileError as exc:
        raise ConfigurationError(str(exc), problems=exc.problems) from exc
    hubspot = build_hubspot(settings, ledger, clock)
    register = register_from_settings(settings.register, clock.now)
    work = settings.worker
    owner = worker_id()
    inbound = HubSpotInbound(
        ledger=ledger,
        hubspot=hubspot,
        register=register,
        fields=fields,
        pseudonymizer=pseudonymizer,
        clock=clock,
        parse=functools.partial(change_from_item, app_id=settings.hubspot.app_id),
        owner=owner,
        batch_size=work.batch_size,
    )
    outbox = RegisterOutbox(
        register=register,
        ledger=ledger,
        pseudonymizer=pseudonymizer,
        clock=clock,
        batch_size=work.batch_size,
    )
    residency = build_residency(settings, hubspot, clock)
    check = SubscriptionCheck(
        ledger=ledger,
        hubspot=hubspot,
        register=register,
        clock=clock,
        pseudonymizer=pseudonymizer,
        every=timedelta(minutes=work.subscription_check_minutes),
        cycle=timedelta(hours=settings.subscriptions.check_cycle_hours),
        daily_share=settings.subscriptions.check_daily_share,
        daily_limit=settings.hubspot.daily_limit,
        transfers_allowed=lambda: residency.verdict().allowed,
    )
    return Worker(
        owner=owner,
        register=register,
        inbox=inbound,
        steps=(outbox.run_once, check.run_once),
        ledger=ledger,
        effects=HubSpotEffects(
            hubspot,
            ledger,
            fields,
            pseudonymizer,
            clock,
            access=build_access_exports(settings, hubspot, ledger, register, clock),
        ),
        residency=residency,
        fields=fields,
        pseudonymizer=pseudonymizer,
        clock=clock,
        policy=RetryPolicy(
            max_attempts=work.max_attempts,
            base_s=work.backoff_base_seconds,
            max_delay_s=work.backoff_max_seconds,
        ),
        batch_size=work.batch_size,
        lease=timedelta(seconds=work.lease_seconds),
        poll_interval_s=work.poll_interval_seconds,
        retention=timedelta(days=settings.retention.payload_days),
        link_probe=build_link_probe(hubspot),
    )


LINK_PROBE_SCOPE = "crm.objects.contacts.read"
"""What the HubSpot link's probe asks when no scope was named: a contact read, as most events
make (``HubSpotClient.missing_scopes`` reads a contact that does not exist)."""


def build_link_probe(client: HubSpotClient) -> LinkProbe:
    """The worker's probe of a HubSpot link that is down (``sync.rules.link``).

    For missing scopes, one cheap call per scope that needs it; for a refused
    token, a contact read. A 401 still raises ``LinkDown``.
    """

    def probe(scopes: Sequence[str]) -> list[str]:
        return client.missing_scopes(list(scopes) or [LINK_PROBE_SCOPE])

    return probe


def check(settings: Settings, *, clock: Clock | None = None) -> dict[str, Any]:
    """What ``hubsync check`` reports (``sync.system_check``), over the parts the settings name."""
    clock = clock or SystemClock()
    api = settings.hubspot.subscriptions_api

    def open_checked_ledger() -> Ledger:
        return open_ledger_of(settings, clock)

    def hubspot(ledger: Ledger) -> HubSpotProbe:
        client = build_hubspot(settings, ledger, clock)
        guard = build_residency(settings, client, clock)
        return HubSpotProbe(
            base_url=settings.hubspot.base_url,
            allowed_locations=settings.hubspot.allowed_hosting_locations,
            residency=lambda: guard.verdict(fresh=True),
            missing_scopes=lambda: client.missing_scopes(required_scopes(api)),
            missing_optional_scopes=lambda: client.missing_scopes(optional_scopes()),
            needed_scopes=len(required_scopes(api)),
            credential=settings.hubspot.credential,
            gdpr_enabled=settings.hubspot.gdpr_enabled,
            legal_basis=settings.hubspot.legal_basis,
            business_unit_ids=tuple(settings.hubspot.business_unit_ids),
        )

    return run_checks(
        CheckParts(
            open_ledger=open_checked_ledger,
            register_kind=settings.register.kind,
            register_readiness=lambda: register_readiness(settings, clock),
            hubspot=hubspot,
        )
    )


def build_readiness(settings: Settings, ledger: Ledger, clock: Clock) -> Readiness:
    """Readiness of the intake: the residency verdict (checked again once per period).

    Without a HubSpot access token the verdict can never be known-good, so
    the server stays unready rather than pretending.
    """
    try:
        guard = build_residency(settings, build_hubspot(settings, ledger, clock), clock)
    except ConfigurationError as exc:
        reason = str(exc)
        return lambda: (False, reason)

    def ready() -> tuple[bool, str]:
        try:
            verdict = guard.verdict()
        except HubsyncError as exc:
            return False, f"residency not verified ({type(exc).__name__})"
        return verdict.allowed, verdict.reason

    return ready


def build_intake(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ready: Readiness | None = None,
    ledger: SqlLedger | None = None,
) -> Starlette:
    """The intake server's app over an opened ledger, with HubSpot's v3 check wired in.

    ``ledger``: one already opened (``hubsync run`` shares the worker's).
    """
    clock = clock or SystemClock()
    secret = _secret(
        settings.hubspot.client_secret, "HUBSYNC_HUBSPOT__CLIENT_SECRET", "[hubspot] client_secret"
    )
    ledger = ledger or open_ledger_of(settings, clock)
    server = settings.server
    register_secret = server.register_secret.get_secret_value() if server.register_secret else ""
    key = settings.audit.pseudonym_key
    return build_app(
        ledger,
        clock,
        verify_webhook=V3Verifier(secret.encode(), webhook_uri(server.public_url)),
        read_webhooks=inbox_items,
        ready=ready
        or with_register(
            build_readiness(settings, ledger, clock),
            CachedReadiness(lambda: register_readiness(settings, clock), clock),
        ),
        daily_budget=build_budget(settings, ledger, clock).daily_usage,
        options=IntakeOptions(
            max_body_bytes=server.max_body_bytes,
            register_secret=register_secret.encode() or None,
            receipt_ttl=timedelta(days=settings.retention.webhook_receipt_days),
            pseudonym_key=key.get_secret_value().encode() if key else None,
            signature_failure_threshold=server.signature_failure_threshold,
        ),
    )


def running_demo_sandbox(
    *, access_token: str, client_secret: str, app_id: int, webhook_url: str
) -> AbstractContextManager[RunningSandbox]:
    """The HubSpot sandbox of ``hubsync demo``, on a free loopback port.

    Its webhooks are batched and retried quickly, so the demo's steps settle in seconds.
    """
    return running_sandbox(
        SandboxConfig(
            port=0,
            access_token=access_token,
            client_secret=client_secret,
            app_id=app_id,
            webhook_url=webhook_url,
            webhook_batch_window_ms=20,
            webhook_backoff_s=0.2,
            # The demo shows an unsubscribe reaching the register in seconds, by
            # webhook; real HubSpot may not send it, and the periodic
            # subscription check finds it then (hubspot-fidelity.md 2.5).
            webhook_email_optout_changes=True,
        )
    )


def build_demo_register(url: str) -> SqlRegister:
    """The demo's SQL register at ``url`` with its tables created; it applies HubSpot's erasures."""
    register = SqlRegister(url, on_hubspot_erasure="apply")
    register.create_schema()
    return register


def build_sandbox_control(base_url: str) -> SandboxControl:
    """The sandbox's control API: what HubSpot's users, forms and recipients do."""
    return SandboxControl(base_url)


def write_hubspot_project(
    settings: Settings,
    out_dir: Path,
    *,
    force: bool = False,
    subscription_types: Sequence[str] = (),
) -> dict[str, Any]:
    """``hubsync hubspot-project``: write the HubSpot developer project for these settings.

    Its scopes are those ``[hubspot] subscriptions_api`` needs, its webhooks
    go to ``[server] public_url`` + ``/webhooks/hubspot`` and watch the
    default mapping's properties (``connectors.hubspot.project``). Refuses
    an unset or unusable ``public_url`` (``ConfigurationError``) and, without
    ``force``, files that exist (``HubsyncError``; nothing is written).
    Returns the files, scopes, target, subscriptions, warnings and next steps.
    """
    server = settings.server
    # The default public_url is a loopback address HubSpot can never call.
    public_url = server.public_url if "public_url" in server.model_fields_set else ""
    problem = project.target_problem(public_url)
    if problem is not None:
        message = (
            f"[server] public_url {problem}: set it (or HUBSYNC_SERVER__PUBLIC_URL) to the "
            "https address at which HubSpot reaches hubsync's intake server"
        )
        raise ConfigurationError(message, problems=[message])
    try:
        fields = load_mapping()
    except MappingFileError as exc:
        raise ConfigurationError(str(exc), problems=exc.problems) from exc
    target = webhook_uri(public_url)
    files = project.project_files(
        scopes=required_scopes(settings.hubspot.subscriptions_api),
        mapped_properties=[m.hubspot for m in fields.fields.values()],
        target_url=target,
        subscription_types=subscription_types,
    )
    present = project.existing(out_dir, files)
    if present and not force:
        names = ", ".join(str(p) for p in present)
        raise HubsyncError(f"{names}: already there; nothing written (--force overwrites)")
    try:
        written = project.write_project(out_dir, files)
    except OSError as exc:
        raise HubsyncError(f"{out_dir}: cannot write the project ({type(exc).__name__})") from exc
    app, webhooks = files[project.APP_FILE], files[project.WEBHOOKS_FILE]
    return {
        "directory": str(out_dir),
        "files": [str(p) for p in written],
        "scopes": app["config"]["auth"]["requiredScopes"],
        "target_url": target,
        "subscriptions": webhooks["config"]["subscriptions"],
        "warnings": [f"[server] public_url {w}" for w in project.target_warnings(target)],
        "next_steps": project.next_steps(str(out_dir)),
    }
