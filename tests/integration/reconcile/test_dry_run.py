"""``hubsync reconcile --dry-run`` against the sandbox, a SQL register and both ledgers.

The sandbox (its control API) and the register (its own tables) are seeded
with a known number of drifts of each class, and the ledger with the subject
map and the suppression list; the dry run must report exactly those, send
HubSpot reads only, and write no email into its report or its logs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.ratelimit import RateBudget
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.control_client import SandboxControl
from connectors.hubspot.sandbox.server import running_sandbox
from connectors.register.sql import SqlRegister
from mappings import load_mapping
from sync import bootstrap
from sync.audit import Pseudonymizer
from sync.clock import FixedClock
from sync.handlers.reconcile import RECONCILED, Mapped, Reconciler
from sync.ledger.sql import SqlLedger
from sync.settings import Settings
from tests.conftest import T0
from tests.integration.cli.conftest import HUBSYNC

TOKEN = "pat-eu1-reconcile"
KEY = b"reconcile-test-pseudonym-key"
IN_STEP = 105  # more than one page of contacts
EXPECTED = {
    "erased_but_present": 2,
    "opt_out_missing_in_hubspot": 2,
    "opt_out_missing_in_register": 2,
    "field_drift": 2,
    "restriction_drift": 2,
    "unlinked": 2,
    "unknown_to_register": 2,
    "ambiguous": 2,
}
READ_POSTS = ("/batch/read", "/unsubscribe-all/read")


def seed(control: SandboxControl, register: SqlRegister, ledger: SqlLedger) -> list[str]:
    """Every class twice (ambiguous: once by a shared email, once by case); the emails used."""
    pseudonyms = Pseudonymizer(KEY)
    emails: list[str] = []

    def contact(email: str, first: str = "Same", *, unsubscribed: bool = False) -> str:
        emails.append(email)
        created = control.act("create", properties={"email": email, "firstname": first})
        if unsubscribed:
            control.act("unsubscribe", email=email)
        return str(created["contact_id"])

    def customer(sid: str, email: str, link: str | None = None, **flags: Any) -> None:
        register.add_customer(sid, email=email, first_name="Same", **flags)
        if link is not None:
            ledger.remember_subject(sid, T0, email=email, contact_ids=[link])

    for n in range(IN_STEP):
        email = f"ok{n}@example.se"
        customer(f"S-ok{n}", email, contact(email))
    gone = contact("gone0@example.se")
    contact("gone1@example.se")
    ledger.add_suppression(
        [("contact", pseudonyms.contact(gone)), ("email", pseudonyms.email("gone1@example.se"))],
        T0,
    )
    for n in range(2):
        customer(f"S-out{n}", f"out{n}@example.se", contact(f"out{n}@example.se"),
                 marketing_opt_out=True)  # fmt: skip
        email = f"hsout{n}@example.se"
        customer(f"S-hsout{n}", email, contact(email, unsubscribed=True))
        customer(f"S-field{n}", f"field{n}@example.se", contact(f"field{n}@example.se", "Other"))
        email = f"restricted{n}@example.se"
        customer(f"S-restricted{n}", email, contact(email, unsubscribed=True),
                 restricted=True, marketing_opt_out=True)  # fmt: skip
        customer(f"S-unlinked{n}", f"unlinked{n}@example.se")
        contact(f"unlinked{n}@example.se")
        contact(f"stranger{n}@example.se")
    customer("S-twin-a", "twin@example.se")
    customer("S-twin-b", "twin@example.se")
    contact("twin@example.se")
    customer("S-case", "Case@Example.se")
    contact("case@example.se")
    return emails


def test_the_dry_run_reports_exactly_the_seeded_drifts_and_only_reads(
    ledger: SqlLedger,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock = FixedClock(T0)
    register = SqlRegister(f"sqlite:///{tmp_path / 'register.db'}", now=clock.now)
    register.create_schema()
    config = SandboxConfig(port=0, access_token=TOKEN, rate_limit_per_10s=100_000)
    fields = load_mapping()
    with running_sandbox(config) as sandbox:
        control = SandboxControl(sandbox.base_url)
        emails = seed(control, register, ledger)
        before = max((e["seq"] for e in sandbox.sandbox.requests.entries()), default=0)
        budget = RateBudget(ledger, clock, per_10s=10_000, daily=1_000_000, search_per_s=4)
        reconciler = Reconciler(
            hubspot=HubSpotClient(base_url=sandbox.base_url, access_token=TOKEN, budget=budget),
            register=register,
            ledger=ledger,
            mapped=[Mapped(m.field, m.hubspot, m.authority) for m in fields.fields.values()],
            pseudonymizer=Pseudonymizer(KEY),
            clock=clock,
            actor="test",
        )
        with caplog.at_level(logging.DEBUG):
            report = reconciler.dry_run()
        calls = sandbox.sandbox.requests.entries(before)
        control.close()
    register.close()

    assert report.counts() == EXPECTED
    assert report.contacts == IN_STEP + 2 + 2 * 6 + 2
    assert [(c["method"], c["path"]) for c in calls if not _read(c)] == []
    logged = capsys.readouterr()
    text = json.dumps(report.as_dict()) + caplog.text + logged.out + logged.err
    audit = [r for r in ledger.audit_rows() if r.entry.action == RECONCILED]
    assert len(audit) == 1
    assert json.loads(audit[0].entry.detail or "{}") == {
        "contacts": report.contacts,
        "subjects": report.subjects,
        **EXPECTED,
    }
    text += json.dumps([r.as_dict() for r in audit])
    assert [e for e in emails if e.lower() in text.lower()] == []
    assert "example.se" not in text.lower()


def _read(call: dict[str, Any]) -> bool:
    return call["method"] == "GET" or (
        call["method"] == "POST" and str(call["path"]).endswith(READ_POSTS)
    )


def test_the_command_writes_the_report_an_operator_asks_for(
    ledger_settings: dict[str, Any], tmp_path: Path
) -> None:
    """``hubsync reconcile --dry-run --format json|csv --report FILE`` as a subprocess."""
    register_url = f"sqlite:///{tmp_path / 'register.db'}"
    register = SqlRegister(register_url)
    register.create_schema()
    config = SandboxConfig(port=0, access_token=TOKEN, rate_limit_per_10s=100_000)
    with running_sandbox(config) as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
        env.update(_ledger_env(ledger_settings))
        env.update(
            {
                "HUBSYNC_REGISTER__URL": register_url,
                "HUBSYNC_HUBSPOT__BASE_URL": sandbox.base_url,
                "HUBSYNC_HUBSPOT__ACCESS_TOKEN": TOKEN,
                "HUBSYNC_AUDIT__PSEUDONYM_KEY": KEY.decode(),
            }
        )
        ledger = bootstrap.open_ledger_of(Settings(ledger=ledger_settings), FixedClock(T0))
        control = SandboxControl(sandbox.base_url)
        try:
            emails = seed(control, register, ledger)
        finally:
            control.close()
            ledger.close()
        refused = subprocess.run(
            [HUBSYNC, "reconcile"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        as_json = subprocess.run(
            [HUBSYNC, "reconcile", "--dry-run", "--format", "json"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        report = tmp_path / "drifts.csv"
        as_csv = subprocess.run(
            [HUBSYNC, "reconcile", "--dry-run", "--format", "csv", "--report", str(report)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    register.close()

    assert refused.returncode == 2  # no --dry-run: nothing is done without asking
    assert as_json.returncode == 0, as_json.stderr
    counts: dict[str, int] = {}
    for drift in json.loads(as_json.stdout)["drifts"]:
        counts[drift["class"]] = counts.get(drift["class"], 0) + 1
    assert counts == EXPECTED
    assert as_csv.returncode == 0, as_csv.stderr
    rows = report.read_text().splitlines()
    assert rows[0].split(",")[0] == "class"
    assert len(rows) == 1 + sum(EXPECTED.values())
    text = as_json.stdout + as_json.stderr + as_csv.stdout + as_csv.stderr + report.read_text()
    assert [e for e in emails if e.lower() in text.lower()] == []


def _ledger_env(ledger_settings: dict[str, Any]) -> dict[str, str]:
    """The ledger settings as the CLI's environment."""
    env = {"HUBSYNC_LEDGER__URL": str(ledger_settings["url"])}
    if ledger_settings.get("schema"):
        env["HUBSYNC_LEDGER__SCHEMA"] = str(ledger_settings["schema"])
    return env
