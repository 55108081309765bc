"""The ledger as one object: every part over one connection, and the schema.

``SqlLedger`` composes the parts (``events``, ``operations``, ``subjects``,
``inbox``, ``shared``, ``audit_chain``) over ``db.SqlBase``, so one
transaction can span them (``record`` commits an outcome, the erasure
close-out and the audit row together). A backend subclasses it
(``SqliteLedger``, ``PostgresLedger``); the roles it plays are the ports
in ``sync.ports``.
"""

from __future__ import annotations

from datetime import datetime

from sync.errors import (
    SchemaOutdated,
)
from sync.ledger.db import Lock, ts
from sync.ledger.inbox import InboxPart
from sync.ledger.operations import OperationsPart
from sync.ledger.schema import LATEST_VERSION, MIGRATIONS, SCHEMA_VERSION_TABLE
from sync.ledger.shared import SharedPart


class SqlLedger(OperationsPart, InboxPart, SharedPart):
    """The durable queue and memory of each subject, over a DB-API connection (all parts)."""

    def schema_version(self) -> int:
        """The schema version of the database (0 when it holds no ledger yet)."""
        with self._read() as cur:
            if not self._table_exists(cur, "schema_version"):
                return 0
            row = self._exec(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            return int(row[0] or 0)

    def upgrade(self, now: datetime) -> tuple[int, int]:
        """Apply every migration above the current version; returns (from, to)."""
        with self._tx(Lock.INTAKE, Lock.CLAIM, Lock.AUDIT) as cur:
            self._exec(cur, SCHEMA_VERSION_TABLE.format(**self.ddl_types))
            row = self._exec(cur, "SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            for version in sorted(v for v in MIGRATIONS if v > current):
                for statement in MIGRATIONS[version]:
                    self._exec(cur, statement.format(**self.ddl_types))
                self._exec(
                    cur,
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                    (version, ts(now)),
                )
        return current, max(current, LATEST_VERSION)

    def open(self, now: datetime) -> None:
        """Create a fresh ledger at the latest schema, or check an existing one.

        An existing ledger at an older version is not changed behind the
        operator's back: it raises ``SchemaOutdated`` until ``db upgrade``.
        """
        version = self.schema_version()
        if version == 0:
            self.upgrade(now)
        elif version < LATEST_VERSION:
            raise SchemaOutdated(
                f"the ledger's schema is version {version}, this hubsync needs "
                f"{LATEST_VERSION}: run `hubsync db upgrade`"
            )
        elif version > LATEST_VERSION:
            raise SchemaOutdated(
                f"the ledger's schema is version {version}, newer than this hubsync "
                f"({LATEST_VERSION}): upgrade hubsync"
            )
