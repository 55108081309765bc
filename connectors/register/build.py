"""The register named by ``[register]`` settings, for ``sync.bootstrap`` to call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from connectors.register.http import HttpRegister
from connectors.register.sql import SqlRegister
from sync.errors import ConfigurationError
from sync.settings import RegisterSettings


def register_from_settings(
    settings: RegisterSettings, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> HttpRegister | SqlRegister:
    """An ``HttpRegister`` (``kind = "http"``) or a ``SqlRegister`` (``kind = "sql"``).

    Nothing is connected yet; a bad URL, table name or missing secret is a
    ``ConfigurationError`` naming the key, never its value.
    """
    try:
        if settings.kind == "http":
            if settings.secret is None:
                raise ConfigurationError(
                    "register.secret: required for an HTTP register; set HUBSYNC_REGISTER__SECRET",
                    problems=["register.secret: required for an HTTP register"],
                )
            return HttpRegister(
                url=settings.url,
                secret=settings.secret.get_secret_value(),
                timeout_s=settings.timeout_seconds,
                now=lambda: now().timestamp(),
            )
        return SqlRegister(
            settings.url,
            customers_table=settings.customers_table,
            outbox_table=settings.outbox_table,
            notices_table=settings.notices_table,
            on_hubspot_erasure=settings.on_hubspot_erasure,
            timeout_s=settings.timeout_seconds,
            now=now,
        )
    except ValueError as exc:
        raise ConfigurationError(f"invalid register settings: {exc}", problems=[str(exc)]) from exc
