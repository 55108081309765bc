"""``hubsync demo`` as a newcomer runs it: one command, every right both ways, exit 0."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from tests.e2e.conftest import undated_calls

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def test_the_demo_plays_every_right_both_ways_and_every_check_holds(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    done = subprocess.run(
        [HUBSYNC, "demo"],
        cwd=tmp_path,  # it needs nothing from the working directory and leaves nothing there
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "18 of 18 checks held" in done.stdout
    for right in ("erasure", "rectification", "marketing_opt_out", "restriction_lifted", "access"):
        assert right in done.stdout
    assert "resurrection_blocked" in done.stdout
    assert list(tmp_path.iterdir()) == []
    # The people are fictional, and their addresses never reach the logs.
    assert "@example.org" not in done.stderr


def test_the_demo_can_be_left_running_with_its_urls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    lines: queue.Queue[str] = queue.Queue()
    with subprocess.Popen(
        [HUBSYNC, "demo", "--keep-running"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()])
        reader.start()
        try:
            intake = sandbox = None
            line = ""
            while "hubsync status" not in line:  # the last of what it prints before it waits
                line = lines.get(timeout=120)
                if line.strip().startswith("intake"):
                    intake = line.split()[1]
                if line.strip().startswith("sandbox"):
                    sandbox = line.split()[1].removesuffix("/_sandbox/state")
            assert intake is not None, "the demo printed no intake URL"
            assert sandbox is not None, "the demo printed no sandbox URL"
            # Every HubSpot call the demo made went to a 2026-09 path (issue 12).
            assert undated_calls(sandbox) == []
            assert requests.get(f"{intake}/healthz", timeout=5).status_code == 200
            metrics = requests.get(f"{intake}/metrics", timeout=5).text
            assert "hubsync_resurrections_blocked_total 1.0" in metrics
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
            reader.join(10)  # it ends at the end of the output
    assert proc.returncode == 0
    assert "stopping" in "".join(lines.queue)
