"""`/_sandbox/auth`: rotate the token (the old one 401s), remove and grant scopes (403
`MISSING_SCOPES`), restore; a reset restores too, and the token is never shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.control_client import SandboxControl
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox

TOKEN = "pat-eu1-first-token"
NEW = "pat-eu1-rotated-token"
CONTACTS = "/crm/objects/2026-09/contacts"
WRITE = "crm.objects.contacts.write"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxConfig(port=0, access_token=TOKEN)) as sandbox:
        yield sandbox


@pytest.fixture
def control(running: RunningSandbox) -> Iterator[SandboxControl]:
    requests.post(f"{running.base_url}/_sandbox/reset", timeout=5).raise_for_status()
    client = SandboxControl(running.base_url)
    yield client
    client.close()


def _list(running: RunningSandbox, token: str) -> requests.Response:
    return requests.get(
        running.base_url + CONTACTS, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def _update(running: RunningSandbox, token: str) -> requests.Response:
    return requests.post(
        running.base_url + CONTACTS + "/batch/update",
        json={"inputs": []},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def test_a_rotation_makes_the_old_token_401_at_once_and_restore_brings_it_back(
    running: RunningSandbox, control: SandboxControl
) -> None:
    assert _list(running, TOKEN).status_code == 200
    control.rotate_token(NEW)
    refused = _list(running, TOKEN)
    assert refused.status_code == 401
    assert refused.json()["category"] == "INVALID_AUTHENTICATION"
    assert _list(running, NEW).status_code == 200
    control.restore_auth()
    assert _list(running, TOKEN).status_code == 200
    assert _list(running, NEW).status_code == 401


def test_a_removed_scope_answers_403_missing_scopes_naming_it_until_granted_again(
    running: RunningSandbox, control: SandboxControl
) -> None:
    control.remove_scopes(WRITE)
    assert WRITE not in control.auth()["scopes"]
    refused = _update(running, TOKEN)
    assert refused.status_code == 403
    body = refused.json()
    assert (body["category"], body["context"]["missingScopes"]) == ("MISSING_SCOPES", [WRITE])
    assert _list(running, TOKEN).status_code == 200  # reads need another scope
    requests.post(
        running.base_url + "/_sandbox/auth", json={"add_scopes": [WRITE]}, timeout=5
    ).raise_for_status()
    assert _update(running, TOKEN).status_code != 403


def test_a_reset_restores_the_token_and_scopes_the_sandbox_started_with(
    running: RunningSandbox, control: SandboxControl
) -> None:
    started = control.auth()
    control.rotate_token(NEW)
    control.remove_scopes(WRITE)
    requests.post(f"{running.base_url}/_sandbox/reset", timeout=5).raise_for_status()
    assert control.auth() == started
    assert _list(running, TOKEN).status_code == 200


def test_the_auth_view_never_shows_the_token(
    running: RunningSandbox, control: SandboxControl
) -> None:
    control.rotate_token(NEW)
    shown = requests.get(running.base_url + "/_sandbox/auth", timeout=5).text
    assert TOKEN not in shown
    assert NEW not in shown
    assert control.auth()["token_fixed"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": ""},
        {"access_token": 7},
        {"remove_scopes": "oauth"},
        {"access_token": NEW, "scopes": [1]},  # nothing of it applied
    ],
)
def test_a_malformed_auth_change_is_refused_and_changes_nothing(
    running: RunningSandbox, control: SandboxControl, body: dict[str, Any]
) -> None:
    before = control.auth()
    answer = requests.post(running.base_url + "/_sandbox/auth", json=body, timeout=5)
    assert answer.status_code == 400
    assert control.auth() == before
    assert _list(running, TOKEN).status_code == 200
