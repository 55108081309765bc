"""Worker throughput against the HubSpot sandbox at HubSpot's real rate limits.

Scenarios ``worker_rectification_<backend>``, ``worker_opt_out_<backend>`` and
``worker_erasure_<backend>``, on SQLite by default (``--backend
postgres|both`` for PostgreSQL). Each runs against a fresh sandbox that
enforces a Free/Starter private app's limits (100 calls per rolling 10 s, the
default daily limit), with hubsync configured for the same 100 calls per 10 s
(its default), and a fresh ledger.

Untimed set-up: N contacts created in the sandbox (``form_submission``, as a
form would) and their subjects mapped in the ledger (``remember_subject``
with the contact id, so the worker needs no lookups); one warm-up event of
the scenario's kind run to the end (it makes the residency check's account
call and opens the HTTP connections); then N events submitted, one per
subject. Timed: ``worker.run_once()`` in a loop, sleeping ``IDLE_SLEEP_S``
when a round handles nothing (the budget defers rate-limited events), from
the first round to the end of the round that finished the last event.

Ceilings (what HubSpot's limit allows), with ``L`` = 100 calls per 10 s:

- rectification: one batch update carries 100 contacts, so
  ``L / 10 * 100`` = 1,000 events/s;
- opt-out: one v4 ``batch/unsubscribe-all`` carries 100 addresses: 1,000/s;
- erasure: one GDPR delete per contact (there is no batch purge) plus one
  batch read per worker round of ``B`` (= 100) events to verify them, so
  ``B`` events cost ``B + 1`` calls: ``L / 10 / (1 + 1 / B)`` = 9.9 events/s.

``http_429`` is the sandbox's ``rate_limited`` counter at the end (warm-up
included). The sandbox runs in a child process, as HubSpot is another
machine: its CPU does not compete with the worker for the GIL, and
``peak_rss_mb`` is the worker process's alone. After the run the sandbox's
state is checked (every contact rectified, every address unsubscribed from
all email, every contact deleted and its address blocklisted).

On stderr, per scenario: the API calls of the timed part from the sandbox's
request log (by path and status, the gap between calls), the least time
hubsync's own budget allows for that many calls (``budget_floor_s``), the
process's CPU time, the load average, and the worker's warnings by name
(structlog is kept at warning level and counted, not printed).

Options beyond the ledger benchmarks': ``--scenario`` (repeatable),
``--latency-ms`` (the sandbox delays every API call, as a distant HubSpot
would), ``--workers N`` (N workers, one thread each, sharing the ledger and
its budget, as several worker processes would), ``--profile N`` (cProfile of
the timed loop).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from report import (
    Result,
    fresh_ledger,
    note,
    parser,
    run_scenarios,
)

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import running_sandbox
from connectors.register.sql import SqlRegister
from sync import bootstrap, logs
from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger
from sync.model import Direction, Envelope, EventId, EventKind, NewEvent, Origin, SubjectId
from sync.rules.rate_window import DEFAULT_MARGIN, WINDOW_S, RollingWindow
from sync.settings import load_settings
from sync.worker import Worker

DESCRIPTION = "Worker throughput against the HubSpot sandbox at a Free/Starter app's limits."
SCENARIOS = ("rectification", "opt_out", "erasure")
KINDS = {
    "rectification": EventKind.RECTIFICATION,
    "opt_out": EventKind.MARKETING_OPT_OUT,
    "erasure": EventKind.ERASURE,
}
DEFAULT_EVENTS = {"rectification": 20_000, "opt_out": 20_000, "erasure": 300}
"""About 20-35 s of timed work each at HubSpot's limit (``make bench`` stays well under 5 min).

