"""Settings: a TOML file and the environment, validated in one pass.

Sources, strongest first: the environment (``HUBSYNC_<SECTION>__<KEY>``),
then the TOML file (``--config`` or ``HUBSYNC_CONFIG``), then the defaults
below. Secrets (``access_token``, ``client_secret``, ``register_secret``,
``pseudonym_key``) are read only from the environment: a file that holds one
is refused, so no secret ends up committed next to the configuration.
Every problem is reported at once, by key, never with the offending value.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sync.errors import ConfigurationError

SECRET_KEYS: dict[str, tuple[str, ...]] = {
    "hubspot": ("access_token", "client_secret"),
    "server": ("register_secret",),
    "audit": ("pseudonym_key",),
    "register": ("secret",),
}
"""Keys that may come only from the environment, by section."""

_file_data: ContextVar[dict[str, Any] | None] = ContextVar("hubsync_settings_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerSettings(_Section):
    """``[ledger]``: where events are kept."""

    url: str = "sqlite:///var/hubsync/ledger.db"
    schema_name: str | None = Field(default=None, alias="schema")

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value


class HubSpotSettings(_Section):
    """``[hubspot]``: the account and how hard hubsync may call it."""

    base_url: str = "https://api.hubapi.com"
    access_token: SecretStr | None = None
    client_secret: SecretStr | None = None
    app_id: int | None = None
    allowed_hosting_locations: list[str] = Field(default_factory=lambda: ["eu1"])
    timeout_seconds: float = Field(default=10.0, gt=0)
    rate_limit_per_10s: int = Field(default=100, gt=0)
    rate_safety_margin: int = Field(default=2, ge=0)
    """Calls of each rolling 10-second window hubsync leaves unspent, for clock skew between
    workers and calls admitted but not yet counted by HubSpot (at least one call still goes)."""
    daily_limit: int = Field(default=250_000, gt=0)
    search_limit_per_s: int = Field(default=5, gt=0)
    subscriptions_api: Literal["v4", "v3"] = "v4"
    credential: Literal["project_app", "legacy_private_app", "service_key"] = "project_app"
    """What ``access_token`` is: a project app's static token (the default; HubSpot no longer
    creates legacy private apps), a legacy private app's, or a Service Key (no webhooks)."""
    api_version: str = Field(default="2026-09", pattern=r"^\d{4}-(0[1-9]|1[0-2])(-beta)?$")
    """HubSpot's date-based API version every call uses (``connectors.hubspot.paths``)."""
    residency_check_minutes: float = Field(default=60.0, gt=0)
    gdpr_enabled: bool = True
    """Whether the account has HubSpot's GDPR features on (the normal case in the EU): its
    subscription writes then need a legal basis (``legal_basis``)."""
    legal_basis: (
        Literal[
            "CONSENT_WITH_NOTICE",
            "LEGITIMATE_INTEREST_CLIENT",
            "LEGITIMATE_INTEREST_OTHER",
            "LEGITIMATE_INTEREST_PQL",
            "NON_GDPR",
            "PERFORMANCE_OF_CONTRACT",
            "PROCESS_AND_STORE",
        ]
        | None
    ) = None
    """The ``legalBasis`` sent with a subscription write whose event names none (opt-outs)."""
    legal_basis_explanation: str | None = None
    """Its ``legalBasisExplanation``: HubSpot requires one with the basis."""
    business_unit_ids: list[int] = Field(default_factory=list)
    """The account's brands (HubSpot business units, 0 the default) whose unsubscribe-all an
    opt-out or a restriction sets and the subscription check reads. Empty: the default brand
    only (a static token cannot list the account's brands)."""

    @field_validator("business_unit_ids")
    @classmethod
    def _brand_ids(cls, value: list[int]) -> list[int]:
        if any(v < 0 for v in value):
            raise ValueError("brand ids are whole numbers, 0 or more")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _basis_explained(self) -> HubSpotSettings:
        if self.legal_basis and not (self.legal_basis_explanation or "").strip():
            raise ValueError("legal_basis_explanation: HubSpot requires one with legal_basis")
        return self

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("allowed_hosting_locations")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one location (transfers fail closed)")
        return [v.strip().lower() for v in value]


