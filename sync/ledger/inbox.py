"""The HubSpot webhook inbox: batches stored before the 204, leased by workers, set aside."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sync.audit import CountAuditBuilder
from sync.ledger.audit_chain import AuditChainPart
from sync.ledger.db import INSERT_CHUNK, Cursor, chunks, dt, moment, ts
from sync.model import (
    SetAsideItem,
    SetAsideRow,
    SignatureStreak,
)

WEBHOOK_STREAK = "webhook"
STREAK_COLUMNS = "refusals, first_at, last_at, last_reason, threshold"


class InboxPart(AuditChainPart):
    """Webhook events as received: stored, leased, finished, failed, set aside, skipped.

    An operator's replay or skip appends its audit row in the transaction
    that changes the rows, so neither is ever seen without the other.
    """

    def store_webhooks(
        self,
        items: Sequence[tuple[str, dict[str, Any]]],
        now: datetime,
        ttl: timedelta,
        set_aside: Sequence[SetAsideItem] = (),
    ) -> list[bool]:
        """Store a webhook batch as received, in one transaction; True for each new key.

        ``items`` are (receipt key, event) pairs, stored ``pending``;
        ``set_aside`` are the batch's malformed items, stored ``failed`` with
        their problem for an operator (``hubsync inbox status``). The answer
        lists ``items`` then ``set_aside``. A key already in the inbox (a
        redelivery, or a second copy in the same batch) answers False and
        changes nothing. ``ttl`` is how long a processed key is remembered.
        The batch was signed, so it also ends a streak of refused signatures.
        """
        now_s, expires_s = ts(now), ts(now + ttl)
        rows: list[tuple[str, str, str, str | None]] = [
            (key, json.dumps(payload), "pending", None) for key, payload in items
        ]
        rows += [(s.receipt_key, json.dumps(s.item), "failed", s.problem) for s in set_aside]
        stored: set[str] = set()
        with self._tx() as cur:
            for chunk in chunks(rows, INSERT_CHUNK):
                params = [
                    v
                    for key, payload, state, problem in chunk
                    for v in (key, now_s, expires_s, payload, state, problem)
                ]
                values = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
                found = self._exec(
                    cur,
                    "INSERT INTO hubspot_inbox (receipt_key, received_at, expires_at, payload, "
                    f"state, problem) VALUES {values} ON CONFLICT (receipt_key) DO NOTHING "
                    "RETURNING receipt_key",
                    params,
                ).fetchall()
                stored.update(r[0] for r in found)
            self._end_streak(cur)
        fresh: list[bool] = []
        for key, *_ in rows:
            fresh.append(key in stored)
            stored.discard(key)  # a second copy in the same batch is a redelivery
        return fresh

    def _end_streak(self, cur: Cursor) -> None:
        """A good signature: refusals in a row back to 0 (no write when there were none)."""
        self._exec(
            cur,
            "UPDATE signature_streaks SET refusals = 0, first_at = NULL "
            "WHERE name = ? AND refusals > 0",
            (WEBHOOK_STREAK,),
        )

    def record_signature_refusal(
        self, reason: str, now: datetime, threshold: int
    ) -> SignatureStreak:
        """One more webhook refused for its signature, in one upsert; the streak now.

        Every server adds to the same row, so the streak is the ledger's,
        not one process's. ``reason`` is a refusal code, never a value.
        """
        with self._tx() as cur:
            row = self._exec(
                cur,
                f"INSERT INTO signature_streaks (name, {STREAK_COLUMNS}) "
                "VALUES (?, 1, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "refusals = signature_streaks.refusals + 1, "
                "first_at = COALESCE(signature_streaks.first_at, excluded.first_at), "
                "last_at = excluded.last_at, last_reason = excluded.last_reason, "
                f"threshold = excluded.threshold RETURNING {STREAK_COLUMNS}",
                (WEBHOOK_STREAK, ts(now), ts(now), reason, threshold),
            ).fetchone()
        return _streak(row)

    def signature_streak(self) -> SignatureStreak:
        """Webhook signatures refused in a row (0 refusals when none)."""
        with self._read() as cur:
            row = self._exec(
                cur,
                f"SELECT {STREAK_COLUMNS} FROM signature_streaks WHERE name = ?",
                (WEBHOOK_STREAK,),
            ).fetchone()
        return _streak(row) if row else SignatureStreak()

    def set_aside_webhooks(self, limit: int = 100) -> list[SetAsideRow]:
        """Failed inbox rows, oldest first: key, when received, and why (no payload)."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT receipt_key, received_at, problem FROM hubspot_inbox "
                "WHERE state = 'failed' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [SetAsideRow(str(r[0]), moment(r[1]), r[2]) for r in rows]

    def skip_webhooks(self, keys: Sequence[str], now: datetime, audit: CountAuditBuilder) -> int:
        """Failed inbox rows given up by an operator: ``skipped``, payload scrubbed; audited.

        The audit row (built from how many were skipped) is appended in the
        same transaction.
        """
        return self._end_webhooks(
            keys, "state = 'skipped', payload = NULL", now, "failed", audit=audit
        )

    def claim_webhooks(
        self, owner: str, limit: int, now: datetime, lease: timedelta
    ) -> list[tuple[str, dict[str, Any]]]:
        """Lease up to ``limit`` pending webhook events, oldest first: (receipt key, event).

        A lease held by another worker is skipped until it expires, so a
        crashed worker's events come back and two workers never hold one.
        """
        now_s = ts(now)
        with self._tx() as cur:
            rows = self._exec(
                cur,
                "SELECT seq FROM hubspot_inbox WHERE state = 'pending' "
                "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY seq LIMIT ?",
                (now_s, limit),
            ).fetchall()
            claimed = self._lease_rows(
                cur,
                "hubspot_inbox",
                rows,
                "lease_owner = ?, lease_until = ?",
                (owner, ts(now + lease)),
                "seq, receipt_key, payload",
                "state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)",
                (now_s,),
            )
        return [(r[1], json.loads(r[2])) for r in sorted(claimed)]

    def release_webhooks(self, owner: str, keys: Sequence[str]) -> int:
        """Give leased webhook events back (to be tried again at once by any worker)."""
        with self._tx() as cur:
            return self._update_keyed(
                cur,
                "lease_owner = NULL, lease_until = NULL",
                "state = 'pending' AND lease_owner = ?",
                (owner,),
                keys,
            )

    def fail_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Set webhook events aside as failed, payload kept, for an operator to replay."""
        return self._end_webhooks(keys, "state = 'failed'", now)

    def replay_webhooks(self, audit: CountAuditBuilder) -> int:
        """Every failed webhook event back to pending; returns how many; audited.

        The audit row (built from how many were replayed) is appended in the
        same transaction: a failing append leaves the rows failed.
        """
        with self._tx() as cur:
            self._exec(
                cur,
                "UPDATE hubspot_inbox SET state = 'pending', processed_at = NULL "
                "WHERE state = 'failed'",
            )
            replayed = max(cur.rowcount, 0)
            self._append_audit(cur, [audit(replayed)])
        return replayed

    def webhook_states(self) -> dict[str, int]:
        """Inbox rows by state (``pending``, ``failed``, ``done``)."""
        with self._read() as cur:
            rows = self._exec(
                cur, "SELECT state, COUNT(*) FROM hubspot_inbox GROUP BY state ORDER BY state"
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def finish_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Mark webhook events processed and scrub their payload; returns how many changed."""
        return self._end_webhooks(keys, "state = 'done', payload = NULL", now)

    def _end_webhooks(
        self,
        keys: Sequence[str],
        assignments: str,
        now: datetime,
        state: str = "pending",
        audit: CountAuditBuilder | None = None,
    ) -> int:
        """End the inbox rows in ``state`` named by ``keys`` with ``assignments``; audit it."""
        with self._tx() as cur:
            changed = self._update_keyed(
                cur,
                f"{assignments}, processed_at = ?, lease_owner = NULL, lease_until = NULL",
                "state = ?",
                (ts(now), state),
                keys,
            )
            if audit is not None:
                self._append_audit(cur, [audit(changed)])
        return changed

    def _update_keyed(
        self,
        cur: Cursor,
        assignments: str,
        condition: str,
        params: tuple[Any, ...],
        keys: Sequence[str],
    ) -> int:
        """``UPDATE hubspot_inbox SET assignments WHERE condition`` for the rows ``keys`` name.

        ``params`` fill the placeholders of ``assignments`` then ``condition``;
        500 keys a statement. Returns how many rows changed.
        """
        changed = 0
        for chunk in chunks(keys, 500):
            marks = ", ".join(["?"] * len(chunk))
            self._exec(
                cur,
                f"UPDATE hubspot_inbox SET {assignments} "
                f"WHERE {condition} AND receipt_key IN ({marks})",
                (*params, *chunk),
            )
            changed += max(cur.rowcount, 0)
        return changed

    def purge_receipts(self, now: datetime) -> int:
        """Forget expired echo marks and processed inbox rows; returns how many inbox rows.

        A processed inbox row is the receipt of its event (a redelivery is
        dropped while it lasts); pending and failed rows stay until handled.
        """
        with self._tx() as cur:
            self._exec(cur, "DELETE FROM echo_marks WHERE expires_at <= ?", (ts(now),))
            self._exec(
                cur,
                "DELETE FROM hubspot_inbox WHERE state IN ('done', 'skipped') AND expires_at <= ?",
                (ts(now),),
            )
            return max(cur.rowcount, 0)


def _streak(row: Any) -> SignatureStreak:
    """A ``signature_streaks`` row (``STREAK_COLUMNS``) as the model's value."""
    refusals, first_at, last_at, reason, threshold = row
    return SignatureStreak(int(refusals), dt(first_at), dt(last_at), reason, int(threshold))
