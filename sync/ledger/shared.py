"""State every worker shares: echo marks, counters, the rate budgets and periodic turns.

The rate budgets are token buckets (``take_tokens``: HubSpot's daily limit,
search's per-second one) and HubSpot's rolling 10-second window
(``admit_call``: one ``rate_calls`` row per call admitted). A block HubSpot
reported (``correct_bucket``'s ``blocked_until``) is kept in ``rate_buckets``
under the budget's name, for a bucket and a window alike.

And whether the HubSpot link is down (``mark_hubspot_link_down``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sync.ledger.db import INSERT_CHUNK, Cursor, Lock, SqlBase, chunks, moment, ts
from sync.model import (
    RateBucket,
    SubjectId,
    SubjectWalk,
)
from sync.rules.link import PROBE_TURN, LinkState
from sync.rules.rate_window import Admission, RollingWindow

LINK = "hubspot"
"""The ``hubspot_link`` row, present while the link is down (one link per ledger)."""
LINK_PROBE = PROBE_TURN
"""The ``turns`` row of the link's probes: one worker probes per interval."""


class SharedPart(SqlBase):
    """Echo marks of hubsync's own writes, shared counters, rate buckets and periodic turns."""

    def take_turn(self, name: str, every: timedelta, now: datetime) -> bool:
        """Whether this caller has the turn ``name`` now: none was taken in the last ``every``.

        One statement: of several workers asking at once, exactly one gets
        True and records ``now``; the others get False until ``every`` has
        passed since.
        """
        with self._tx() as cur:
            taken = self._exec(
                cur,
                "INSERT INTO turns (name, taken_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET taken_at = excluded.taken_at "
                "WHERE turns.taken_at <= ? RETURNING name",
                (name, ts(now), ts(now - every)),
            ).fetchall()
        return bool(taken)

    def remember_writes(
        self, marks: Sequence[tuple[str, str, str]], now: datetime, ttl: timedelta
    ) -> None:
        """Record (contact id, property, value digest) that hubsync just wrote to HubSpot."""
        if not marks:
            return
        expires_s = ts(now + ttl)
        with self._tx() as cur:
            for chunk in chunks(marks, INSERT_CHUNK):
                values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
                params = [v for mark in chunk for v in (*mark, expires_s)]
                self._exec(
                    cur,
                    f"INSERT INTO echo_marks (contact_id, property, value_digest, expires_at) "
                    f"VALUES {values} ON CONFLICT (contact_id, property, value_digest) "
                    f"DO UPDATE SET expires_at = excluded.expires_at",
                    params,
                )

    def written_recently(
        self, marks: Sequence[tuple[str, str, str]], now: datetime
    ) -> set[tuple[str, str, str]]:
        """Which of these (contact id, property, value digest) hubsync wrote, in one read."""
        wanted = set(marks)
        found: set[tuple[str, str, str]] = set()
        with self._read() as cur:
            for chunk in chunks(sorted({c for c, _, _ in wanted}), 500):
                in_marks = ", ".join("?" for _ in chunk)
                rows = self._exec(
                    cur,
                    "SELECT contact_id, property, value_digest FROM echo_marks "
                    f"WHERE contact_id IN ({in_marks}) AND expires_at > ?",
                    (*chunk, ts(now)),
                ).fetchall()
                found.update(m for r in rows if (m := (r[0], r[1], r[2])) in wanted)
        return found

    def add_counts(self, counts: dict[str, int], now: datetime) -> None:
        """Add to named counters shared by every process (429s, blocked resurrections...)."""
        counts = {name: n for name, n in counts.items() if n}
        if not counts:
            return
        with self._tx() as cur:
            for name, n in sorted(counts.items()):
                self._exec(
                    cur,
                    "INSERT INTO counters (name, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value, "
                    "updated_at = excluded.updated_at",
                    (name, n, ts(now)),
                )

    def set_counts(self, values: dict[str, int], now: datetime) -> None:
        """Set named shared values (a position, an estimate): the last writer's stand."""
        with self._tx() as cur:
            for name, value in sorted(values.items()):
                self._set_count(cur, name, value, now)

    def _set_count(self, cur: Cursor, name: str, value: int, now: datetime) -> None:
        self._exec(
            cur,
            "INSERT INTO counters (name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (name, value, ts(now)),
        )

    def walk_subjects(self, name: str, share: float, most: int, now: datetime) -> SubjectWalk:
        """The next ``share`` of all subjects (at most ``most``) of the walk ``name``.

        The walk moves on past them. Subjects are walked in ``subject_id``
        order by position, which the counter ``<name>_position`` keeps for
        every worker. Rows of erased
        subjects stay (they are never deleted) and count, so a position
        only moves forward: a subject added behind it is met next cycle, and
        none ahead of it is skipped. After the last subject it starts over.
        """
        counter = f"{name}_position"
        with self._tx() as cur:
            row = self._exec(
                cur, "SELECT value FROM counters WHERE name = ?", (counter,)
            ).fetchone()
            total = int(self._exec(cur, "SELECT COUNT(*) FROM subjects").fetchone()[0])
            start = int(row[0]) if row is not None and int(row[0]) < total else 0
            limit = min(most, math.ceil(total * share))
            rows = self._exec(
                cur,
                "SELECT subject_id, email, erasure FROM subjects "
                "ORDER BY subject_id LIMIT ? OFFSET ?",
                (max(0, limit), start),
            ).fetchall()
            position = start + len(rows)
            position = 0 if position >= total else position
            self._set_count(cur, counter, position, now)
        linked = tuple((SubjectId(r[0]), str(r[1])) for r in rows if r[1] and r[2] is None)
        return SubjectWalk(linked=linked, position=position, total=total)

    def counts(self) -> dict[str, int]:
        """Every counter's total."""
        with self._read() as cur:
            rows = self._exec(cur, "SELECT name, value FROM counters ORDER BY name").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def take_tokens(
        self, name: str, cost: float, capacity: float, refill_per_s: float, now: datetime
    ) -> float:
        """Take ``cost`` tokens from a shared bucket; returns 0 or the seconds to wait.

        The bucket refills continuously at ``refill_per_s`` up to ``capacity``;
        when it is blocked (after a 429, say) the wait runs to the block's end.
        Nothing is taken when the answer is a wait.
        """
        now_s = ts(now)
        with self._tx() as cur:
            row = self._exec(
                cur,
                "SELECT tokens, updated_at, blocked_until FROM rate_buckets WHERE name = ?",
                (name,),
            ).fetchone()
            tokens, updated, blocked = (capacity, now_s, 0.0) if row is None else row
            if blocked > now_s:
                return float(blocked - now_s)
            tokens = min(capacity, tokens + max(0.0, now_s - updated) * refill_per_s)
            if tokens < cost - 1e-6:  # float refill must not leave a wait of nanoseconds
                return (cost - tokens) / refill_per_s if refill_per_s > 0 else float("inf")
            self._upsert_bucket(cur, name, tokens - cost, now_s, 0.0)
        return 0.0

    def admit_call(self, name: str, window: RollingWindow, now: datetime) -> Admission:
        """Admit one call into the rolling window ``name``, or name the wait.

        Admitted, the call is recorded at ``now`` and counts for every worker
        until it leaves the window. A block HubSpot reported runs first. The
        count and the record are one step (PostgreSQL: an advisory lock;
        SQLite: its single writer), so workers asking at once never admit
        more than the window allows. Calls that left the window are pruned.
        """
        now_s = ts(now)
        with self._tx(Lock.RATE) as cur:
            row = self._exec(
                cur, "SELECT blocked_until FROM rate_buckets WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and float(row[0]) > now_s:
                return Admission(float(row[0]) - now_s, blocked=True)
            self._exec(
                cur,
                "DELETE FROM rate_calls WHERE name = ? AND at <= ?",
                (name, now_s - window.seconds),
            )
            calls = self._window_calls(cur, name)
            wait = window.wait(calls, now_s)
            if wait == 0:
                self._exec(cur, "INSERT INTO rate_calls (name, at) VALUES (?, ?)", (name, now_s))
        return Admission(wait)

    def block_window(self, name: str, window: RollingWindow, now: datetime) -> datetime:
        """HubSpot reports the window ``name`` exhausted: block it until a slot frees.

        That is when the oldest call in it leaves, or a whole window from
        ``now`` when it holds none (another client spent it); returns the moment.
        """
        with self._read() as cur:
            until = moment(window.frees_at(self._window_calls(cur, name), ts(now)))
        self.correct_bucket(name, now, blocked_until=until)
        return until

    def _window_calls(self, cur: Cursor, name: str) -> list[float]:
        rows = self._exec(cur, "SELECT at FROM rate_calls WHERE name = ?", (name,)).fetchall()
        return [float(r[0]) for r in rows]

    def correct_bucket(
        self,
        name: str,
        now: datetime,
        *,
        tokens: float | None = None,
        blocked_until: datetime | None = None,
    ) -> None:
        """Correct a bucket from what HubSpot reported (remaining calls, or a 429's reset)."""
        now_s = ts(now)
        with self._tx() as cur:
            row = self._exec(
                cur, "SELECT tokens, blocked_until FROM rate_buckets WHERE name = ?", (name,)
            ).fetchone()
            current_tokens, current_block = row if row is not None else (0.0, 0.0)
            self._upsert_bucket(
                cur,
                name,
                tokens if tokens is not None else current_tokens,
                now_s,
                max(current_block, ts(blocked_until)) if blocked_until else current_block,
            )

    def rate_bucket(self, name: str) -> RateBucket | None:
        """A bucket as last written (tokens not refilled to now); None before its first use."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT tokens, updated_at, blocked_until FROM rate_buckets WHERE name = ?",
                (name,),
            ).fetchone()
        if row is None:
            return None
        tokens, updated, blocked = row
        return RateBucket(
            name=name,
            tokens=float(tokens),
            updated_at=moment(float(updated)),
            blocked_until=moment(float(blocked)) if blocked else None,
        )

    def _upsert_bucket(
        self, cur: Cursor, name: str, tokens: float, now_s: float, blocked: float
    ) -> None:
        self._exec(
            cur,
            "INSERT INTO rate_buckets (name, tokens, updated_at, blocked_until) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, "
            "updated_at = excluded.updated_at, blocked_until = excluded.blocked_until",
            (name, tokens, now_s, blocked),
        )

    # -- the HubSpot link ----------------------------------------------------

    def mark_hubspot_link_down(self, state: LinkState) -> bool:
        """Record for every process that the HubSpot link is down; True when it was up.

        While it stays down the first ``since`` is kept (a new reason replaces
        the old one). Going down takes the probes' turn, so the first probe
        comes one interval later (``sync.rules.link``).
        """
        status = state.http_status
        scopes = ",".join(state.scopes)
        with self._tx() as cur:
            was_up = (
                self._exec(cur, "SELECT 1 FROM hubspot_link WHERE name = ?", (LINK,)).fetchone()
                is None
            )
            self._exec(
                cur,
                "INSERT INTO hubspot_link (name, reason, since, http_status, scopes) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "reason = excluded.reason, http_status = excluded.http_status, "
                "scopes = excluded.scopes, "
                "since = CASE WHEN hubspot_link.since < excluded.since "
                "THEN hubspot_link.since ELSE excluded.since END",
                (LINK, state.reason, ts(state.since), status, scopes),
            )
            if was_up:
                self._exec(
                    cur,
                    "INSERT INTO turns (name, taken_at) VALUES (?, ?) ON CONFLICT (name) "
                    "DO UPDATE SET taken_at = excluded.taken_at",
                    (LINK_PROBE, ts(state.since)),
                )
        return was_up

    def mark_hubspot_link_up(self) -> bool:
        """Record that the HubSpot link works again; True when it was down until now."""
        with self._tx() as cur:
            gone = self._exec(
                cur, "DELETE FROM hubspot_link WHERE name = ? RETURNING name", (LINK,)
            ).fetchall()
            self._exec(cur, "DELETE FROM turns WHERE name = ?", (LINK_PROBE,))
        return bool(gone)

    def hubspot_link(self) -> LinkState | None:
        """Why the HubSpot link is down and since when, or None while it is up."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT reason, since, http_status, scopes FROM hubspot_link WHERE name = ?",
                (LINK,),
            ).fetchone()
        if row is None:
            return None
        reason, since, status, scopes = row
        return LinkState(
            reason=str(reason),
            since=moment(float(since)),
            http_status=int(status) if status is not None else None,
            scopes=tuple(s for s in str(scopes).split(",") if s),
        )
