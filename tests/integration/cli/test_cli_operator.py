"""The operator's CLI end to end, as a subprocess, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sync.audit import Pseudonymizer
from sync.model import ErrorClass, ErrorInfo
from tests.contract.ledger_helpers import complete, record_failure
from tests.integration.cli.conftest import PSEUDONYM_KEY, CliEnv

EMAIL = "annika.lindqvist@example.se"
FIRST_NAME = "Annikaxyzzy"
LAST_NAME = "Lindqvistqux"
PERSONAL = (EMAIL, FIRST_NAME, LAST_NAME, "annika.lindqvist")


def _fail_event(cli_env: CliEnv, event_id: str) -> None:
    """Dead-letter an event the way the worker does, with a HubSpot-like error."""
    ledger = cli_env.ledger
    now = datetime.now(UTC)
    claimed = ledger.claim("test-worker", 10, now, timedelta(seconds=60))
    (event,) = [e for e in claimed if e.event_id == event_id]
    error = ErrorInfo(
        ErrorClass.PERMANENT,
        "http_403",
        http_status=403,
        correlation_id="5c2b8e1f-0000-4000-8000-000000000001",
        detail="HubSpot refused the batch update of firstname, lastname",
    )
    record_failure(ledger, "test-worker", event.seq, error, now, retry_at=None)


def test_submit_fail_replay_skip_leaves_no_personal_data_anywhere(cli_env: CliEnv) -> None:
    submitted = cli_env.run(
        "submit", "rectification", "--subject", "C-1001", "--email", EMAIL,
        "--set", f"first_name={FIRST_NAME}", "--set", f"last_name={LAST_NAME}",
        "--event-id", "reg-1", "--reference", "ticket-42", "--json",
    )  # fmt: skip
    assert submitted.code == 0, submitted.stderr
    assert submitted.json() == {"event_id": "reg-1", "state": "pending", "duplicate": False}
    _fail_event(cli_env, "reg-1")

    failed = cli_env.run("failed", "list", "--json")
    assert [e["event_id"] for e in failed.json()["events"]] == ["reg-1"]
    assert failed.json()["events"][0]["last_error"]["http_status"] == 403
    assert cli_env.run("failed", "list").code == 0
    shown = cli_env.run("events", "show", "reg-1", "--json").json()
    assert shown["state"] == "failed"
    assert shown["field_names"] == ["email", "first_name", "last_name"]

    replayed = cli_env.run("replay", "reg-1", "--json")
    assert replayed.code == 0, replayed.stderr
    assert [e["state"] for e in replayed.json()["events"]] == ["pending"]
    _fail_event(cli_env, "reg-1")
    skipped = cli_env.run("skip", "reg-1", "--reason", f"duplicate of ticket-41 ({EMAIL})")
    assert skipped.code == 0, skipped.stderr
    assert cli_env.run("events", "show", "reg-1", "--json").json()["state"] == "skipped"
    assert cli_env.run("events", "list").code == 0
    assert cli_env.run("status", "--json").json()["by_state"]["skipped"] == 1
    exported = cli_env.run("audit", "export", "--format", "jsonl")
    actions = [json.loads(line)["action"] for line in exported.stdout.splitlines()]
    assert actions == ["event_submitted", "event_replayed", "event_skipped"]

    everything_shown = "\n".join(r.stdout + r.stderr for r in cli_env.runs)
    audit_rows = json.dumps([r.as_dict() for r in cli_env.ledger.audit_rows()])
    (event,) = cli_env.ledger.find("reg-1")
    error_text = json.dumps(event.last_error.as_dict() if event.last_error else None)
    note = event.note or ""
    assert "event_submitted" in everything_shown  # the logs were captured at all
    for value in PERSONAL:
        assert value not in everything_shown
        assert value not in audit_rows
        assert value not in error_text
        assert value not in note


def test_submit_twice_with_the_same_event_id_is_stored_once(cli_env: CliEnv) -> None:
    args = ("submit", "marketing_opt_out", "--subject", "C-7", "--event-id", "reg-7", "--json")
    first = cli_env.run(*args).json()
    second = cli_env.run(*args).json()
    assert first == {"event_id": "reg-7", "state": "pending", "duplicate": False}
    assert second == {"event_id": "reg-7", "state": "pending", "duplicate": True}
    assert len(cli_env.run("events", "list", "--json").json()["events"]) == 1


def test_invalid_submit_exits_2_names_every_problem_and_stores_nothing(cli_env: CliEnv) -> None:
    ran = cli_env.run(
        "submit", "marketing_opt_in", "--subject", "C-8", "--email", "not-an-address",
        "--set", f"first_name={FIRST_NAME}", "--json",
    )  # fmt: skip
    assert ran.code == 2
    problems = ran.json()["error"]["message"]
    assert "email: not a valid email address" in problems
    assert "legal_basis" in problems
    assert "changes" in problems
    assert FIRST_NAME not in ran.stdout + ran.stderr
    assert "not-an-address" not in ran.stdout + ran.stderr
    assert cli_env.run("events", "list", "--json").json() == {"events": []}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--subject", "C-\udcff"], "subject_id: must hold printable"),  # the byte FF in argv
        (["--subject", "C-\x01"], "subject_id: must hold printable"),
        (["--subject", "C-1", "--event-id", "e\x1b[31m"], "event_id: must hold printable"),
        (["--subject", "C-1", "--email", "a@" + "." * 5000 + " "], "email: longer than 254"),
        (["--subject", "C-1", "--set", "first_name=Secret\x07"], "changes.first_name: must not"),
    ],
)
def test_a_submit_hubsync_cannot_store_exits_2_naming_the_field_and_stores_nothing(
    cli_env: CliEnv, args: list[str], problem: str
) -> None:
    ran = cli_env.run("submit", "rectification", *args, "--set", "phone=1", "--json")

    assert ran.code == 2, ran.stdout + ran.stderr
    assert problem in ran.json()["error"]["message"]
    assert "Secret" not in ran.stdout + ran.stderr
    assert cli_env.run("events", "list", "--json").json() == {"events": []}
    assert list(cli_env.ledger.audit_rows()) == []


def test_erasure_via_cli_supersedes_pending_and_refuses_later_events(cli_env: CliEnv) -> None:
    cli_env.run(
        "submit", "rectification", "--subject", "C-9", "--set", "phone=1", "--event-id", "a"
    )
    cli_env.run("submit", "erasure", "--subject", "C-9", "--event-id", "b")
    later = cli_env.run(
        "submit",
        "rectification",
        "--subject",
        "C-9",
        "--set",
        "phone=2",
        "--event-id",
        "c",
        "--json",
    )
    assert later.json()["state"] == "skipped"
    states = {
        e["event_id"]: (e["state"], e["note"])
        for e in cli_env.run("events", "list", "--subject", "C-9", "--json").json()["events"]
    }
    assert states["a"][0] == "superseded"
    assert states["b"] == ("pending", None)
    assert states["c"] == ("skipped", "subject_erased")


def test_replay_all_with_filters_and_dry_run(cli_env: CliEnv) -> None:
    for n, kind in enumerate(["marketing_opt_out", "restriction", "marketing_opt_out"]):
        cli_env.run("submit", kind, "--subject", f"S-{n}", "--event-id", f"e{n}")
        _fail_event(cli_env, f"e{n}")
    dry = cli_env.run("replay", "--all", "--kind", "marketing_opt_out", "--dry-run", "--json")
    assert sorted(e["event_id"] for e in dry.json()["events"]) == ["e0", "e2"]
    assert len(cli_env.run("failed", "list", "--json").json()["events"]) == 3
    done = cli_env.run("replay", "--all", "--since", "1h", "--json")
    assert sorted(e["event_id"] for e in done.json()["events"]) == ["e0", "e1", "e2"]
    assert cli_env.run("failed", "list", "--json").json()["events"] == []
    assert cli_env.run("replay", "e0", "--all").code == 2
    assert cli_env.run("replay", "e0").code == 1  # pending now, not failed


def test_audit_verify_names_a_row_changed_by_hand(
    cli_env: CliEnv, raw_sql: Callable[[str], None]
) -> None:
    for n in range(4):
        cli_env.run("submit", "restriction", "--subject", f"S-{n}", "--event-id", f"r{n}")
    assert cli_env.run("audit", "verify", "--json").json() == {
        "ok": True, "rows": 4, "first_bad_row": None, "reason": None,
    }  # fmt: skip
    raw_sql("UPDATE audit_log SET outcome = 'done' WHERE seq = 3")
    broken = cli_env.run("audit", "verify", "--json")
    assert broken.code == 1
    assert broken.json()["ok"] is False
    assert broken.json()["first_bad_row"] == 3


def test_audit_verify_names_a_row_deleted_by_hand(
    cli_env: CliEnv, raw_sql: Callable[[str], None]
) -> None:
    for n in range(4):
        cli_env.run("submit", "restriction", "--subject", f"S-{n}", "--event-id", f"r{n}")
    raw_sql("DELETE FROM audit_log WHERE seq = 2")
    broken = cli_env.run("audit", "verify", "--json")
    assert broken.code == 1
    assert broken.json()["first_bad_row"] == 2
    assert "BROKEN at row 2" in cli_env.run("audit", "verify").stdout


def test_audit_export_as_csv_has_a_header_and_one_line_per_row(cli_env: CliEnv) -> None:
    cli_env.run("submit", "restriction", "--subject", "S-1", "--event-id", "r1")
    cli_env.run("submit", "erasure", "--subject", "S-2", "--event-id", "r2")
    exported = cli_env.run("audit", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["event_id"] for r in rows] == ["r1", "r2"]
    assert rows[0]["subject_pseudonym"].startswith("sub_")
    assert "S-1" not in exported.stdout


def test_events_extend_moves_the_deadline_and_is_audited(cli_env: CliEnv) -> None:
    cli_env.run("submit", "access", "--subject", "S-1", "--event-id", "x1")
    before = cli_env.run("events", "show", "x1", "--json").json()["due_at"]
    extended = cli_env.run(
        "events", "extend", "x1", "--days", "30", "--reason", "complex", "--json"
    )
    assert extended.code == 0, extended.stderr
    after = extended.json()["due_at"]
    delta = datetime.fromisoformat(after) - datetime.fromisoformat(before)
    assert delta == timedelta(days=30)
    assert cli_env.run("events", "extend", "x1", "--days", "40", "--reason", "more").code == 1
    actions = [r.entry.action for r in cli_env.ledger.audit_rows()]
    assert actions == ["event_submitted", "deadline_extended"]


def test_writing_without_a_pseudonym_key_is_a_configuration_error(cli_env: CliEnv) -> None:
    del cli_env.env["HUBSYNC_AUDIT__PSEUDONYM_KEY"]
    ran = cli_env.run("submit", "restriction", "--subject", "S-1", "--json")
    assert ran.code == 2
    assert "HUBSYNC_AUDIT__PSEUDONYM_KEY" in ran.stderr
    assert cli_env.run("status", "--json").code == 0


def test_suppression_lift_needs_a_suppressed_address_and_is_audited(cli_env: CliEnv) -> None:
    cli_env.ledger.open(datetime.now(UTC))
    digest = Pseudonymizer(PSEUDONYM_KEY.encode()).email(EMAIL)
    cli_env.ledger.mark_erased("C-1", [("email", digest)], datetime.now(UTC))
    assert cli_env.ledger.is_suppressed(digest)
    lifted = cli_env.run(
        "suppression", "lift", "--email", EMAIL.upper(), "--reason", "new contract", "--json"
    )
    assert lifted.code == 0, lifted.stderr
    assert lifted.json() == {"lifted": True}
    assert not cli_env.ledger.is_suppressed(digest)
    assert cli_env.run("suppression", "lift", "--email", EMAIL, "--reason", "again").code == 1
    (row,) = list(cli_env.ledger.audit_rows())
    assert row.entry.action == "suppression_lifted"
    assert EMAIL not in json.dumps(row.as_dict())
    assert all(EMAIL not in r.stdout + r.stderr for r in cli_env.runs)


def test_retention_scrubs_only_events_finished_before_the_period(cli_env: CliEnv) -> None:
    cli_env.run("submit", "restriction", "--subject", "S-1", "--email", EMAIL, "--event-id", "old")
    cli_env.run("submit", "restriction", "--subject", "S-2", "--email", EMAIL, "--event-id", "new")
    now = datetime.now(UTC)
    held = cli_env.ledger.claim("w", 10, now, timedelta(seconds=60))
    by_id = {e.event_id: e.seq for e in held}
    complete(cli_env.ledger, "w", [by_id["old"]], now - timedelta(days=31))
    complete(cli_env.ledger, "w", [by_id["new"]], now - timedelta(days=29))
    ran = cli_env.run("retention", "--json")
    assert ran.code == 0, ran.stderr
    assert ran.json()["payloads_scrubbed"] == 1
    assert cli_env.run("events", "show", "old", "--json").json()["scrubbed"] is True
    assert cli_env.run("events", "show", "new", "--json").json()["scrubbed"] is False
    (old,) = cli_env.ledger.find("old")
    assert old.payload is None
