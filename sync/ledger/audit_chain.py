"""The audit log as a hash chain: append in the caller's transaction, read, verify."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sync.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditRow,
    VerifyResult,
    chain_hash,
    verify_chain,
)
from sync.ledger.db import INSERT_CHUNK, Cursor, SqlBase, chunks, moment, ts

AUDIT_COLUMNS = (
    "seq, at, actor, action, direction, system, subject_pseudonym, kind, event_id, outcome, "
    "field_names, data_categories, http_status, correlation_id, attempt, detail, prev_hash, "
    "row_hash"
)


AUDIT_MARKS = "(" + ", ".join(["?"] * 18) + ")"


def audit_row_of(row: Sequence[Any]) -> AuditRow:
    (seq, at, actor, action, direction, system, pseudonym, kind, event_id, outcome,
     field_names, categories, http_status, correlation_id, attempt, detail, prev_hash,
     row_hash) = row  # fmt: skip
    entry = AuditEntry(
        at=moment(at),
        actor=actor,
        action=action,
        direction=direction,
        system=system,
        subject_pseudonym=pseudonym,
        kind=kind,
        event_id=event_id,
        outcome=outcome,
        field_names=tuple(json.loads(field_names)),
        data_categories=tuple(json.loads(categories)),
        http_status=http_status,
        correlation_id=correlation_id,
        attempt=attempt,
        detail=detail,
    )
    return AuditRow(seq=int(seq), entry=entry, prev_hash=prev_hash, row_hash=row_hash)


def audit_params(row: AuditRow) -> tuple[Any, ...]:
    """An audit row's columns, in the order of ``AUDIT_COLUMNS``."""
    e = row.entry
    return (
        row.seq, ts(e.at), e.actor, e.action, e.direction, e.system, e.subject_pseudonym,
        e.kind, e.event_id, e.outcome, json.dumps(list(e.field_names)),
        json.dumps(list(e.data_categories)), e.http_status, e.correlation_id, e.attempt,
        e.detail, row.prev_hash, row.row_hash,
    )  # fmt: skip


class AuditChainPart(SqlBase):
    """Appends audit rows to one chain (``_append_audit`` inside any transaction) and checks it."""

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        """Append rows to the audit chain in one transaction."""
        with self._tx() as cur:
            return self._append_audit(cur, entries)

    def _append_audit(self, cur: Cursor, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        if not entries:
            return []
        self._lock_audit(cur)
        head = self._exec(cur, "SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
        seq, prev = (int(head[0]), head[1]) if head else (0, GENESIS_HASH)
        rows: list[AuditRow] = []
        # Hash the time as it will be read back (UTC): an aware time in another
        # zone would otherwise hash as "+01:00" and fail verification as changed.
        for entry in [replace(e, at=e.at.astimezone(UTC)) for e in entries]:
            seq += 1
            row_hash = chain_hash(prev, seq, entry)
            rows.append(AuditRow(seq, entry, prev, row_hash))
            prev = row_hash
        for chunk in chunks(rows, INSERT_CHUNK):
            values = ", ".join([AUDIT_MARKS] * len(chunk))
            params = [v for row in chunk for v in audit_params(row)]
            self._exec(cur, f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {values}", params)
        self._exec(
            cur,
            "INSERT INTO audit_head (id, seq, row_hash) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, row_hash = excluded.row_hash",
            (seq, prev),
        )
        return rows

    def _lock_audit(self, cur: Cursor) -> None:
        """Serialise appends to the chain (a no-op where the transaction already does)."""

    def audit_rows(self, since: datetime | None = None) -> Iterator[AuditRow]:
        """Audit rows in order, from ``since`` on."""
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit_log"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE at >= ?"
            params.append(ts(since))
        with self._read() as cur:
            rows = self._exec(cur, sql + " ORDER BY seq", params).fetchall()
        for row in rows:
            yield audit_row_of(row)

    def verify_audit(self) -> VerifyResult:
        """Check the whole chain; names the first row that does not hold."""
        with self._read() as cur:
            rows = [
                audit_row_of(r)
                for r in self._exec(
                    cur, f"SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"
                ).fetchall()
            ]
            head = self._exec(cur, "SELECT seq, row_hash FROM audit_head WHERE id = 1").fetchone()
        return verify_chain(rows, (int(head[0]), head[1]) if head else None)