Long enough that the first window's burst (98 calls at once, where a steady pace
spreads them over 10 s) is a small part of the run: the shorter the run, the more
the burst lifts ``ratio`` (see ``budget_floor_s``).
"""

RATE_LIMIT_PER_10S = 100  # HubSpot's Free/Starter private app limit; hubsync's default too
BATCH = 100  # the worker's batch size (its default) and HubSpot's batch limit
IDLE_SLEEP_S = 0.005
SETUP_BATCH = 1_000
TOKEN = "pat-eu1-bench-token"  # the sandbox's, not a secret
PSEUDONYM_KEY = "bench-pseudonym-key-0123456789"
TIMEOUT_S = 240.0
"""A scenario still unfinished after this long fails (run_all's budget is 300 s)."""


def ceiling_per_s(scenario: str, per_10s: int = RATE_LIMIT_PER_10S, batch: int = BATCH) -> float:
    """Events per second HubSpot's limit allows for a scenario (see the module docstring)."""
    calls_per_s = per_10s / 10
    if scenario == "erasure":
        # One GDPR delete per event, plus one batch read per round of `batch` events.
        return round(calls_per_s / (1 + 1 / batch), 3)
    # One batch call (update, or unsubscribe-all) per `batch` events.
    return calls_per_s * batch


def budget_floor_s(calls: int, per_10s: int = RATE_LIMIT_PER_10S) -> float:
    """The least time hubsync's own budget lets ``calls`` calls take, starting empty.

    ``connectors.hubspot.ratelimit.RateBudget`` spends HubSpot's rolling window
    exactly: ``per_10s`` less the safety margin (2 by default) go at once, and as
    many again each time 10 s have passed since them.
    """
    allowed = RollingWindow(limit=per_10s, margin=DEFAULT_MARGIN).allowed
    return ((calls - 1) // allowed) * WINDOW_S if calls > 0 else 0.0


class LogTally(io.StringIO):
    """Where the worker's structlog lines go: counted by event name; errors echoed on stderr.

    The worker logs each event it defers (``event_rate_limited``) at warning
    level; a deferred round of 100 would flood the bench's output, so
    warnings are summed per scenario instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def isatty(self) -> bool:
        """Never a terminal (so ``sync.logs`` renders JSON)."""
        return False

    def write(self, text: str) -> int:
        """Count each line by its ``event``; pass errors through to stderr."""
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                record = {"event": line[:60], "level": "warning"}
            if record.get("level") in ("error", "critical"):
                sys.stderr.write(line + "\n")
            with self._lock:
                self._counts[str(record.get("event"))] += 1
        return len(text)

    def take(self) -> dict[str, int]:
        """The counts since the last call, and start again."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


WORKER_LOG = LogTally()


# -- the sandbox, in its own process --------------------------------------------


def _serve(config: SandboxConfig, conn: Connection) -> None:
    """Child process: run the sandbox, send its base URL, serve until told to stop."""
    logs.configure("warning", "json")
    with running_sandbox(config) as running:
        conn.send(running.base_url)
        with suppress(EOFError):  # EOF: the parent went away
            conn.recv()


@contextmanager
def sandbox_process(config: SandboxConfig) -> Iterator[str]:
    """A sandbox serving in a child process; yields its base URL."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(config, child), name="sandbox", daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise SystemExit("worker_throughput: the sandbox did not start within 30 s")
        yield str(parent.recv())
    finally:
        with suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()


class SandboxControl:
    """The sandbox's ``/_sandbox`` control API over one keep-alive session."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session = requests.Session()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One control call; raises on an error status."""
        response = self._session.request(method, self.base_url + path, json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def contact(self, email: str, first: str, last: str) -> str:
        """Create a contact as a form submission would; its id."""
        answer = self.call(
            "POST",
            "/_sandbox/actions/form_submission",
            {"email": email, "properties": {"firstname": first, "lastname": last}},
        )
        return str(answer["contact_id"])

    def state(self) -> dict[str, Any]:
        """``/_sandbox/state``: contacts, blocklist, subscriptions, counters."""
        return dict(self.call("GET", "/_sandbox/state"))

    def requests(self) -> list[dict[str, Any]]:
        """The API calls the sandbox kept in its log, oldest first."""
        return list(self.call("GET", "/_sandbox/requests")["requests"])

    def close(self) -> None:
        """Close the session."""
        self._session.close()


# -- the events ------------------------------------------------------------------

_FIRST = ("Anna", "Erik", "Maja", "Lars", "Sofia", "Johan", "Elin", "Karl", "Ida", "Nils")
_LAST = ("Lindqvist", "Berg", "Holm", "Nystrom", "Ek", "Sjoberg", "Dahl", "Wallin")


@dataclass(frozen=True, slots=True)
class Person:
    """One data subject of the bench, with the HubSpot contact that stands for them."""

    subject_id: str
    email: str
    first: str
    last: str
    phone: str


def people(count: int, prefix: str) -> list[Person]:
    """``count`` distinct subjects with distinct addresses."""
    return [
        Person(
            f"{prefix}-{i:06d}",
            f"{prefix}.{i}@example.se",
            _FIRST[i % len(_FIRST)],
            _LAST[(i // len(_FIRST)) % len(_LAST)],
            f"+46 70 {(i * 7919) % 10**6:06d}",
        )
        for i in range(count)
    ]


def event_for(kind: EventKind, person: Person, event_id: str, at: datetime) -> NewEvent:
    """A register event of ``kind`` for one subject, as the register would send it."""
    changes: dict[str, object] = {}
    if kind is EventKind.RECTIFICATION:
        # A new surname and phone number: two mapped fields, both sent to HubSpot.
        changes = {"last_name": person.last + "-Holm", "phone": person.phone}
    envelope = Envelope(
        event_id=EventId(event_id),
        kind=kind,
        subject_id=SubjectId(person.subject_id),
        occurred_at=at,
        email=person.email,
        changes=changes,
        reference=f"ticket-{event_id}",
    )
    return NewEvent(envelope, Origin.REGISTER, Direction.TO_HUBSPOT)


# -- one scenario ------------------------------------------------------------------


def ledger_settings(ledger: SqlLedger) -> dict[str, Any]:
    """The ``[ledger]`` section naming the same database as ``ledger``."""
    if isinstance(ledger, SqliteLedger):
        return {"url": f"sqlite:///{ledger.path}"}
    assert isinstance(ledger, PostgresLedger)
    return {"url": ledger.url, "schema": ledger.schema}


def build(base_url: str, ledger: SqlLedger) -> Worker:
    """hubsync's worker on the bench's ledger and sandbox, with the default limits.

    Its register is an empty ``SqlRegister`` in a temporary directory: these
    scenarios only send register events to HubSpot.
    """
    register_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='hubsync-bench-')) / 'r.db'}"
    register = SqlRegister(register_url)
    register.create_schema()
    register.close()
    settings = load_settings(
        None,
        ledger=ledger_settings(ledger),
        hubspot={
            "base_url": base_url,
            "access_token": TOKEN,
            "rate_limit_per_10s": RATE_LIMIT_PER_10S,
        },
        audit={"pseudonym_key": PSEUDONYM_KEY},
        register={"url": register_url},
        worker={"batch_size": BATCH},
    )
    return bootstrap.build_worker(settings)


def unfinished(ledger: SqlLedger) -> tuple[int, Counter[str]]:
    """How many events are still pending or in progress, and the counts by state."""
    by_state = Counter(ledger.status(datetime.now(UTC)).by_state)
    return by_state["pending"] + by_state["in_progress"], by_state


def drain(worker: Worker, ledger: SqlLedger, label: str) -> tuple[float, int]:
    """Run rounds until every event is finished; (seconds to the last busy round, rounds)."""
    started = time.perf_counter()
    last_busy = started
    rounds = 0
    while True:
        if worker.run_once():
            rounds += 1
            last_busy = time.perf_counter()
            continue
        if unfinished(ledger)[0] == 0:
            return last_busy - started, rounds
        if time.perf_counter() - started > TIMEOUT_S:
            raise SystemExit(f"{label}: events still unfinished after {TIMEOUT_S:.0f} s")
        time.sleep(IDLE_SLEEP_S)


def drain_concurrently(workers: list[Worker], ledger: SqlLedger, label: str) -> tuple[float, int]:
    """``drain`` with one thread per worker, as several worker processes would share a ledger."""
    if len(workers) == 1:
        return drain(workers[0], ledger, label)
    stop = threading.Event()
    started = time.perf_counter()
    last_busy = [started] * len(workers)
    rounds = [0] * len(workers)
    failures: list[BaseException] = []

    def loop(i: int) -> None:
        try:
            while not stop.is_set():
                if workers[i].run_once():
                    rounds[i] += 1
                    last_busy[i] = time.perf_counter()
                else:
                    stop.wait(IDLE_SLEEP_S)
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=loop, args=(i,), name=f"worker-{i}") for i in range(len(workers))
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.is_set() and unfinished(ledger)[0] > 0:
            if time.perf_counter() - started > TIMEOUT_S:
                raise SystemExit(f"{label}: events still unfinished after {TIMEOUT_S:.0f} s")
            stop.wait(0.02)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return max(last_busy) - started, sum(rounds)


def describe_calls(timed: list[dict[str, Any]]) -> str:
    """A summary of API calls from the sandbox's request log: paths, statuses, pacing."""
    if not timed:
        return "no API calls logged"
    by_path = Counter(f"{c['method']} {c['path']}" for c in timed)
    statuses = Counter(int(c["status"]) for c in timed)
    at = [float(c["at"]) for c in timed]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    served = [float(c.get("duration_ms") or 0) for c in timed]
    paths = ", ".join(f"{n} x {p}" for p, n in by_path.most_common())
    pacing = (
        f"; gap between calls median {statistics.median(gaps) * 1000:.0f} ms, "
        f"max {max(gaps) * 1000:.0f} ms"
        if gaps
        else ""
    )
    return (
        f"{len(timed)} calls over {at[-1] - at[0]:.2f} s ({paths}); statuses {dict(statuses)}"
        f"{pacing}; sandbox time per call median {statistics.median(served):.1f} ms"
    )


def check_hubspot(scenario: str, crowd: list[Person], state: dict[str, Any], label: str) -> None:
    """Fail unless the sandbox ended as the events say: every subject's change is there."""
    contacts = {c["properties"].get("email"): c["properties"] for c in state["contacts"]}
    emails = [p.email for p in crowd]
    if scenario == "rectification":
        wrong = [
            e
            for e, p in zip(emails, crowd, strict=True)
            if contacts[e].get("lastname") != p.last + "-Holm"
            or contacts[e].get("phone") != p.phone
        ]
    elif scenario == "opt_out":
        statuses = state["subscriptions"]
        wrong = [e for e in emails if not statuses.get(e, {}).get("unsubscribed_from_all")]
    else:
        blocklist = set(state["blocklist"])
        wrong = [e for e in emails if e in contacts or e not in blocklist]
    if wrong:
        raise SystemExit(
            f"{label}: {len(wrong)} of {len(crowd)} subjects not as expected in HubSpot"
        )


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line adds to a scenario: HubSpot latency, profiling."""

    latency_ms: int = 0
    workers: int = 1
    profile: int | None = None


def run(scenario: str, backend: str, count: int, postgres_url: str, options: Options) -> Result:
    """Set up, warm up, then time the worker through ``count`` events of one kind."""
    label = f"worker_{scenario}_{backend}"
    kind = KINDS[scenario]
    config = SandboxConfig(
        port=0,
        access_token=TOKEN,
        rate_limit_per_10s=RATE_LIMIT_PER_10S,
        request_log_size=max(1_000, 2 * count + 100),
        latency_ms=options.latency_ms,
    )
    with fresh_ledger(backend, postgres_url) as ledger, sandbox_process(config) as base_url:
        control = SandboxControl(base_url)
        crowd = people(count + options.workers, f"{scenario}-{backend}")
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        for person in crowd:
            contact_id = control.contact(person.email, person.first, person.last)
            ledger.remember_subject(
                person.subject_id, now, email=person.email, contact_ids=[contact_id]
            )
        setup_s = time.perf_counter() - t0
        note(f"{label}: {len(crowd):,} contacts created and mapped in {setup_s:.1f}s")
        workers: list[Worker] = []
        try:
            warm, load = crowd[: options.workers], crowd[options.workers :]
            for i, person in enumerate(warm):  # each worker checks residency on its first round
                workers.append(build(base_url, ledger))
                ledger.submit([event_for(kind, person, f"{label}-warm-up-{i}", now)], now)
                drain(workers[-1], ledger, label)
            now = datetime.now(UTC)
            events = [
                event_for(kind, p, f"{label}-{i:06d}", now + timedelta(microseconds=i))
                for i, p in enumerate(load)
            ]
            for start in range(0, len(events), SETUP_BATCH):
                ledger.submit(events[start : start + SETUP_BATCH], now)
            note(f"{label}: {count:,} events submitted; running the worker")
            since = time.time()
            WORKER_LOG.take()  # count the timed part's warnings only
            cpu_before = time.process_time()
            profiler = cProfile.Profile() if options.profile else None
            if profiler is not None:
                profiler.enable()
            seconds, rounds = drain_concurrently(workers, ledger, label)
            cpu_s = time.process_time() - cpu_before
            if profiler is not None:
                profiler.disable()
        finally:
            for worker in workers:
                worker.close()
        _, by_state = unfinished(ledger)
        if by_state["done"] != len(crowd):
            raise SystemExit(f"{label}: events finished as {dict(by_state)}, not all done")
        state = control.state()
        check_hubspot(scenario, crowd, state, label)
        calls = [c for c in control.requests() if float(c["at"]) >= since]
        floor = budget_floor_s(len(calls))
        share = floor / seconds if seconds > 0 else 0.0
        note(
            f"{label}: {rounds} busy rounds in {seconds:.2f}s; {describe_calls(calls)}; "
            f"hubsync's budget lets these {len(calls)} calls take no less than {floor:.2f}s "
            f"({share:.0%} of the time taken); this process used {cpu_s:.1f}s of CPU; "
            f"load average {os.getloadavg()[0]:.2f}; worker warnings {WORKER_LOG.take() or 'none'}"
        )
        control.close()
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(options.profile or 0)
        note(out.getvalue())
    return Result(
        label, count, seconds, ceiling_per_s(scenario), int(state["counters"]["rate_limited"])
    )


def scenario_runner(scenario: str, options: Options) -> Callable[[str, int, str], Result]:
    """``run`` bound to one scenario, as ``report.run_scenarios`` calls it."""

    def one(backend: str, count: int, postgres_url: str) -> Result:
        return run(scenario, backend, count, postgres_url, options)

    return one


def arguments() -> argparse.Namespace:
    """The ledger benchmarks' options, SQLite by default, plus scenario choice and profiling."""
    p = parser(DESCRIPTION, DEFAULT_EVENTS)
    p.set_defaults(backend="sqlite")
    for action in p._actions:  # argparse offers no public way to reword an option's help
        if action.dest == "backend":
            action.help = "which ledger backend to use (default: sqlite; both: SQLite first)"
    p.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable; default: all three)",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="latency the sandbox adds to every API call (default 0: it answers in a few ms)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="workers sharing the ledger and its rate budget, one thread each (default 1)",
    )
    p.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=None,
        help="cProfile the timed loop; print the top N functions by cumulative time on stderr",
    )
    return p.parse_args()


def main() -> int:
    """Run the selected scenarios; the exit code."""
    args = arguments()
    # The worker logs every event at info; keep warnings only, counted (stdout is for results).
    logs.configure("warning", "json", stream=WORKER_LOG)
    if args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    options = Options(latency_ms=args.latency_ms, workers=args.workers, profile=args.profile)
    code = 0
    for scenario in args.scenario or SCENARIOS:
        size = DEFAULT_EVENTS[scenario]
        defaults = {"sqlite": size, "postgres": size}
        code |= run_scenarios(args, scenario_runner(scenario, options), defaults)
    return code


if __name__ == "__main__":
    sys.exit(main())
