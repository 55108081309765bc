"""Starting the contract suite's helper scripts as real processes, and talking to them."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def start_script(script: str, args: list[str]) -> subprocess.Popen[str]:
    """Run ``tests/contract/<script>`` with this interpreter, pipes on all three streams."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def read_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The next line the process prints, failing with its stderr if it dies or stays silent."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=max(deadline - time.monotonic(), 0)):
                line = proc.stdout.readline()
                if line:
                    return line.rstrip("\n")
                break
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"{_script(proc)} printed nothing within {timeout_s}s; stderr:\n{err}")


def finish(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """Wait for the process to exit 0 and return what it printed after that point."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        out, err = proc.communicate()
        message = f"{_script(proc)} did not finish in {timeout_s}s; stderr:\n{err}"
        raise AssertionError(message) from exc
    assert proc.returncode == 0, f"{_script(proc)} exited {proc.returncode}; stderr:\n{err}"
    return out


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill the process if it still runs and reap it (a failed test leaves no orphan)."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def _script(proc: subprocess.Popen[str]) -> str:
    """The helper script a process runs, for failure messages."""
    args = proc.args
    return Path(str(args[1])).name if isinstance(args, list) else str(args)
