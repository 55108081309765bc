"""Run every benchmark in ``bench/`` with its defaults, one subprocess each (``make bench``).

A benchmark is a ``bench/*.py`` file with an ``if __name__ == "__main__":``
block, other than this one; helper modules such as ``report.py`` have none.
Each child's stdout (its JSON lines) is echoed to stdout as it arrives and
its stderr passes straight through. The whole run must finish within
``BUDGET_S`` seconds: a child still running at the deadline is killed and the
run fails. A summary table goes to stderr at the end, so stdout stays one
JSON line per scenario. Exit code 0 when every benchmark exited 0 in time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BUDGET_S = 300.0  # issue 2: `make bench` runs every benchmark with defaults in under 5 minutes
MAIN_GUARD = 'if __name__ == "__main__":'


def benchmarks() -> list[Path]:
    """The benchmark scripts, in name order."""
    me = Path(__file__).resolve()
    return [
        path
        for path in sorted(BENCH_DIR.glob("*.py"))
        if path.resolve() != me and MAIN_GUARD in path.read_text(encoding="utf-8")
    ]


def run_one(script: Path, deadline: float) -> tuple[int, list[dict[str, object]]]:
    """Run one script, echoing its stdout; its exit code (124 on timeout) and JSON lines."""
    env = dict(os.environ)
    # The project's own packages stay importable even outside the editable install.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), kill)
    watchdog.start()
    lines: list[dict[str, object]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict) and "scenario" in parsed:
                lines.append(parsed)
        code = proc.wait()
    finally:
        watchdog.cancel()
    if timed_out.is_set():
        print(f"run_all: {script.name} killed at the {BUDGET_S:.0f}s budget", file=sys.stderr)
        return 124, lines
    return code, lines


def main() -> int:
    """Run them all; the exit code."""
    started = time.monotonic()
    deadline = started + BUDGET_S
    results: list[dict[str, object]] = []
    failed: list[str] = []
    for script in benchmarks():
        print(f"run_all: {script.name}", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        code, lines = run_one(script, deadline)
        results.extend(lines)
        print(
            f"run_all: {script.name} exited {code} after {time.monotonic() - t0:.1f}s",
            file=sys.stderr,
            flush=True,
        )
        if code != 0:
            failed.append(script.name)
        if time.monotonic() >= deadline:
            break
    elapsed = time.monotonic() - started
    print(f"\n{'scenario':34} {'events':>8} {'per s':>10} {'ratio':>7}", file=sys.stderr)
    for r in results:
        print(
            f"{r['scenario']!s:34} {r['events']!s:>8} {r['throughput_per_s']!s:>10} "
            f"{r['ratio']!s:>7}",
            file=sys.stderr,
        )
    verdict = "ok" if not failed and elapsed < BUDGET_S else "FAILED"
    print(
        f"run_all: {len(results)} scenarios in {elapsed:.1f}s (budget {BUDGET_S:.0f}s): {verdict}"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        file=sys.stderr,
    )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
