"""`hubsync run`: the intake server and the worker in one process, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.signatures import sign_v3
from connectors.register.sql import SqlRegister
from sync import signing

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))
TOKEN = "pat-eu1-run-token"
CLIENT_SECRET = "run-client-secret"
REGISTER_SECRET = "run-register-secret"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxConfig(port=0, access_token=TOKEN)) as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(sandbox: RunningSandbox, tmp_path: Path, port: int) -> dict[str, str]:
    register = SqlRegister(f"sqlite:///{tmp_path / 'register.db'}")
    register.create_schema()  # /readyz is 503 while the register is not set up
    register.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    env.update(
        {
            "HUBSYNC_LEDGER__URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "HUBSYNC_REGISTER__URL": f"sqlite:///{tmp_path / 'register.db'}",
            "HUBSYNC_HUBSPOT__BASE_URL": sandbox.base_url,
            "HUBSYNC_HUBSPOT__ACCESS_TOKEN": TOKEN,
            "HUBSYNC_HUBSPOT__CLIENT_SECRET": CLIENT_SECRET,
            "HUBSYNC_SERVER__PORT": str(port),
            "HUBSYNC_SERVER__PUBLIC_URL": "https://hooks.example.com",
            "HUBSYNC_SERVER__REGISTER_SECRET": REGISTER_SECRET,
            "HUBSYNC_AUDIT__PSEUDONYM_KEY": "run-test-pseudonym-key-0123",
            "HUBSYNC_WORKER__POLL_INTERVAL_SECONDS": "0.1",
            "HUBSYNC_LOGGING__FORMAT": "json",
        }
    )
    return env


def wait_for(url: str, timeout: float = 30) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_run_serves_the_intake_and_works_until_sigterm(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [HUBSYNC, "run"], env=env_for(sandbox, tmp_path, port),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(base + "/healthz").status_code == 200
        assert requests.get(base + "/readyz", timeout=10).json()["ready"] is True

        event = {
            "event_id": "run-1",
            "kind": "marketing_opt_out",
            "subject_id": "C-9",
            "email": "optout-run@example.se",
            "occurred_at": "2026-11-27T10:00:00Z",
        }
        body = json.dumps(event).encode()
        signed = signing.sign(REGISTER_SECRET.encode(), body, int(time.time()))
        answer = requests.post(base + "/v1/events", data=body, timeout=10,
                               headers={signing.SIGNATURE_HEADER: signed})  # fmt: skip
        assert answer.status_code == 202, answer.text

        hook = (
            b'[{"eventId":1,"subscriptionId":2,"portalId":3,"occurredAt":4,'
            b'"subscriptionType":"contact.creation"}]'
        )
        ts = str(int(time.time() * 1000))
        uri = "https://hooks.example.com/webhooks/hubspot"
        signature = sign_v3(CLIENT_SECRET.encode(), "POST", uri, hook, ts)
        hooked = requests.post(base + "/webhooks/hubspot", data=hook, timeout=10, headers={
            "x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": ts})  # fmt: skip
        assert hooked.status_code == 204

        deadline = time.monotonic() + 30
        state: Any = None
        while time.monotonic() < deadline:
            state = requests.get(base + "/v1/events/run-1", timeout=10).json()["state"]
            if state in ("done", "failed"):
                break
            time.sleep(0.1)
        assert state == "done"

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    names = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
    assert {"server_started", "worker_started", "stop_requested", "worker_stopped"} <= set(names)
    assert names[-1] == "server_stopped"
    assert "optout-run" not in stderr


def test_run_refuses_to_run_nothing(tmp_path: Path) -> None:
    ran = subprocess.run([HUBSYNC, "run", "--no-server", "--no-worker"], check=False,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 2
    assert "leave nothing to run" in ran.stderr
