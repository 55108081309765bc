"""The ``hubsync outbox`` commands: register outbox rows hubsync cannot take.

A row of a sql register's outbox that is not a valid event (the rules of
``POST /v1/events``) is never stored and never acknowledged by hubsync: it
waits in the register, read past. ``status`` lists such rows (id, when
written, problems by field name); the register's operators either correct
the row in place (hubsync takes it on its next poll) or give it up with
``skip``, which goes through the operator layer and is audited.
"""

from __future__ import annotations

import click
import structlog

from sync.cli.options import CliState, json_option, pass_state
from sync.cli.render import echo_rows, emit
from sync.operator import OUTBOX_COUNTED

log = structlog.get_logger("hubsync.cli")

OUTBOX_SHOWN = 20  # rows listed by `outbox status`


@click.group()
def outbox() -> None:
    """The register's outbox rows that are not valid events, waiting for an operator."""


@outbox.command("status")
@json_option
@pass_state
def outbox_status(state: CliState, as_json: bool) -> None:
    """How many register outbox rows are not valid events, and why (no values).

    Correct a row in the register and hubsync takes it on its next poll;
    or give it up with ``outbox skip``.
    """
    state.json = as_json
    found = state.operator().outbox(OUTBOX_SHOWN)
    report = found.as_dict()

    def text() -> None:
        more = "+" if found.waiting >= OUTBOX_COUNTED else ""
        click.echo(f"outbox rows that are not valid events: {found.waiting}{more}")
        echo_rows(
            (
                (r["outbox_id"], r["written_at"] or "-", "; ".join(r["problems"]))
                for r in report["rows"]
            ),
            found.waiting,
        )

    emit(state, as_json, report, text)


@outbox.command("skip")
@click.argument("outbox_ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why these rows are given up (audited).")
@json_option
@pass_state
def outbox_skip(state: CliState, outbox_ids: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Give up register outbox rows that are not valid events; audited with the reason.

    Exit 1 when some id is not such a row (a valid row is hubsync's to take).
    """
    state.json = as_json
    skipped = state.operator().skip_outbox(outbox_ids, reason)
    log.info("outbox_rows_skipped", count=len(skipped))
    emit(
        state,
        as_json,
        {"skipped": skipped},
        lambda: click.echo(f"{len(skipped)} outbox row(s) skipped"),
    )
    if len(skipped) < len(set(outbox_ids)):
        raise SystemExit(1)
