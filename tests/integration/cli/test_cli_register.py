"""`hubsync status` shows whether the register is set up; `hubsync register init` sets one up."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.integration.cli.conftest import CliEnv

TABLES = ["customers", "dsr_outbox", "dsr_notices"]


def _register(cli_env: CliEnv, tmp_path: Path) -> Path:
    """Point the CLI at a SQLite register in the test's directory (not created)."""
    path = tmp_path / "register" / "register.db"
    cli_env.env["HUBSYNC_REGISTER__URL"] = f"sqlite:///{path}"
    return path


def test_status_shows_the_register_state_by_the_missing_table_in_json_and_text(
    cli_env: CliEnv, tmp_path: Path
) -> None:
    path = _register(cli_env, tmp_path)
    assert cli_env.run("register", "init").code == 0
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE dsr_notices")

    as_json = cli_env.run("status", "--json")
    as_text = cli_env.run("status")

    assert as_json.code == 0, as_json.stderr  # status reports; `check` is the one that fails
    report = as_json.json()
    assert report["register"] == {
        "ready": False,
        "problems": ["table dsr_notices is missing ([register] notices_table)"],
    }
    assert {"by_state", "counters", "hubspot_daily_budget", "failed"} <= set(report)
    assert as_text.code == 0
    assert (
        "register: NOT SET UP - table dsr_notices is missing ([register] notices_table)"
        in as_text.stdout
    )


def test_register_init_creates_the_tables_once_and_status_then_shows_it_set_up(
    cli_env: CliEnv, tmp_path: Path
) -> None:
    path = _register(cli_env, tmp_path)

    before = cli_env.run("status", "--json").json()["register"]
    created = cli_env.run("register", "init", "--json")
    again = cli_env.run("register", "init")
    after = cli_env.run("status", "--json").json()["register"]
    text = cli_env.run("status")

    assert before == {
        "ready": False,
        "problems": ["the SQLite file named by [register] url does not exist"],
    }
    assert created.code == 0, created.stderr
    assert created.json() == {
        "tables": TABLES,
        "was": ["the SQLite file named by [register] url does not exist"],
        "ready": True,
        "problems": [],
    }
    assert path.exists()
    assert again.code == 0
    assert again.stdout == "register tables already there: customers, dsr_outbox, dsr_notices\n"
    assert after == {"ready": True, "problems": []}
    assert "register: set up" in text.stdout


def test_register_init_of_an_http_register_is_a_configuration_error(cli_env: CliEnv) -> None:
    cli_env.env["HUBSYNC_REGISTER__KIND"] = "http"
    cli_env.env["HUBSYNC_REGISTER__URL"] = "https://register.example.test"

    ran = cli_env.run("register", "init", "--json")

    assert ran.code == 2
    assert "[register] kind is http" in ran.stderr
