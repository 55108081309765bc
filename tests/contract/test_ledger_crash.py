"""A worker killed with SIGKILL while holding leases loses nothing.

A real process (``ledger_lease_holder.py``) claims a batch and is killed.
Until its lease runs out nobody else gets those events (nor later events of
their subjects); once it has, another owner claims every one of them back,
and the whole backlog still drains to ``done``, in order per subject. Time
is passed in, so "after the lease" needs no sleeping.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import timedelta

import pytest

from sync.ledger.sql import SqlLedger
from sync.model import (
    Direction,
    Envelope,
    EventId,
    EventKind,
    EventState,
    NewEvent,
    Origin,
    SubjectId,
)
from tests.conftest import T0
from tests.contract.ledger_helpers import complete, get
from tests.contract.processes import read_line, start_script, stop
from tests.contract.rawdb import Target

SUBJECTS = 60
STEPS = 3
LEASE = timedelta(minutes=5)
CLAIMED_AT = T0 + timedelta(minutes=1)


def backlog() -> list[NewEvent]:
    """STEPS rectifications for each of SUBJECTS subjects."""
    return [
        NewEvent(
            Envelope(
                event_id=EventId(f"S{subject:02d}-{step}"),
                kind=EventKind.RECTIFICATION,
                subject_id=SubjectId(f"S{subject:02d}"),
                occurred_at=T0 - timedelta(hours=1) + timedelta(seconds=step),
                email=f"person{subject}@example.se",
                changes={"step": step},
            ),
            Origin.REGISTER,
            Direction.TO_HUBSPOT,
        )
        for step in range(STEPS)
        for subject in range(SUBJECTS)
    ]


def kill_holder(target: Target, *, die_in_transaction: bool) -> list[int]:
    """Run a holder until it has claimed (and maybe started a write), SIGKILL it; its seqs."""
    args = [
        *target.worker_args(),
        "--owner",
        "doomed-worker",
        "--now",
        CLAIMED_AT.isoformat(),
        "--lease-s",
        str(LEASE.total_seconds()),
    ]
    if die_in_transaction:
        args.append("--die-in-transaction")
    proc = start_script("ledger_lease_holder.py", args)
    try:
        seqs = json.loads(read_line(proc, 30.0))["seqs"]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop(proc)
    assert isinstance(seqs, list)
    return [int(seq) for seq in seqs]


def counts(ledger: SqlLedger) -> Counter[str]:
    """Events by state, without zeros."""
    return +Counter(ledger.status(CLAIMED_AT).by_state)


@pytest.mark.slow
@pytest.mark.parametrize("die_in_transaction", [False, True], ids=["idle", "mid_write"])
def test_events_of_a_killed_worker_come_back_after_the_lease_and_nothing_is_lost(
    target: Target, target_ledger: SqlLedger, die_in_transaction: bool
) -> None:
    ledger = target_ledger
    ledger.submit(backlog(), T0)
    total = SUBJECTS * STEPS

    held = kill_holder(target, die_in_transaction=die_in_transaction)

    # The dead worker held the first step of every subject; nothing was lost.
    assert len(held) == SUBJECTS
    assert {get(ledger, seq).event_id.endswith("-0") for seq in held} == {True}
    assert counts(ledger) == {"in_progress": SUBJECTS, "pending": total - SUBJECTS}
    assert {get(ledger, seq).lease_owner for seq in held} == {"doomed-worker"}

    # Before the lease runs out nobody gets them, nor later steps of their subjects.
    assert ledger.claim("rescuer", 1000, CLAIMED_AT + LEASE - timedelta(seconds=1), LEASE) == []

    # After it, another owner gets every one of them back, attempt counted.
    after = CLAIMED_AT + LEASE + timedelta(seconds=1)
    back = ledger.claim("rescuer", 1000, after, LEASE)
    assert sorted(e.seq for e in back) == sorted(held)
    assert {(e.lease_owner, e.attempts) for e in back} == {("rescuer", 2)}
    assert {e.last_error.code for e in back if e.last_error} == {"lease_expired"}
    assert all(e.payload is not None for e in back)
    assert counts(ledger) == {"in_progress": SUBJECTS, "pending": total - SUBJECTS}

    # And the backlog drains completely, step by step per subject.
    applied: list[str] = []
    now = after
    batch = back
    while batch:
        applied.extend(e.event_id for e in batch)
        complete(ledger, "rescuer", [e.seq for e in batch], now)
        now += timedelta(seconds=1)
        batch = ledger.claim("rescuer", 1000, now, LEASE)
    assert counts(ledger) == {"done": total}
    assert sorted(applied) == sorted(f"S{s:02d}-{n}" for s in range(SUBJECTS) for n in range(STEPS))
    for subject in range(SUBJECTS):
        steps = [a for a in applied if a.startswith(f"S{subject:02d}-")]
        assert steps == [f"S{subject:02d}-{n}" for n in range(STEPS)]
    assert {e.state for e in ledger.list_events(limit=None)} == {EventState.DONE}
