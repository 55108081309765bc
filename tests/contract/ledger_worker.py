"""A worker process for the ledger concurrency test (run by ``test_ledger_concurrency``).

It claims events until none is left, and for each event it holds records
the "application" in a shared effects store (a SQLite file whose
AUTOINCREMENT key gives one global order across processes), in its own
transaction before ``complete``. While recording, it checks that the
subject's previous step was already applied. At the end it prints one JSON
line: the owner, the seqs it claimed and how many claims returned work.

Protocol with the parent: print ``ready`` once the ledger is open, then wait
for one line on stdin before the first claim, so both workers start together.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import datetime, timedelta

from sync.ledger import open_ledger
from sync.ledger.sql import SqlLedger
from sync.model import StoredEvent
from tests.contract.ledger_helpers import complete

IDLE_POLL_S = 0.005  # another worker holds the only ready events; look again soon


def record_effect(effects: sqlite3.Connection, owner: str, event: StoredEvent) -> None:
    """Apply one event to the effects store, noting whether its predecessor was applied."""
    step = int(event.envelope().changes["step"])
    effects.execute("BEGIN IMMEDIATE")
    try:
        previous = effects.execute(
            "SELECT COUNT(*) FROM effects WHERE subject = ? AND step = ?",
            (event.subject_id, step - 1),
        ).fetchone()[0]
        effects.execute(
            "INSERT INTO effects (seq, subject, step, worker, previous_applied) "
            "VALUES (?, ?, ?, ?, ?)",
            (event.seq, event.subject_id, step, owner, int(step == 0 or previous == 1)),
        )
    except BaseException:
        effects.execute("ROLLBACK")
        raise
    effects.execute("COMMIT")


def work_left(ledger: SqlLedger, now: datetime) -> bool:
    """Whether any event is still pending or held by someone."""
    by_state = ledger.status(now).by_state
    return by_state["pending"] + by_state["in_progress"] > 0


def run(args: argparse.Namespace) -> dict[str, object]:
    """Claim, apply and complete until the ledger has nothing left."""
    now = datetime.fromisoformat(args.now)
    lease = timedelta(seconds=args.lease_s)
    ledger = open_ledger(args.url, schema=args.schema or None)
    ledger.open(now)
    effects = sqlite3.connect(args.effects, isolation_level=None, timeout=60)
    effects.execute("PRAGMA synchronous = NORMAL")
    print("ready", flush=True)
    sys.stdin.readline()

    claimed: list[int] = []
    batches = 0
    while True:
        batch = ledger.claim(args.owner, args.batch, now, lease)
        if not batch:
            if not work_left(ledger, now):
                break
            time.sleep(IDLE_POLL_S)
            continue
        batches += 1
        for event in batch:
            claimed.append(event.seq)
            record_effect(effects, args.owner, event)
        complete(ledger, args.owner, [e.seq for e in batch], now)
    effects.close()
    ledger.close()
    return {"owner": args.owner, "claimed": claimed, "batches": batches}


def main() -> None:
    """Parse arguments, work, print the summary line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", default="")
    parser.add_argument("--owner", required=True)
    parser.add_argument("--effects", required=True)
    parser.add_argument("--now", required=True)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lease-s", type=float, default=3600.0)
    print(json.dumps(run(parser.parse_args())), flush=True)


if __name__ == "__main__":
    main()
