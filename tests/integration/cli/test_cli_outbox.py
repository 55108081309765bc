"""``hubsync outbox``: register outbox rows that are not valid events, seen and skipped.

Such a row is never stored in the ledger and never acknowledged by hubsync
on its own: ``status`` counts it, ``outbox status`` lists it by id with its
problems by field name (never a value), and ``outbox skip`` gives it up,
audited with a vocabulary action before the register acknowledges it.
A row corrected in the register is taken like any other.
"""

from __future__ import annotations

from pathlib import Path

from connectors.register.sql import SqlRegister
from sync.audit import AuditAction
from sync.model import EventKind
from tests.integration.cli.conftest import CliEnv
from tests.integration.register.events import register_side

NOT_AN_ADDRESS = "spaces, control characters or lone surrogates"
VOCABULARY = {value for name, value in vars(AuditAction).items() if name.isupper()}


def _register(cli_env: CliEnv, tmp_path: Path) -> SqlRegister:
    """A SQLite register the CLI is pointed at: one bad row, one good row behind it."""
    url = f"sqlite:///{tmp_path / 'register.db'}"
    cli_env.env["HUBSYNC_REGISTER__URL"] = url
    register = SqlRegister(url)
    register.create_schema()
    register.add_customer("C-1", email="anna@example.se", first_name="Anna")
    register.write_outbox(
        register_side("bad-1", EventKind.MARKETING_OPT_OUT, "C-1", email="anna@example.se ")
    )
    register.write_outbox(register_side("good-1", EventKind.MARKETING_OPT_OUT, "C-1"))
    return register


def _waiting(register: SqlRegister) -> list[str]:
    with register.db.transaction() as cur:
        rows = cur.execute(
            "SELECT event_id FROM dsr_outbox WHERE acknowledged_at IS NULL ORDER BY id"
        ).fetchall()
    return [r[0] for r in rows]


def test_an_invalid_outbox_row_is_counted_listed_and_skipped_with_an_audit_row(
    cli_env: CliEnv, tmp_path: Path
) -> None:
    register = _register(cli_env, tmp_path)

    status = cli_env.run("status", "--json")
    text = cli_env.run("status")
    listed = cli_env.run("outbox", "status", "--json")
    listed_text = cli_env.run("outbox", "status")

    assert status.json()["register_outbox_invalid"] == 1
    assert "register outbox rows that are not valid events: 1" in text.stdout
    assert listed.json() == {
        "invalid": 1,
        "rows": [
            {
                "outbox_id": "1",
                "written_at": listed.json()["rows"][0]["written_at"],
                "problems": [f"email: not a valid email address ({NOT_AN_ADDRESS})"],
            }
        ],
    }
    assert listed.json()["rows"][0]["written_at"].endswith("Z")
    assert "  1  " in listed_text.stdout
    assert "email: not a valid email address" in listed_text.stdout

    refused = cli_env.run("outbox", "skip", "2", "--reason", "not mine", "--json")
    skipped = cli_env.run(
        "outbox", "skip", "1", "--reason", "typo from anna@example.se, re-sent", "--json"
    )
    again = cli_env.run("outbox", "skip", "1", "--reason", "twice", "--json")

    assert (refused.code, refused.json()) == (1, {"skipped": []})  # a valid row is hubsync's
    assert (skipped.code, skipped.json()) == (0, {"skipped": ["1"]})
    assert (again.code, again.json()) == (1, {"skipped": []})
    assert _waiting(register) == ["good-1"]
    assert cli_env.run("outbox", "status", "--json").json() == {"invalid": 0, "rows": []}
    rows = [r.entry for r in cli_env.ledger.audit_rows()]
    assert [(e.action, e.outcome, e.system) for e in rows] == [
        (AuditAction.OUTBOX_ROWS_SKIPPED, "1 skipped", "register")
    ]
    assert rows[0].action in VOCABULARY
    assert rows[0].detail == "outbox ids 1: typo from [email], re-sent"
    everything = "".join(r.stdout + r.stderr for r in cli_env.runs)
    assert "anna" not in everything.lower()
    assert cli_env.run("audit", "verify", "--json").json()["ok"] is True
    register.close()


def test_without_a_register_status_still_answers_and_outbox_status_names_the_cause(
    cli_env: CliEnv, tmp_path: Path
) -> None:
    cli_env.env["HUBSYNC_REGISTER__URL"] = f"sqlite:///{tmp_path / 'absent' / 'register.db'}"

    status = cli_env.run("status", "--json")
    listed = cli_env.run("outbox", "status")

    assert status.code == 0, status.stderr
    assert status.json()["register_outbox_invalid"] is None
    assert listed.code != 0
    assert "register" in listed.stderr
    assert "Traceback" not in listed.stderr
