"""`hubsync check` says whether the register is set up, naming the missing table or setting."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from connectors.register.sql import SqlRegister
from tests.integration.worker.conftest import PSEUDONYM_KEY, TOKEN, System

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def _check(system: System, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    ledger = system.settings.ledger
    env.update(
        {
            "HUBSYNC_LEDGER__URL": ledger.url,
            "HUBSYNC_HUBSPOT__BASE_URL": system.base_url,
            "HUBSYNC_HUBSPOT__ACCESS_TOKEN": TOKEN,
            "HUBSYNC_AUDIT__PSEUDONYM_KEY": PSEUDONYM_KEY,
            "HUBSYNC_LOGGING__FORMAT": "json",
            **extra,
        }
    )
    if ledger.schema_name:
        env["HUBSYNC_LEDGER__SCHEMA"] = ledger.schema_name
    return subprocess.run([HUBSYNC, "check", *args], env=env, check=False,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_check_names_the_missing_register_table_and_its_setting_and_exits_1(
    system: System, tmp_path: Path
) -> None:
    path = tmp_path / "register.db"
    register = SqlRegister(f"sqlite:///{path}")
    register.create_schema()
    register.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE dsr_outbox")
    url = f"sqlite:///{path}"

    as_json = _check(system, "--json", HUBSYNC_REGISTER__URL=url)
    as_text = _check(system, HUBSYNC_REGISTER__URL=url)

    assert as_json.returncode == 1, as_json.stderr
    report: dict[str, Any] = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert report["checks"]["register"]["ok"] is False
    assert report["checks"]["register"]["problems"] == [
        "table dsr_outbox is missing ([register] outbox_table)"
    ]
    assert report["checks"]["residency"]["ok"] is True  # only the register failed
    assert as_text.returncode == 1
    assert (
        "register: FAILED - not set up: table dsr_outbox is missing ([register] outbox_table)"
        in as_text.stdout
    )
    assert "hubsync register init" in as_text.stdout
    assert str(tmp_path) not in as_json.stdout + as_text.stdout


def test_check_says_when_the_register_database_does_not_exist(
    system: System, tmp_path: Path
) -> None:
    ran = _check(system, "--json", HUBSYNC_REGISTER__URL=f"sqlite:///{tmp_path / 'none.db'}")

    assert ran.returncode == 1
    register = json.loads(ran.stdout)["checks"]["register"]
    assert register["problems"] == ["the SQLite file named by [register] url does not exist"]
    assert not (tmp_path / "none.db").exists()


def test_check_of_an_http_register_names_a_missing_setting(system: System) -> None:
    ran = _check(
        system,
        "--json",
        HUBSYNC_REGISTER__KIND="http",
        HUBSYNC_REGISTER__URL="https://register.example.test",
    )

    assert ran.returncode == 1
    register = json.loads(ran.stdout)["checks"]["register"]
    assert register["problems"] == ["register.secret: required for an HTTP register"]


def test_check_passes_with_the_register_set_up(system: System) -> None:
    ran = _check(system, "--json", HUBSYNC_REGISTER__URL=system.settings.register.url)

    assert ran.returncode == 0, ran.stdout
    assert json.loads(ran.stdout)["checks"]["register"] == {
        "ok": True,
        "detail": "sql register: all three tables found",
        "problems": [],
    }
