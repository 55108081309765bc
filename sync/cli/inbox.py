"""The ``hubsync inbox`` commands: HubSpot webhook events stored by the intake.

``status`` counts them by state and lists the failed ones (key, when,
why); ``replay`` puts every failed one back to be processed again; ``skip``
gives some up with a reason. Both changes go through the operator layer,
which audits each in the transaction that makes it.
"""

from __future__ import annotations

import click
import structlog

from sync.cli.options import CliState, json_option, pass_state
from sync.cli.render import echo_rows, emit
from sync.operator import INBOX_STATES
from sync.timefmt import iso_utc

log = structlog.get_logger("hubsync.cli")

INBOX_SHOWN = 20  # failed inbox rows listed by `inbox status`
PROCESSING_FAILED = "failed while processing (see the audit log)"


@click.group()
def inbox() -> None:
    """HubSpot webhook events stored by the intake, before and after processing."""


@inbox.command("status")
@json_option
@pass_state
def inbox_status(state: CliState, as_json: bool) -> None:
    """Webhook events by state, and the failed ones (key, when, why) for an operator.

    pending: to process; failed: set aside (a malformed item of a signed
    batch, or an event that failed for good), waiting for ``inbox replay`` or
    ``inbox skip``; done and skipped: finished.
    """
    state.json = as_json
    found = state.operator().inbox(INBOX_SHOWN)
    report = found.as_dict()

    def text() -> None:
        click.echo(", ".join(f"{name}: {report[name]}" for name in INBOX_STATES))
        echo_rows(
            (
                (r.receipt_key, iso_utc(r.received_at), r.problem or PROCESSING_FAILED)
                for r in found.failed_items
            ),
            report["failed"],
        )

    emit(state, as_json, report, text)


@inbox.command("skip")
@click.argument("receipt_keys", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why these events are given up (audited).")
@json_option
@pass_state
def inbox_skip(state: CliState, receipt_keys: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Give up failed webhook events (their payload is scrubbed); audited with the reason."""
    state.json = as_json
    skipped = state.operator().skip_webhooks(receipt_keys, reason)
    log.info("webhooks_skipped", count=skipped)
    emit(
        state,
        as_json,
        {"skipped": skipped},
        lambda: click.echo(f"{skipped} webhook event(s) skipped"),
    )
    if skipped < len(set(receipt_keys)):
        raise SystemExit(1)


@inbox.command("replay")
@json_option
@pass_state
def inbox_replay(state: CliState, as_json: bool) -> None:
    """Put every failed webhook event back to be processed again; audited."""
    state.json = as_json
    replayed = state.operator().replay_webhooks()
    log.info("webhooks_replayed", count=replayed)
    emit(
        state,
        as_json,
        {"replayed": replayed},
        lambda: click.echo(f"{replayed} webhook event(s) back to pending"),
    )