class ServerSettings(_Section):
    """``[server]``: the intake server of ``hubsync run``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    register_secret: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # Webhook signatures refused in a row before /readyz and `hubsync status`
    # raise the alarm (a wrong public_url or proxy loses every batch).
    signature_failure_threshold: int = Field(default=5, ge=1)


class AuditSettings(_Section):
    """``[audit]``: pseudonyms in the audit log and the suppression list."""

    pseudonym_key: SecretStr | None = None

    @field_validator("pseudonym_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 16:
            raise ValueError("must be at least 16 characters")
        return value


class RegisterSettings(_Section):
    """``[register]``: the controller's register (``sql`` or ``http``)."""

    kind: Literal["sql", "http"] = "sql"
    url: str = "sqlite:///var/hubsync/register.db"
    secret: SecretStr | None = None
    customers_table: str = "customers"
    outbox_table: str = "dsr_outbox"
    notices_table: str = "dsr_notices"
    on_hubspot_erasure: Literal["apply", "notify"] = "notify"
    timeout_seconds: float = Field(default=10.0, gt=0)


class WorkerSettings(_Section):
    """``[worker]``: claiming, leases and retries."""

    batch_size: int = Field(default=100, ge=1, le=100)
    lease_seconds: float = Field(default=120.0, gt=0)
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    subscription_check_minutes: float = Field(default=15.0, gt=0)


class SubscriptionSettings(_Section):
    """``[subscriptions]``: the periodic check of HubSpot's subscription statuses."""

    check_cycle_hours: float = Field(default=24.0, gt=0)
    """Every subject the ledger knows is checked once within this many hours."""
    check_daily_share: float = Field(default=0.05, gt=0, le=1)
    """The share of HubSpot's daily call limit the check may use; a longer cycle beyond it."""


class RetentionSettings(_Section):
    """``[retention]``: how long personal data stays in finished events."""

    payload_days: float = Field(default=30.0, ge=0)
    webhook_receipt_days: float = Field(default=7.0, gt=0)


class ExportSettings(_Section):
    """``[export]``: where the documents of ``access`` events are written (0600 files)."""

    directory: str = "var/hubsync/exports"

    @field_validator("directory")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a directory")
        return value


class LoggingSettings(_Section):
    """``[logging]``: level and format (``auto``: JSON lines unless on a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class _FileSource(InitSettingsSource):
    """The TOML file's data, below the environment in priority."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls, init_kwargs=_file_data.get() or {})


with warnings.catch_warnings():
    # The [register] section shadows ABCMeta.register on the class; Settings is
    # never used as an abstract base, so the shadowing is harmless.
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class Settings(BaseSettings):
        """Every setting of hubsync, by TOML section."""

        model_config = SettingsConfigDict(
            env_prefix="HUBSYNC_",
            env_nested_delimiter="__",
            extra="forbid",
            frozen=True,
            populate_by_name=True,
        )

        ledger: LedgerSettings = Field(default_factory=LedgerSettings)
        hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)
        server: ServerSettings = Field(default_factory=ServerSettings)
        audit: AuditSettings = Field(default_factory=AuditSettings)
        register: RegisterSettings = Field(default_factory=RegisterSettings)
        worker: WorkerSettings = Field(default_factory=WorkerSettings)
        retention: RetentionSettings = Field(default_factory=RetentionSettings)
        subscriptions: SubscriptionSettings = Field(default_factory=SubscriptionSettings)
        export: ExportSettings = Field(default_factory=ExportSettings)
        logging: LoggingSettings = Field(default_factory=LoggingSettings)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            """Init arguments, then the environment, then the TOML file."""
            return (init_settings, env_settings, _FileSource(settings_cls))


def config_path(explicit: str | Path | None, environ: dict[str, str] | None = None) -> Path | None:
    """The configuration file named by ``--config`` or ``HUBSYNC_CONFIG``, if any."""
    env = os.environ if environ is None else environ
    chosen = explicit or env.get("HUBSYNC_CONFIG")
    return Path(chosen) if chosen else None


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read, merge and validate the settings; raise one ConfigurationError with every problem."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    file = config_path(path)
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"{file}: no such configuration file")
        except OSError as exc:
            problems.append(f"{file}: cannot be read ({type(exc).__name__})")
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{file}: not valid TOML ({exc})")
    for section, keys in SECRET_KEYS.items():
        table = data.get(section)
        if not isinstance(table, dict):
            continue
        for key in keys:
            if key in table:
                del table[key]
                env = f"HUBSYNC_{section.upper()}__{key.upper()}"
                problems.append(
                    f"{section}.{key}: secrets are read only from the environment; "
                    f"remove it from the file and set {env}"
                )
    token = _file_data.set(data)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems.extend(_describe(err) for err in exc.errors())
        settings = None
    finally:
        _file_data.reset(token)
    if problems or settings is None:
        raise ConfigurationError(
            "invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems),
            problems=problems,
        )
    return settings


def _describe(error: Any) -> str:
    """One validation error as ``section.key: message``, without the input value."""
    where = ".".join(str(part) for part in error.get("loc", ())) or "(settings)"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}"
