"""The memory of each subject: HubSpot ids, email, erasure state, and the suppression list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sync.ledger.db import Cursor, SqlBase, chunks, ts
from sync.model import (
    SubjectId,
    SubjectRecord,
)
from sync.rules import erasure


class SubjectsPart(SqlBase):
    """Subject map (register id <-> HubSpot ids), erasure close-out and suppressions."""

    def remember_subject(
        self,
        subject_id: str,
        now: datetime,
        *,
        email: str | None = None,
        contact_ids: Sequence[str] = (),
    ) -> None:
        """Record a subject's current email and HubSpot contact ids (adds, never removes).

        An erased subject stays forgotten: a late access request or a webhook
        naming it never puts an email or a contact id back.
        """
        now_s = ts(now)
        with self._tx() as cur:
            self._exec(
                cur,
                "INSERT INTO subjects (subject_id, email, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (subject_id) DO UPDATE SET "
                "email = CASE WHEN subjects.erasure = 'erased' THEN NULL "
                "ELSE COALESCE(excluded.email, subjects.email) END, "
                "updated_at = excluded.updated_at",
                (subject_id, email, now_s),
            )
            for contact_id in contact_ids:
                self._exec(
                    cur,
                    "INSERT INTO subject_contacts (subject_id, contact_id, linked_at) "
                    "SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM subjects "
                    "WHERE subject_id = ? AND erasure = 'erased') "
                    "ON CONFLICT (subject_id, contact_id) DO NOTHING",
                    (subject_id, contact_id, now_s, subject_id),
                )

    def subject(self, subject_id: str) -> SubjectRecord | None:
        """What the ledger knows of a subject, or None."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT subject_id, email, erasure FROM subjects WHERE subject_id = ?",
                (subject_id,),
            ).fetchone()
            contacts = self._exec(
                cur,
                "SELECT contact_id FROM subject_contacts WHERE subject_id = ? ORDER BY linked_at, "
                "contact_id",
                (subject_id,),
            ).fetchall()
        if row is None and not contacts:
            return None
        return SubjectRecord(
            subject_id=SubjectId(subject_id),
            email=row[1] if row else None,
            contact_ids=tuple(c[0] for c in contacts),
            erasure=row[2] if row else None,
        )

    def subjects_for_contact(self, contact_id: str) -> list[SubjectId]:
        """Register subjects mapped to a HubSpot contact id."""
        return self.subjects_for_contacts([contact_id]).get(contact_id, [])

    def subjects_for_contacts(self, contact_ids: Sequence[str]) -> dict[str, list[SubjectId]]:
        """Register subjects mapped to each contact id, in one read (unmapped ids left out)."""
        found: dict[str, list[SubjectId]] = {}
        with self._read() as cur:
            for chunk in chunks(sorted(set(contact_ids)), 500):
                marks = ", ".join("?" for _ in chunk)
                rows = self._exec(
                    cur,
                    "SELECT contact_id, subject_id FROM subject_contacts "
                    f"WHERE contact_id IN ({marks}) ORDER BY contact_id, subject_id",
                    chunk,
                ).fetchall()
                for contact_id, subject_id in rows:
                    found.setdefault(contact_id, []).append(SubjectId(subject_id))
        return found

    def rekey_contact(self, old_ids: Sequence[str], new_id: str, now: datetime) -> list[SubjectId]:
        """After a merge: every subject mapped to one of ``old_ids`` now maps to ``new_id``."""
        affected: set[SubjectId] = set()
        with self._tx() as cur:
            for old in old_ids:
                rows = self._exec(
                    cur, "SELECT subject_id FROM subject_contacts WHERE contact_id = ?", (old,)
                ).fetchall()
                for (subject_id,) in rows:
                    affected.add(SubjectId(subject_id))
                    self._exec(
                        cur,
                        "INSERT INTO subject_contacts (subject_id, contact_id, linked_at) "
                        "VALUES (?, ?, ?) ON CONFLICT (subject_id, contact_id) DO NOTHING",
                        (subject_id, new_id, ts(now)),
                    )
                if old != new_id:
                    self._exec(cur, "DELETE FROM subject_contacts WHERE contact_id = ?", (old,))
        return sorted(affected)

    def mark_erased(
        self, subject_id: str, suppress: Sequence[tuple[str, str]], now: datetime
    ) -> int:
        """Close an erasure: suppress the digests, forget email and ids, scrub every payload.

        ``suppress`` holds (kind, digest) pairs, kind ``email`` or ``contact``.
        Returns how many payloads were scrubbed.
        """
        with self._tx() as cur:
            return self._mark_erased(cur, subject_id, suppress, ts(now))

    def _mark_erased(
        self, cur: Cursor, subject_id: str, suppress: Sequence[tuple[str, str]], now_s: float
    ) -> int:
        self._suppress(cur, suppress, now_s)
        self._exec(
            cur,
            "INSERT INTO subjects (subject_id, erasure, erasure_at, updated_at) "
            "VALUES (?, 'erased', ?, ?) ON CONFLICT (subject_id) DO UPDATE SET "
            "email = NULL, erasure = 'erased', erasure_at = excluded.erasure_at, "
            "updated_at = excluded.updated_at",
            (subject_id, now_s, now_s),
        )
        self._exec(cur, "DELETE FROM subject_contacts WHERE subject_id = ?", (subject_id,))
        # Erasures and access requests still to run keep what they need; they
        # are scrubbed when they finish (see _scrub_if_erased).
        self._exec(
            cur,
            "UPDATE events SET payload = NULL, scrubbed_at = ? "
            "WHERE subject_id = ? AND payload IS NOT NULL "
            f"AND NOT ({erasure.KEEPS_PAYLOAD_SQL})",
            (now_s, subject_id),
        )
        return max(cur.rowcount, 0)

    def add_suppression(self, suppress: Sequence[tuple[str, str]], now: datetime) -> None:
        """Put (kind, digest) pairs on the suppression list (again, if lifted)."""
        with self._tx() as cur:
            self._suppress(cur, suppress, ts(now))

    def _suppress(self, cur: Cursor, suppress: Sequence[tuple[str, str]], now_s: float) -> None:
        for kind, digest in suppress:
            self._exec(
                cur,
                "INSERT INTO suppression (digest, kind, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT (digest) DO UPDATE SET lifted_at = NULL, lift_reason = NULL",
                (digest, kind, now_s),
            )

    def is_suppressed(self, digest: str) -> bool:
        """Whether a digest (of an erased email or contact id) is on the suppression list."""
        with self._read() as cur:
            row = self._exec(
                cur,
                "SELECT 1 FROM suppression WHERE digest = ? AND lifted_at IS NULL",
                (digest,),
            ).fetchone()
        return row is not None

    def lift_suppression(self, digest: str, reason: str, now: datetime) -> bool:
        """Lift a suppression (an operator's decision, with a reason). False if none was active."""
        with self._tx() as cur:
            self._exec(
                cur,
                "UPDATE suppression SET lifted_at = ?, lift_reason = ? "
                "WHERE digest = ? AND lifted_at IS NULL",
                (ts(now), reason, digest),
            )
            return cur.rowcount > 0

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """Subjects (not erased) whose known email is this address, compared case-insensitively."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT subject_id FROM subjects WHERE lower(email) = lower(?) "
                "AND erasure IS NULL ORDER BY subject_id",
                (email,),
            ).fetchall()
        return [SubjectId(r[0]) for r in rows]

    def active_subjects(self, since: datetime, limit: int) -> list[SubjectRecord]:
        """Subjects with an email and events received since ``since``, not erased."""
        with self._read() as cur:
            rows = self._exec(
                cur,
                "SELECT s.subject_id FROM subjects s WHERE s.email IS NOT NULL "
                "AND s.erasure IS NULL AND EXISTS (SELECT 1 FROM events e "
                "WHERE e.subject_id = s.subject_id AND e.received_at >= ?) "
                "ORDER BY s.subject_id LIMIT ?",
                (ts(since), limit),
            ).fetchall()
        records = (self.subject(r[0]) for r in rows)
        return [r for r in records if r is not None]
