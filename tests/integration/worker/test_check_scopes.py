"""`hubsync check` learns the token's scopes from HubSpot and names the missing ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import running_sandbox
from connectors.hubspot.scopes import REQUIRED_SCOPES
from sync import bootstrap
from tests.integration.worker.conftest import PSEUDONYM_KEY, TOKEN, System

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def _check(
    system: System, base_url: str, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    ledger = system.settings.ledger
    env.update(
        {
            "HUBSYNC_LEDGER__URL": ledger.url,
            "HUBSYNC_HUBSPOT__BASE_URL": base_url,
            "HUBSYNC_HUBSPOT__ACCESS_TOKEN": TOKEN,
            "HUBSYNC_AUDIT__PSEUDONYM_KEY": PSEUDONYM_KEY,
            "HUBSYNC_REGISTER__URL": system.settings.register.url,
            "HUBSYNC_LOGGING__FORMAT": "json",
            **extra,
        }
    )
    if ledger.schema_name:
        env["HUBSYNC_LEDGER__SCHEMA"] = ledger.schema_name
    return subprocess.run([HUBSYNC, "check", *args], env=env, check=False,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_check_finds_every_needed_scope_granted(system: System) -> None:
    ran = _check(system, system.base_url, "--json")

    assert ran.returncode == 0, ran.stderr
    scopes = json.loads(ran.stdout)["checks"]["scopes"]
    assert scopes["ok"] is True
    assert scopes["missing"] == []
    assert TOKEN not in ran.stdout + ran.stderr


def test_check_names_each_missing_scope_and_exits_1(system: System) -> None:
    lacking = frozenset(REQUIRED_SCOPES) - {
        "crm.schemas.contacts.write",
        "crm.objects.contacts.write",
    }
    config = SandboxConfig(port=0, access_token=TOKEN, scopes=lacking)
    with running_sandbox(config) as narrow:
        as_json = _check(system, narrow.base_url, "--json")
        as_text = _check(system, narrow.base_url)

    assert as_json.returncode == 1
    report: dict[str, Any] = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["checks"]["scopes"]["missing"] == [
        "crm.objects.contacts.write",
        "crm.schemas.contacts.write",
    ]
    assert report["checks"]["residency"]["ok"] is True  # only the scopes failed
    assert as_text.returncode == 1
    assert (
        "scopes: FAILED - missing: crm.objects.contacts.write, crm.schemas.contacts.write"
        in as_text.stdout
    )


def test_with_the_v3_subscription_api_the_batch_scopes_are_not_needed(system: System) -> None:
    lacking = frozenset(s for s in REQUIRED_SCOPES if ".statuses.batch." not in s)
    config = SandboxConfig(port=0, access_token=TOKEN, scopes=lacking)
    with running_sandbox(config) as narrow:
        v4 = _check(system, narrow.base_url, "--json")
        v3 = _check(system, narrow.base_url, "--json", HUBSYNC_HUBSPOT__SUBSCRIPTIONS_API="v3")

    assert v4.returncode == 1
    assert json.loads(v4.stdout)["checks"]["scopes"]["missing"] == [
        "communication_preferences.statuses.batch.read",
        "communication_preferences.statuses.batch.write",
    ]
    assert v3.returncode == 0, v3.stdout


def test_scopes_are_not_checked_when_hubspot_is_not_reached(system: System) -> None:
    settings = system.settings.model_copy(
        update={
            "hubspot": system.settings.hubspot.model_copy(update={"base_url": "http://127.0.0.1:9"})
        }
    )

    report = bootstrap.check(settings)

    assert report["ok"] is False
    assert report["checks"]["hubspot"]["ok"] is False
    assert report["checks"]["scopes"] == {
        "ok": False,
        "detail": "not checked: HubSpot was not reached",
        "missing": None,
    }


def test_check_learns_the_scopes_from_2026_09_probes_not_token_introspection(
    system: System,
) -> None:
    """A static project app token has no access-token info: the 403s of the probes tell."""
    lacking = frozenset(REQUIRED_SCOPES) - {"communication_preferences.statuses.batch.write"}
    config = SandboxConfig(port=0, access_token=TOKEN, scopes=lacking)
    with running_sandbox(config) as narrow:
        ran = _check(system, narrow.base_url, "--json")
        log = requests.get(f"{narrow.base_url}/_sandbox/requests", timeout=5).json()["requests"]

    assert ran.returncode == 1
    assert json.loads(ran.stdout)["checks"]["scopes"]["missing"] == [
        "communication_preferences.statuses.batch.write"
    ]
    paths = {r["path"] for r in log}
    assert all("/2026-09/" in p for p in paths), paths
    refused = [r for r in log if r["status"] == 403]
    assert [r["path"] for r in refused] == [
        "/communication-preferences/2026-09/statuses/batch/write"
    ]


def test_check_with_a_service_key_says_no_webhooks_come_and_what_that_means(
    system: System,
) -> None:
    as_json = _check(system, system.base_url, "--json", HUBSYNC_HUBSPOT__CREDENTIAL="service_key")
    as_text = _check(system, system.base_url, HUBSYNC_HUBSPOT__CREDENTIAL="service_key")

    assert as_json.returncode == 0, as_json.stdout
    webhooks = json.loads(as_json.stdout)["checks"]["webhooks"]
    assert webhooks["received"] is False
    assert "webhooks: ok - a Service Key receives no webhooks" in as_text.stdout
    assert "only an opt-out from all email reaches the register" in as_text.stdout
