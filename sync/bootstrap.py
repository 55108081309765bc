"""The composition root: builds the application from settings.

The only module that may import ``connectors``; everything else in ``sync``
depends on ports. Building connects to nothing: connections open on first use.
"""

from __future__ import annotations

import getpass

from sync.clock import SystemClock
from sync.ledger import open_ledger
from sync.ledger.sql import SqlLedger
from sync.operator import Operator
from sync.ports import Clock
from sync.settings import Settings


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


def build_operator(
    settings: Settings, *, actor: str | None = None, clock: Clock | None = None
) -> Operator:
    """An operator over an opened ledger (created fresh when the database is empty)."""
    clock = clock or SystemClock()
    ledger = build_ledger(settings)
    ledger.open(clock.now())
    key = settings.audit.pseudonym_key
    return Operator(
        ledger=ledger,
        clock=clock,
        actor=actor or default_actor(),
        pseudonym_key=key.get_secret_value().encode() if key else None,
    )
