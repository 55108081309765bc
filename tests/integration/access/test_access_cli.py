"""`hubsync export` as an operator runs it: the document, its file, its audit row, exit codes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from connectors.register.sql import SqlRegister
from sync.audit import Pseudonymizer
from sync.ledger.sql import SqlLedger
from sync.settings import Settings
from tests.integration.access.conftest import (
    EMAIL,
    FIRST_NAME,
    LAST_NAME,
    PERSONAL,
    PSEUDONYM_KEY,
    TOKEN,
    Hub,
    validate,
)

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    if settings.hubspot.access_token is not None:
        env["HUBSYNC_HUBSPOT__ACCESS_TOKEN"] = TOKEN
    env.update(
        {
            "HUBSYNC_LEDGER__URL": settings.ledger.url,
            "HUBSYNC_HUBSPOT__BASE_URL": settings.hubspot.base_url,
            "HUBSYNC_AUDIT__PSEUDONYM_KEY": PSEUDONYM_KEY,
            "HUBSYNC_REGISTER__URL": settings.register.url,
            "HUBSYNC_LOGGING__FORMAT": "json",
            "HUBSYNC_LOGGING__LEVEL": "debug",
        }
    )
    if settings.ledger.schema_name:
        env["HUBSYNC_LEDGER__SCHEMA"] = settings.ledger.schema_name
    return subprocess.run(
        [HUBSYNC, "--actor", "dpo", *args],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_no_personal_data(text: str) -> None:
    for value in PERSONAL:
        assert value not in text


def test_export_to_a_file_is_private_valid_complete_and_audited_without_personal_data(
    hub: Hub, settings: Settings, ledger: SqlLedger, register: SqlRegister, tmp_path: Path
) -> None:
    contact_id = hub.form(EMAIL, firstname=FIRST_NAME, lastname=LAST_NAME)
    register.add_customer("C-1", email=EMAIL, first_name=FIRST_NAME, last_name=LAST_NAME)
    out = tmp_path / "out" / "C-1.json"

    ran = _run(settings, "export", "C-1", "--out", str(out))

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text(encoding="utf-8"))
    validate(document)
    (contact,) = document["hubspot"]["contacts"]
    assert contact["properties"] == hub.contact(contact_id)["properties"]
    assert document["register"]["first_name"] == FIRST_NAME
    rows = list(ledger.audit_rows())
    assert [r.entry.action for r in rows] == ["subject_exported"]
    entry = rows[0].entry
    assert (entry.actor, entry.kind, entry.outcome) == ("dpo", "access", "done")
    assert entry.subject_pseudonym == Pseudonymizer(PSEUDONYM_KEY.encode()).subject("C-1")
    assert entry.detail == "hubspot contacts: 1; register record: yes"
    _assert_no_personal_data(json.dumps(rows[0].as_dict()))
    _assert_no_personal_data(ran.stderr)
    assert '"event": "subject_exported"' in ran.stderr


def test_export_without_out_prints_the_document_on_stdout(
    hub: Hub, settings: Settings, ledger: SqlLedger, register: SqlRegister
) -> None:
    hub.form(EMAIL, firstname=FIRST_NAME)
    ledger.remember_subject("C-1", datetime.now(UTC), email=EMAIL)

    ran = _run(settings, "export", "C-1")

    assert ran.returncode == 0, ran.stderr
    document = json.loads(ran.stdout)
    validate(document)
    assert document["register"] is None
    assert document["hubspot"]["contacts"][0]["properties"]["firstname"] == FIRST_NAME
    _assert_no_personal_data(ran.stderr)


def test_export_of_several_contacts_shows_progress_on_stderr_without_names(
    hub: Hub, settings: Settings, ledger: SqlLedger, register: SqlRegister, tmp_path: Path
) -> None:
    ids = [hub.form(f"karin.sjoberg{i}@example.se", lastname=LAST_NAME) for i in range(3)]
    ledger.remember_subject("C-1", datetime.now(UTC), contact_ids=ids)

    ran = _run(settings, "export", "C-1", "--out", str(tmp_path / "C-1.json"))

    assert ran.returncode == 0, ran.stderr
    assert "reading HubSpot contacts" in ran.stderr
    _assert_no_personal_data(ran.stderr)


def test_export_of_an_unknown_subject_exits_1_naming_it_and_audits_nothing(
    hub: Hub, settings: Settings, ledger: SqlLedger, register: SqlRegister, tmp_path: Path
) -> None:
    out = tmp_path / "C-404.json"

    ran = _run(settings, "export", "C-404", "--out", str(out))

    assert ran.returncode == 1
    assert "no subject C-404: neither the ledger nor the register knows it" in ran.stderr
    assert ran.stdout == ""
    assert not out.exists()
    assert list(ledger.audit_rows()) == []
    assert hub.calls() == []


def test_export_without_a_hubspot_token_is_a_configuration_error(
    settings: Settings, register: SqlRegister
) -> None:
    ran = _run(settings.model_copy(update={"hubspot": settings.hubspot.model_copy(
        update={"access_token": None})}), "export", "C-1")  # fmt: skip
    assert ran.returncode == 2
    assert "HUBSYNC_HUBSPOT__ACCESS_TOKEN" in ran.stderr


def test_export_with_the_register_not_set_up_names_the_missing_table_and_exits_1(
    hub: Hub, settings: Settings, ledger: SqlLedger, register: SqlRegister, tmp_path: Path
) -> None:
    hub.form(EMAIL, firstname=FIRST_NAME, lastname=LAST_NAME)
    register_file = settings.register.url.removeprefix("sqlite:///")
    with sqlite3.connect(register_file) as conn:
        conn.execute("DROP TABLE customers")
    out = tmp_path / "C-1.json"

    ran = _run(settings, "export", "C-1", "--out", str(out))

    assert ran.returncode == 1
    assert (
        "error: the register is not set up: "
        "table customers is missing ([register] customers_table)" in ran.stderr
    )
    assert "OperationalError" not in ran.stderr
    assert ran.stdout == ""
    assert not out.exists()
    assert list(ledger.audit_rows()) == []
    _assert_no_personal_data(ran.stderr)


def test_export_with_no_register_database_says_it_does_not_exist_and_creates_none(
    hub: Hub, settings: Settings, ledger: SqlLedger
) -> None:
    ran = _run(settings, "export", "C-1")

    assert ran.returncode == 1
    assert (
        "the register is not set up: the SQLite file named by [register] url does not exist"
        in ran.stderr
    )
    assert not Path(settings.register.url.removeprefix("sqlite:///")).exists()
