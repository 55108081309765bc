"""The ledger: durable queue of events and memory of each subject.

One port (``sync.ports.Ledger``), two backends sharing their SQL
(``sync.ledger.sql``): SQLite by default, PostgreSQL for several workers.
"""

from __future__ import annotations

from sync.errors import ConfigurationError
from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger


def open_ledger(url: str, *, schema: str | None = None, max_attempts: int = 8) -> SqlLedger:
    """Build (without connecting) the ledger a URL names: ``sqlite:///path`` or ``postgresql://``."""
    if url.startswith("sqlite:///"):
        return SqliteLedger(url.removeprefix("sqlite:///"), max_attempts=max_attempts)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(url, schema=schema, max_attempts=max_attempts)
    raise ConfigurationError("[ledger] url must start with sqlite:/// or postgresql://")
