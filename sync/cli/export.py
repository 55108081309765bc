"""The ``hubsync export`` command: a subject's data for the rights of access and portability.

Everything HubSpot and the register hold on one subject, as one JSON
document on stdout or in a file readable by its owner only. The operator
layer does the export and audits that it happened; this module shows a
progress bar while contacts are read and writes the document.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import structlog

from sync import bootstrap
from sync.cli.options import CliState, pass_state
from sync.cli.render import ExportProgress
from sync.handlers import access

log = structlog.get_logger("hubsync.cli")


@click.command("export")
@click.argument("subject_id")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write, readable by you only (default: stdout).",
)
@pass_state
def export_subject(state: CliState, subject_id: str, out: Path | None) -> None:
    """Everything HubSpot and the register hold on a subject, as one JSON document.

    For the rights of access and portability (GDPR Art. 15, 20). The
    document follows sync/schemas/access-export.schema.json; the export is
    audited (that it happened, never what it holds).
    """
    operator = state.operator()
    exporter = bootstrap.build_exporter(state.settings(), operator.ledger, operator.clock)
    progress = ExportProgress()
    try:
        document = operator.export(exporter, subject_id, progress)
    finally:
        progress.close()
        exporter.close()
    text = access.render(document)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            access.write_private(out, text)
        except OSError as exc:
            raise click.FileError(str(out), hint=type(exc).__name__) from exc
    log.info(
        access.EXPORTED,
        subject_id=subject_id,
        contacts_count=len(document["hubspot"]["contacts"]),
        register_records_count=int(document["register"] is not None),
    )
