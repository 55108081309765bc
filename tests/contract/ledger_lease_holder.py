"""A worker that claims a batch, says so, and waits to be killed (``test_ledger_crash``).

With ``--die-in-transaction`` it then also opens a write transaction that
marks every event done and holds the claim lock (SQLite: the database's
write lock; PostgreSQL: the claim advisory lock) without committing, so the
kill lands in the middle of a write: the change must vanish and the locks
must be released.

It prints exactly one JSON line, ``{"seqs": [...]}``, once everything is in
place, then sleeps until the parent kills it with SIGKILL.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta

from sync.ledger import open_ledger
from sync.ledger.db import Lock

SLEEP_S = 600.0  # far longer than any test waits: the parent kills the process first


def main() -> None:
    """Claim, report, optionally start an uncommitted write, and sleep."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", default="")
    parser.add_argument("--owner", required=True)
    parser.add_argument("--now", required=True)
    parser.add_argument("--lease-s", type=float, required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--die-in-transaction", action="store_true")
    args = parser.parse_args()

    now = datetime.fromisoformat(args.now)
    ledger = open_ledger(args.url, schema=args.schema or None)
    ledger.open(now)
    held = ledger.claim(args.owner, args.limit, now, timedelta(seconds=args.lease_s))
    report = json.dumps({"seqs": [event.seq for event in held]})
    if not args.die_in_transaction:
        print(report, flush=True)
        time.sleep(SLEEP_S)
        return
    # A private hook on purpose: this stands for a worker killed inside any write.
    with ledger._tx(Lock.CLAIM) as cur:
        cur.execute("UPDATE events SET state = 'done', lease_owner = NULL")
        print(report, flush=True)
        time.sleep(SLEEP_S)


if __name__ == "__main__":
    main()
