"""The ``hubsync inbox`` commands: HubSpot webhook events stored by the intake.

``status`` counts them by state and lists the failed ones (key, when,
why); ``replay`` puts every failed one back to be processed again; ``skip``
gives some up with a reason. Both changes are audited.
"""

from __future__ import annotations

from typing import Any

import click
import structlog

from sync.audit import AuditEntry
from sync.cli.options import CliState, json_option, pass_state
from sync.cli.render import emit
from sync.operator import Operator, mask

log = structlog.get_logger("hubsync.cli")

INBOX_SHOWN = 20  # failed inbox rows listed by `inbox status`
INBOX_STATES = ("pending", "failed", "done", "skipped")


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
    ledger = state.operator().ledger
    counts = ledger.webhook_states()
    report: dict[str, Any] = {s: counts.get(s, 0) for s in INBOX_STATES}
    rows = ledger.set_aside_webhooks(INBOX_SHOWN)
    report["failed_items"] = [
        {
            "receipt_key": r.receipt_key,
            "received_at": r.received_at.isoformat(),
            "problem": r.problem,
        }
        for r in rows
    ]

    def text() -> None:
        click.echo(", ".join(f"{name}: {report[name]}" for name in INBOX_STATES))
        for row in rows:
            why = row.problem or "failed while processing (see the audit log)"
            click.echo(f"  {row.receipt_key}  {row.received_at.isoformat()}  {why}")
        if report["failed"] > len(rows):
            click.echo(f"  ... and {report['failed'] - len(rows)} more")

    emit(state, as_json, report, text)


@inbox.command("skip")
@click.argument("receipt_keys", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why these events are given up (audited).")
@json_option
@pass_state
def inbox_skip(state: CliState, receipt_keys: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Give up failed webhook events (their payload is scrubbed); audited with the reason."""
    state.json = as_json
    operator = state.operator()
    skipped = operator.ledger.skip_webhooks(list(receipt_keys), operator.clock.now())
    _audit_inbox(operator, "webhooks_skipped", f"{skipped} skipped", detail=mask(reason)[:200])
    log.info("webhooks_skipped", count=skipped)
    emit(
        state,
        as_json,
        {"skipped": skipped},
        lambda: click.echo(f"{skipped} webhook event(s) skipped"),
    )
    if skipped < len(set(receipt_keys)):
        raise click.exceptions.Exit(1)


@inbox.command("replay")
@json_option
@pass_state
def inbox_replay(state: CliState, as_json: bool) -> None:
    """Put every failed webhook event back to be processed again; audited."""
    state.json = as_json
    operator = state.operator()
    replayed = operator.ledger.replay_webhooks()
    _audit_inbox(operator, "webhooks_replayed", f"{replayed} replayed")
    log.info("webhooks_replayed", count=replayed)
    emit(
        state,
        as_json,
        {"replayed": replayed},
        lambda: click.echo(f"{replayed} webhook event(s) back to pending"),
    )


def _audit_inbox(operator: Operator, action: str, outcome: str, detail: str | None = None) -> None:
    """One audit row for an operator's action on the webhook inbox (no subject, no event)."""
    entry = AuditEntry(
        at=operator.clock.now(),
        actor=operator.actor,
        action=action,
        direction="to_register",
        system="hubsync",
        subject_pseudonym=None,
        kind=None,
        event_id=None,
        outcome=outcome,
        detail=detail,
    )
    operator.ledger.append_audit([entry])
