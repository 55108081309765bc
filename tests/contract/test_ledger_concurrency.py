"""Two worker processes share one ledger: every event is applied once, in order per subject.

5,000 events of 500 subjects (10 steps each, arriving shuffled so that
arrival order is not occurrence order) are claimed by two real processes
(``ledger_worker.py``) until none is left, on PostgreSQL and on SQLite (one
file). Each worker records every application in a shared effects store
whose AUTOINCREMENT key is a global order, before completing the event.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from sync.ledger.sql import SqlLedger
from sync.model import Direction, Envelope, EventId, EventKind, NewEvent, Origin, SubjectId
from tests.conftest import T0
from tests.contract.processes import finish, read_line, start_script, stop
from tests.contract.rawdb import Target

SUBJECTS = 500
STEPS = 10
WORKERS = 2
WORKER_TIMEOUT_S = 120.0


def workload(seed: int = 20261127) -> list[NewEvent]:
    """SUBJECTS x STEPS rectifications; step n of a subject occurs after step n-1.

    Steps of different subjects interleave in time, and the list is shuffled:
    the ledger must order by occurrence, not by arrival.
    """
    events: list[NewEvent] = []
    for subject in range(SUBJECTS):
        for step in range(STEPS):
            occurred = T0 - timedelta(days=1) + timedelta(seconds=step * 60 + subject * 0.1)
            envelope = Envelope(
                event_id=EventId(f"S{subject:03d}-{step}"),
                kind=EventKind.RECTIFICATION,
                subject_id=SubjectId(f"S{subject:03d}"),
                occurred_at=occurred,
                changes={"step": step},
            )
            events.append(NewEvent(envelope, Origin.REGISTER, Direction.TO_HUBSPOT))
    random.Random(seed).shuffle(events)
    return events


def make_effects_store(path: Path) -> None:
    """The shared store of applied effects: one row per application, in global order."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE effects (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, "
            "subject TEXT NOT NULL, step INTEGER NOT NULL, worker TEXT NOT NULL, "
            "previous_applied INTEGER NOT NULL)"
        )
    conn.close()


def read_effects(path: Path) -> list[tuple[int, int, str, int, str, int]]:
    """Every recorded application, in the global order."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT id, seq, subject, step, worker, previous_applied FROM effects ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


@dataclass(frozen=True, slots=True)
class WorkerSummary:
    """What a worker process reports when it finds nothing left."""

    owner: str
    claimed: list[int]
    batches: int


def run_workers(target: Target, effects: Path) -> list[WorkerSummary]:
    """Start the workers, release them together, and collect their summaries."""
    now = (T0 + timedelta(minutes=1)).isoformat()
    procs = [
        start_script(
            "ledger_worker.py",
            [
                *target.worker_args(),
                "--owner",
                f"worker-{n}",
                "--effects",
                str(effects),
                "--now",
                now,
            ],
        )
        for n in range(WORKERS)
    ]
    try:
        for proc in procs:
            assert read_line(proc, 30.0) == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        return [WorkerSummary(**json.loads(finish(proc, WORKER_TIMEOUT_S))) for proc in procs]
    finally:
        for proc in procs:
            stop(proc)


@pytest.mark.slow
def test_two_worker_processes_apply_every_event_exactly_once_in_occurrence_order(
    target: Target, target_ledger: SqlLedger, tmp_path: Path
) -> None:
    ledger = target_ledger
    events = workload()
    for start in range(0, len(events), 100):
        ledger.submit(events[start : start + 100], T0)
    effects = tmp_path / "effects.db"
    make_effects_store(effects)

    started = time.monotonic()
    summaries = run_workers(target, effects)
    elapsed = time.monotonic() - started

    stored = ledger.list_events(limit=None)
    all_seqs = {e.seq for e in stored}
    assert len(all_seqs) == SUBJECTS * STEPS

    # Every event done, claimed once: one attempt, no lease left.
    assert Counter(e.state.value for e in stored) == {"done": SUBJECTS * STEPS}
    assert {e.attempts for e in stored} == {1}
    assert {e.lease_owner for e in stored} == {None}

    # Held by exactly one worker; both workers did work.
    assert all(summary.claimed for summary in summaries), [len(s.claimed) for s in summaries]
    flat = [seq for summary in summaries for seq in summary.claimed]
    assert len(flat) == len(set(flat)) == len(all_seqs)
    assert set(flat) == all_seqs

    # Applied exactly once, by the worker that held it, each after its predecessor.
    applied = read_effects(effects)
    assert len(applied) == len(all_seqs)
    assert Counter(row[1] for row in applied) == Counter(dict.fromkeys(all_seqs, 1))
    holder = {seq: summary.owner for summary in summaries for seq in summary.claimed}
    assert all(holder[seq] == worker for _, seq, _, _, worker, _ in applied)
    assert [row for row in applied if not row[5]] == []

    # Per subject, the application order (global AUTOINCREMENT) is the occurrence order.
    by_occurrence: dict[str, list[int]] = defaultdict(list)
    for ev in sorted(stored, key=lambda e: e.occurred_at):
        by_occurrence[ev.subject_id].append(ev.seq)
    by_application: dict[str, list[int]] = defaultdict(list)
    for _, seq, subject, _, _, _ in applied:
        by_application[subject].append(seq)
    assert by_application == by_occurrence
    # Arrival really differed from occurrence, or the ordering proved little.
    assert any(seqs != sorted(seqs) for seqs in by_occurrence.values())

    print(
        f"\n{target.backend}: {len(all_seqs)} events by {WORKERS} processes in {elapsed:.1f}s; "
        f"per worker {[len(s.claimed) for s in summaries]} events, "
        f"{[s.batches for s in summaries]} claims"
    )
