"""Ledger claim+complete: events per second a worker claims and marks done, 100 at a time.

Scenarios ``ledger_claim_complete_sqlite`` and ``ledger_claim_complete_postgres``.
The ledger is first loaded (untimed) with N register rectifications over
N/10 subjects (default 10,000 over 1,000), then one worker loops
``claim(owner, 100, now, lease)`` + ``complete(owner, seqs, now)`` until a
claim comes back empty. The loop is timed; throughput is events completed
per second. The per-subject rules (one in flight, occurrence order) hold
throughout, so a subject's ten events take ten rounds.

Ceiling: the ledger makes no HubSpot calls, so HubSpot's rate limit does not
apply; ``ceiling_per_s`` is issue 2's goal (5,000 events/s on the reference
2-core machine, the same figure for both backends) and ``ratio`` is
throughput / goal. ``http_429`` is always 0.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from report import (
    LEDGER_GOALS_PER_S,
    T0,
    Result,
    Stopwatch,
    batches,
    fresh_ledger,
    note,
    parser,
    rectifications,
    run_scenarios,
)

from sync.model import EventState, Outcome

DESCRIPTION = "Ledger claim+complete throughput, 100 events per claim."
BATCH = 100
EVENTS_PER_SUBJECT = 10
LEASE = timedelta(minutes=5)
OWNER = "bench-worker-1"
DEFAULT_EVENTS = {"sqlite": 10_000, "postgres": 10_000}


def claim_complete(backend: str, count: int, postgres_url: str) -> Result:
    """Load ``count`` events, then claim and complete them all; time the loop."""
    subjects = max(1, count // EVENTS_PER_SUBJECT)
    events = rectifications(count, subjects, prefix=f"claim-{backend}")
    claim_watch, complete_watch = Stopwatch(), Stopwatch()
    done = rounds = 0
    with fresh_ledger(backend, postgres_url) as ledger:
        note(
            f"ledger_claim_complete_{backend}: loading {count:,} events over {subjects:,} subjects"
        )
        for batch in batches(events, 1_000):
            ledger.submit(batch, T0)
        now = T0 + timedelta(minutes=1)  # every event is due; no lease expires during the run
        note(f"ledger_claim_complete_{backend}: claiming and completing {BATCH} at a time")
        while True:
            with claim_watch:
                claimed = ledger.claim(OWNER, BATCH, now, LEASE)
            if not claimed:
                break
            with complete_watch:
                outcomes = [Outcome(e.seq, EventState.DONE) for e in claimed]
                ledger.record(OWNER, outcomes, now, strict=True)
            done += len(claimed)
            rounds += 1
    if done != count:
        raise SystemExit(f"ledger_claim_complete_{backend}: completed {done} of {count} events")
    note(
        f"ledger_claim_complete_{backend}: {rounds} rounds; claim {claim_watch.seconds:.3f}s, "
        f"complete {complete_watch.seconds:.3f}s"
    )
    return Result(
        f"ledger_claim_complete_{backend}",
        done,
        claim_watch.seconds + complete_watch.seconds,
        LEDGER_GOALS_PER_S["claim_complete"],
    )


if __name__ == "__main__":
    args = parser(DESCRIPTION, DEFAULT_EVENTS).parse_args()
    sys.exit(run_scenarios(args, claim_complete, DEFAULT_EVENTS))
