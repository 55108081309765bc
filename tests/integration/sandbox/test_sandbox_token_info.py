"""Private-app access-token info: the scopes the sandbox's token was granted."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.hubspot.scopes import REQUIRED_SCOPES

PATH = "/oauth/v2/private-apps/get/access-token-info"
HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def _info(base_url: str, token: str, body: object = None) -> requests.Response:
    return requests.post(
        base_url + PATH,
        json={"tokenKey": token} if body is None else body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def test_the_token_has_every_scope_hubsync_needs_by_default(sandbox: RunningSandbox) -> None:
    answer = _info(sandbox.base_url, "pat-eu1-anything")

    assert answer.status_code == 200
    body = answer.json()
    assert body["scopes"] == sorted(REQUIRED_SCOPES)
    assert body["hubId"] == sandbox.config.portal_id
    assert body["appId"] == sandbox.config.app_id


def test_configured_scopes_are_what_the_token_was_granted() -> None:
    config = SandboxConfig(
        port=0, access_token="pat-1", scopes=frozenset({"crm.objects.contacts.read"})
    )
    with running_sandbox(config) as running:
        granted = _info(running.base_url, "pat-1")
        other = _info(running.base_url, "pat-1", {"tokenKey": "pat-2"})
        missing = _info(running.base_url, "pat-1", {})
        log = requests.get(running.base_url + "/_sandbox/requests", timeout=5).json()

    assert granted.json()["scopes"] == ["crm.objects.contacts.read"]
    assert other.status_code == 401
    assert missing.status_code == 400
    logged = [r["body"] for r in log["requests"] if r["path"] == PATH]
    assert {"tokenKey": "[redacted]"} in logged
    assert "pat-1" not in str(logged)


def test_the_call_needs_a_bearer_token_like_every_api_call(sandbox: RunningSandbox) -> None:
    answer = requests.post(sandbox.base_url + PATH, json={"tokenKey": "t"}, timeout=5)

    assert answer.status_code == 401


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_hubsync_sandbox_drop_scope_leaves_that_scope_out() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [HUBSYNC, "sandbox", "--port", str(port), "--drop-scope", "crm.schemas.contacts.write",
         "--drop-scope", "communication_preferences.write"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base_url + "/_sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the sandbox did not start"
                time.sleep(0.1)
        scopes = _info(base_url, "any").json()["scopes"]
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert set(REQUIRED_SCOPES) - set(scopes) == {
        "crm.schemas.contacts.write",
        "communication_preferences.write",
    }
