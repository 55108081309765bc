"""Shared by the ledger benchmarks: the JSON result line, peak RSS, timing, backends, events.

Not a benchmark itself (it has no ``__main__`` block, so ``run_all.py`` does
not run it). Benchmark scripts import it as ``report`` because Python puts
the script's own directory (``bench/``) first on ``sys.path``.

Every benchmark ends with one JSON line per scenario on stdout (DESIGN.md
section 6); everything else they say goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger
from sync.model import Direction, Envelope, EventId, EventKind, NewEvent, Origin, SubjectId

BACKENDS = ("sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
"""The clock the benchmarks start from (fixed, so runs are comparable)."""

# The ledger makes no HubSpot calls, so HubSpot's rate limit (the ceiling
# DESIGN.md section 6 asks for) does not bound these scenarios. Their
# ``ceiling_per_s`` is instead the goal issue 2 sets for this 2-core machine,
# the same figure for both backends, so ``ratio`` >= 1 means "goal met".
LEDGER_GOALS_PER_S = {"intake": 10_000.0, "claim_complete": 5_000.0}


@dataclass(frozen=True, slots=True)
class Result:
    """One scenario's outcome, as the JSON line of DESIGN.md section 6."""

    scenario: str
    events: int
    seconds: float
    ceiling_per_s: float
    http_429: int = 0

    @property
    def throughput_per_s(self) -> float:
        """Events per second over the timed part."""
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        """The line's keys, in the documented order."""
        return {
            "scenario": self.scenario,
            "events": self.events,
            "seconds": round(self.seconds, 4),
            "throughput_per_s": round(self.throughput_per_s, 1),
            "ceiling_per_s": self.ceiling_per_s,
            "ratio": round(self.throughput_per_s / self.ceiling_per_s, 3),
            "http_429": self.http_429,
            "peak_rss_mb": peak_rss_mb(),
        }


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024, 1)


def emit(result: Result) -> None:
    """Print the scenario's JSON line on stdout, flushed so a parent sees it at once."""
    print(json.dumps(result.as_dict()), flush=True)


def note(message: str) -> None:
    """Progress and diagnostics: stderr, never stdout (stdout is for the JSON lines)."""
    print(message, file=sys.stderr, flush=True)


class Stopwatch:
    """Accumulates the time spent inside ``with watch:`` blocks only."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> Stopwatch:
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._started


# -- command line --------------------------------------------------------------


def parser(description: str, default_events: dict[str, int]) -> argparse.ArgumentParser:
    """The options every ledger benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="both",
        help="which ledger backend to measure (default: both, one JSON line each)",
    )
    p.add_argument(
        "--events",
        type=int,
        default=None,
        help="events per scenario (default: "
        + ", ".join(f"{b} {n:,}" for b, n in default_events.items())
        + ")",
    )
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("HUBSYNC_BENCH_POSTGRES_URL")
        or os.environ.get("HUBSYNC_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
        help="PostgreSQL server to use; a fresh schema is made in it and dropped afterwards",
    )
    p.add_argument(
        "--require-postgres",
        action="store_true",
        help="fail (exit 1) instead of skipping when PostgreSQL is unreachable",
    )
    return p


def selected_backends(choice: str) -> list[str]:
    """``both`` or one backend name, as a list."""
    return list(BACKENDS) if choice == "both" else [choice]


# -- backends ------------------------------------------------------------------


class PostgresUnavailable(Exception):
    """The benchmark's PostgreSQL server did not answer."""


@contextmanager
def fresh_ledger(backend: str, postgres_url: str) -> Iterator[SqlLedger]:
    """An opened, empty ledger; removed afterwards (temp dir, or dropped schema).

    SQLite lives in a temporary directory on the same file system as ``/tmp``
    (ext4 on the reference machine, so its fsyncs are real).
    """
    ledger: SqlLedger
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="hubsync-bench-") as tmp:
            ledger = SqliteLedger(Path(tmp) / "ledger.db")
            try:
                ledger.open(T0)
                yield ledger
            finally:
                ledger.close()
        return
    schema = f"hubsync_bench_{uuid.uuid4().hex[:12]}"
    try:
        psycopg.connect(postgres_url, connect_timeout=5).close()
    except psycopg.Error as exc:
        detail = " ".join(str(exc).split())  # psycopg's message spans lines
        raise PostgresUnavailable(f"{type(exc).__name__}: {detail}") from exc
    ledger = PostgresLedger(postgres_url, schema=schema)
    try:
        ledger.open(T0)
        yield ledger
    finally:
        ledger.close()
        with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_scenarios(
    args: argparse.Namespace,
    scenario: Callable[[str, int, str], Result],
    default_events: dict[str, int],
) -> int:
    """Run ``scenario(backend, events, postgres_url)`` per selected backend; the exit code.

    An unreachable PostgreSQL is reported on stderr and skipped (exit 0),
    unless ``--require-postgres`` was given (exit 1).
    """
    code = 0
    for backend in selected_backends(args.backend):
        events = args.events if args.events is not None else default_events[backend]
        try:
            emit(scenario(backend, events, args.postgres_url))
        except PostgresUnavailable as exc:
            verdict = "failing" if args.require_postgres else "skipping its scenario"
            note(f"PostgreSQL at {_redacted(args.postgres_url)} is unreachable ({exc}); {verdict}")
            if args.require_postgres:
                code = 1
    return code


def _redacted(url: str) -> str:
    """The URL without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


# -- realistic events --------------------------------------------------------------

_FIRST = ("Anna", "Erik", "Maja", "Lars", "Sofia", "Johan", "Elin", "Karl", "Ida", "Nils")
_LAST = ("Lindqvist", "Berg", "Holm", "Nyström", "Ek", "Sjöberg", "Dahl", "Wallin")
_CITIES = ("Uppsala", "Malmö", "Göteborg", "Umeå", "Lund", "Västerås")


def rectifications(
    count: int,
    subjects: int,
    *,
    seed: int = 42,
    start: datetime = T0,
    prefix: str = "bench",
) -> list[NewEvent]:
    """``count`` register rectifications over ``subjects`` subjects, in occurrence order.

    Each carries an email and two or three changed fields, as a register's
    rectification does; subjects are drawn at random (seeded), so a batch
    mixes subjects and a subject recurs across batches.
    """
    rng = random.Random(seed)
    events: list[NewEvent] = []
    for i in range(count):
        s = rng.randrange(subjects)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        changes: dict[str, object] = {"first_name": first, "last_name": last}
        if rng.random() < 0.5:
            changes["city"] = rng.choice(_CITIES)
        if rng.random() < 0.3:
            changes["phone"] = f"+46 70 {rng.randrange(1_000_000):06d}"
        envelope = Envelope(
            event_id=EventId(f"{prefix}-{i:08d}"),
            kind=EventKind.RECTIFICATION,
            subject_id=SubjectId(f"C-{s:06d}"),
            occurred_at=start + timedelta(milliseconds=i),
            email=f"{first.lower()}.{last.lower()}.{s}@example.se",
            changes=changes,
            reference=f"ticket-{rng.randrange(100_000)}",
        )
        events.append(NewEvent(envelope, Origin.REGISTER, Direction.TO_HUBSPOT))
    return events


def batches(items: Sequence[NewEvent], size: int) -> Iterator[Sequence[NewEvent]]:
    """Consecutive slices of ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
