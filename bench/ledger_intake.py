"""Ledger intake: events per second durably stored, submitted in batches of 100.

Scenarios ``ledger_intake_sqlite`` and ``ledger_intake_postgres``. Each
batch is one ``SqlLedger.submit`` call, i.e. one committed transaction
(SQLite: WAL with ``synchronous = FULL``; PostgreSQL: ``synchronous_commit``
as the server has it), so every counted event was durable when its call
returned. Only the ``submit`` calls are timed; building the envelopes (the
intake server's work) is not.

The events are register rectifications (email plus two to four changed
fields) over 5,000 subjects drawn at random, so batches mix subjects.

Ceiling: the ledger makes no HubSpot calls, so HubSpot's rate limit does not
apply; ``ceiling_per_s`` is issue 2's goal (10,000 events/s on the reference
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

DESCRIPTION = "Ledger intake throughput, batches of 100 events."
BATCH = 100
SUBJECTS = 5_000
# PostgreSQL pays a client-server round trip per statement, so its default is
# smaller to keep the whole `make bench` run short.
DEFAULT_EVENTS = {"sqlite": 20_000, "postgres": 10_000}


def intake(backend: str, count: int, postgres_url: str) -> Result:
    """Submit ``count`` events in batches of ``BATCH``; time the submits."""
    events = rectifications(count, SUBJECTS, prefix=f"intake-{backend}")
    watch = Stopwatch()
    stored = 0
    with fresh_ledger(backend, postgres_url) as ledger:
        note(f"ledger_intake_{backend}: submitting {count:,} events in batches of {BATCH}")
        for i, batch in enumerate(batches(events, BATCH)):
            now = T0 + timedelta(seconds=i)
            with watch:
                results = ledger.submit(batch, now)
            stored += sum(1 for r in results if not r.duplicate)
    if stored != count:
        raise SystemExit(f"ledger_intake_{backend}: stored {stored} of {count} events")
    return Result(f"ledger_intake_{backend}", stored, watch.seconds, LEDGER_GOALS_PER_S["intake"])


if __name__ == "__main__":
    args = parser(DESCRIPTION, DEFAULT_EVENTS).parse_args()
    sys.exit(run_scenarios(args, intake, DEFAULT_EVENTS))
