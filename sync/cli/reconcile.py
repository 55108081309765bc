"""``hubsync reconcile --dry-run``: every difference between HubSpot and the register, by class.

Reads both sides and the ledger (``sync.handlers.reconcile``), prints or writes the
report as a table, JSON or CSV, and leaves one audit row with the counts.
The report holds subject ids, contact ids, classes and field names, never
an email or a value. Only the dry run exists yet: ``--apply`` (repairs as
ledger events) comes later, so the flag is required.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import structlog
from rich.table import Table

from sync import bootstrap
from sync.cli.options import CliState, pass_state
from sync.cli.render import console
from sync.handlers.reconcile import ReconcileReport

log = structlog.get_logger("hubsync.cli")

CSV_FIELDS = ["class", "contact_ids", "subject_ids", "fields", "repair", "reason"]


def render_csv(report: ReconcileReport) -> str:
    """One row per drift; several ids or fields joined with ``;``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for drift in report.drifts:
        row = drift.as_dict()
        writer.writerow(
            {k: ";".join(v) if isinstance(v, list) else (v or "") for k, v in row.items()}
        )
    return out.getvalue()


def render_table(report: ReconcileReport) -> str:
    """Counts per class, then one line per drift."""
    out = io.StringIO()
    screen = console()
    screen.file = out
    counts = Table(title=f"reconcile {report.run_id} (dry run)")
    counts.add_column("class")
    counts.add_column("count", justify="right")
    for name, count in report.counts().items():
        counts.add_row(name, str(count))
    screen.print(counts)
    screen.print(f"{report.contacts} contacts, {report.subjects} register subjects compared")
    if report.drifts:
        drifts = Table()
        for column in ("class", "contacts", "subjects", "fields", "repair", "reason"):
            drifts.add_column(column)
        for d in report.drifts:
            drifts.add_row(
                d.drift_class.value,
                ",".join(d.contact_ids),
                ",".join(d.subject_ids),
                ",".join(d.field_names),
                d.repair.value,
                d.reason or "",
            )
        screen.print(drifts)
    return out.getvalue()


@click.command("reconcile")
@click.option("--dry-run", is_flag=True, help="Report the differences; change nothing.")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file (default: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@pass_state
def reconcile(state: CliState, dry_run: bool, report_file: Path | None, fmt: str) -> None:
    """Compare every HubSpot contact with the register and sort the differences into classes.

    Run it on a first install, after an outage, and periodically. Only
    ``--dry-run`` exists yet: it reads HubSpot, the register and the ledger,
    and writes nothing but one audit row with the counts.
    """
    if not dry_run:
        raise click.UsageError("only `hubsync reconcile --dry-run` is available yet")
    operator = state.operator()
    reconciler, register = bootstrap.build_reconciler(
        state.settings(), operator.ledger, operator.clock, operator.actor
    )
    try:
        report = reconciler.dry_run()
    finally:
        register.close()
    if fmt == "json":
        text = json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n"
    elif fmt == "csv":
        text = render_csv(report)
    else:
        text = render_table(report)
    if report_file is None:
        click.echo(text, nl=False)
    else:
        report_file.write_text(text, encoding="utf-8")
    log.info("reconcile_dry_run_finished", run_id=report.run_id, **report.counts())
