"""The ``hubsync audit`` commands: verify the audit log's hash chain, export its rows.

``verify`` exits 1 and names the first bad row when the chain is broken;
``export`` writes the rows as JSON lines or CSV, to stdout or a file. The
rows carry pseudonyms, kinds and outcomes, never personal data.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TextIO

import click
import structlog

from sync.audit import EXPORT_FIELDS, AuditRow
from sync.cli.options import CliState, json_option, pass_state
from sync.cli.render import TIME, emit

log = structlog.get_logger("hubsync.cli")


@click.group()
def audit() -> None:
    """The audit log: verify its chain, export it."""


@audit.command("verify")
@json_option
@pass_state
def audit_verify(state: CliState, as_json: bool) -> None:
    """Check the hash chain; exits 1 and names the first bad row when it is broken."""
    result = state.operator().verify_audit()
    emit(
        state,
        as_json,
        result.as_dict(),
        lambda: click.echo(
            f"audit log intact: {result.rows} rows"
            if result.ok
            else f"audit log BROKEN at row {result.first_bad_row}: {result.reason}"
        ),
    )
    if not result.ok:
        log.error("audit_chain_broken", first_bad_row=result.first_bad_row, rows=result.rows)
        raise SystemExit(1)


def write_audit(rows: Iterable[AuditRow], fmt: str, out: TextIO) -> int:
    """Write audit rows as JSON lines or CSV; returns how many."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    if fmt == "csv":
        writer.writeheader()
    for row in rows:
        data = row.as_dict()
        if fmt == "jsonl":
            out.write(json.dumps(data, sort_keys=True) + "\n")
        else:
            flat = {
                k: ";".join(v) if isinstance(v, list) else ("" if v is None else v)
                for k, v in data.items()
            }
            writer.writerow(flat)
        count += 1
    return count


@audit.command("export")
@click.option("--since", type=TIME, help="Rows at or after this time.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--out", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
@pass_state
def audit_export(state: CliState, since: datetime | None, fmt: str, out: str | None) -> None:
    """Export the audit log (no personal data in it)."""
    rows = state.operator().audit_rows(since)
    if out is None:
        count = write_audit(rows, fmt, sys.stdout)
    else:
        with Path(out).open("w", encoding="utf-8", newline="") as handle:
            count = write_audit(rows, fmt, handle)
    log.info("audit_exported", rows=count)
