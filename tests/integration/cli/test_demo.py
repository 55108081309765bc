"""``hubsync demo`` as a newcomer runs it: one command, every right both ways, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
