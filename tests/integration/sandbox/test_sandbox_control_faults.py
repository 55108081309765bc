"""The `/_sandbox` control API, injected faults, the bounded request log, and start-up."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner
from hubspot import HubSpot
from hubspot.crm.contacts import (
    PublicGdprDeleteInput,
    PublicObjectSearchRequest,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException, ServiceException
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from connectors.hubspot.sandbox.command import sandbox_command
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from tests.integration.sandbox.helpers import (
    action,
    make_client,
    sandbox_requests,
    sandbox_state,
)


def set_faults(running: RunningSandbox, **settings: object) -> requests.Response:
    return requests.post(f"{running.base_url}/_sandbox/faults", json=settings, timeout=5)


def create(client: HubSpot, email: str) -> str:
    result = client.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": email})
    )
    return str(result.id)


def test_state_shows_contacts_blocklist_subscriptions_and_counters(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    a = create(client, "a@example.se")
    create(client, "b@example.se")
    client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=a))
    action(sandbox, "unsubscribe", email="b@example.se")
    state = sandbox_state(sandbox)
    assert [c["properties"]["email"] for c in state["contacts"]] == ["b@example.se"]
    assert state["blocklist"] == ["a@example.se"]
    assert state["subscriptions"]["b@example.se"]["unsubscribed_from_all"] is True
    assert state["counters"]["requests"] == 3
    assert state["counters"]["rate_limited"] == 0
    assert state["faults"]["error_rate"] == 0.0


def test_requests_lists_api_calls_in_order_with_status_and_body(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    create(client, "a@example.se")
    client.crm.contacts.basic_api.get_by_id("a@example.se", id_property="email")
    log = sandbox_requests(sandbox)
    assert [(r["method"], r["status"]) for r in log] == [("POST", 201), ("GET", 200)]
    assert log[0]["body"] == {"properties": {"email": "a@example.se"}}
    assert log[1]["path"] == "/crm/v3/objects/contacts/a@example.se"
    assert "idProperty=email" in log[1]["query"]
    later = requests.get(
        f"{sandbox.base_url}/_sandbox/requests", params={"since": log[0]["seq"]}, timeout=5
    ).json()["requests"]
    assert [r["seq"] for r in later] == [log[1]["seq"]]


def test_reset_forgets_everything(client: HubSpot, sandbox: RunningSandbox) -> None:
    create(client, "a@example.se")
    client.crm.contacts.basic_api.purge(
        PublicGdprDeleteInput(object_id="b@example.se", id_property="email")
    )
    set_faults(sandbox, latency_ms=1)
    requests.post(f"{sandbox.base_url}/_sandbox/reset", timeout=5)
    state = sandbox_state(sandbox)
    assert state["contacts"] == []
    assert state["blocklist"] == []
    assert state["counters"]["requests"] == 0
    assert state["faults"]["latency_ms"] == 0
    assert sandbox_requests(sandbox) == []
    assert create(client, "a@example.se") == "101"


def test_unknown_action_is_404_and_bad_bodies_400(sandbox: RunningSandbox) -> None:
    unknown = requests.post(f"{sandbox.base_url}/_sandbox/actions/teleport", json={}, timeout=5)
    assert unknown.status_code == 404
    missing = requests.post(f"{sandbox.base_url}/_sandbox/actions/update", json={}, timeout=5)
    assert missing.status_code == 400
    assert set_faults(sandbox, error_rate=2).status_code == 400
    assert set_faults(sandbox, wobble=1).status_code == 400


def test_injected_errors_fail_calls_without_changing_state(
    client: HubSpot, sandbox: RunningSandbox
) -> None:
    assert set_faults(sandbox, error_rate=1.0, error_status=503).status_code == 200
    with pytest.raises(ServiceException) as err:
        create(client, "a@example.se")
    assert err.value.status == 503
    set_faults(sandbox, error_rate=0.0)
    assert sandbox_state(sandbox)["contacts"] == []
    assert sandbox_state(sandbox)["counters"]["faults"] == 1


def outcomes(client: HubSpot, n: int) -> list[int]:
    api = client.crm.contacts.search_api
    out = []
    for _ in range(n):
        try:
            api.do_search(PublicObjectSearchRequest(filter_groups=[]))
            out.append(200)
        except ApiException as exc:
            out.append(exc.status)
    return out


def test_faults_are_deterministic_for_a_seed(client: HubSpot, sandbox: RunningSandbox) -> None:
    set_faults(sandbox, error_rate=0.5, error_status=502, seed=7)
    first = outcomes(client, 30)
    set_faults(sandbox, seed=7)
    second = outcomes(client, 30)
    set_faults(sandbox, seed=8)
    third = outcomes(client, 30)
    assert first == second
    assert first != third
    assert set(first) == {200, 502}


def test_latency_is_added_to_every_call(client: HubSpot, sandbox: RunningSandbox) -> None:
    set_faults(sandbox, latency_ms=150)
    started = time.monotonic()
    client.crm.contacts.basic_api.get_page()
    assert time.monotonic() - started >= 0.15


def test_timeout_holds_the_connection_past_the_client_timeout() -> None:
    config = SandboxConfig(port=0, timeout_rate=1.0, timeout_hold_s=2.0)
    with running_sandbox(config) as running:
        api = make_client(running).crm.contacts.search_api
        started = time.monotonic()
        with pytest.raises((ReadTimeoutError, MaxRetryError)):
            api.do_search(PublicObjectSearchRequest(filter_groups=[]), _request_timeout=0.3)
        assert 0.3 <= time.monotonic() - started < 2.0
    # Leaving the block stopped the server although a call was still held.


def test_request_log_is_bounded_while_counters_keep_counting() -> None:
    with running_sandbox(SandboxConfig(port=0, request_log_size=5)) as running:
        api = make_client(running).crm.contacts.basic_api
        for _ in range(20):
            api.get_page()
        log = sandbox_requests(running)
        assert len(log) == 5
        assert [r["seq"] for r in log] == list(range(16, 21))
        assert sandbox_state(running)["counters"]["requests"] == 20


def test_in_process_start_takes_under_a_second() -> None:
    started = time.monotonic()
    with running_sandbox() as running:
        ready = time.monotonic() - started
        assert requests.get(f"{running.base_url}/_sandbox/health", timeout=5).ok
    assert ready < 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_starts_a_sandbox_in_a_subprocess() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.hubspot.sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.02)
        else:
            pytest.fail("the sandbox subprocess did not answer within 10 s")
        assert answer.json() == {"ok": True}
    finally:
        process.terminate()
        process.wait(10)


def test_command_exposes_the_design_flags() -> None:
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for flag in (
        "--host",
        "--port",
        "--access-token",
        "--rate-limit-per-10s",
        "--daily-limit",
        "--hosting-location",
        "--webhook-url",
        "--client-secret",
        "--app-id",
        "--portal-id",
        "--search-limit-per-s",
        "--webhook-max-attempts",
        "--seed",
    ):
        assert flag in result.output
