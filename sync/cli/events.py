"""The event commands: ``submit``, ``events``, ``failed``, ``replay`` and ``skip``.

An operator submits a data-subject request bound for HubSpot, inspects
events and their deadlines, extends a deadline with a reason, and returns
dead-lettered events to pending or closes them. Each command parses its
arguments, calls ``sync.operator`` and renders the result; events are shown
without personal data.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import click
import structlog

from sync.cli.options import KINDS, ORIGINS, STATES, CliState, json_option, pass_state
from sync.cli.render import TIME, console, emit, events_table, progress, show_event
from sync.model import EventKind, EventState, Origin
from sync.operator import new_envelope

log = structlog.get_logger("hubsync.cli")


def _parse_set(values: Sequence[str]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for item in values:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise click.BadParameter("use FIELD=VALUE", param_hint="--set")
        changes[field.strip()] = value
    return changes


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--subject", "subject_id", required=True, help="The register's subject id.")
@click.option("--email", help="The subject's email address.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="A rectified field.")
@click.option("--subscription", "subscriptions", multiple=True, help="A subscription id.")
@click.option("--legal-basis", help="Legal basis, required for marketing_opt_in.")
@click.option("--reference", help="Your reference (a ticket number).")
@click.option("--event-id", help="The event id (default: generated).")
@click.option("--occurred-at", type=TIME, help="When the request was made (default: now).")
@json_option
@pass_state
def submit(
    state: CliState,
    kind: str,
    subject_id: str,
    email: str | None,
    sets: tuple[str, ...],
    subscriptions: tuple[str, ...],
    legal_basis: str | None,
    reference: str | None,
    event_id: str | None,
    occurred_at: datetime | None,
    as_json: bool,
) -> None:
    """Submit a data-subject request bound for HubSpot."""
    state.json = as_json
    operator = state.operator()
    envelope = new_envelope(
        EventKind(kind),
        subject_id,
        occurred_at or operator.clock.now(),
        event_id or f"op-{uuid.uuid4()}",
        email=email,
        changes=_parse_set(sets),
        subscription_ids=subscriptions,
        legal_basis=legal_basis,
        reference=reference,
    )
    result = operator.submit(envelope)
    log.info(
        "event_submitted",
        event_id=result.event_id,
        kind=kind,
        state=result.state.value,
        duplicate=result.duplicate,
    )
    emit(
        state,
        as_json,
        result.as_dict(),
        lambda: click.echo(
            f"{result.event_id}: {result.state.value}"
            + (" (duplicate, stored before)" if result.duplicate else "")
        ),
    )


@click.group()
def events() -> None:
    """Inspect events and their deadlines."""


@events.command("list")
@click.option("--status", "status_filter", type=click.Choice(STATES), help="Only this state.")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--subject", "subject_id", help="Only this subject.")
@click.option("--since", type=TIME, help="Received at or after (ISO time or 24h, 7d).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@json_option
@pass_state
def events_list(
    state: CliState,
    status_filter: str | None,
    kind: str | None,
    subject_id: str | None,
    since: datetime | None,
    limit: int,
    as_json: bool,
) -> None:
    """List events (without personal data)."""
    found = state.operator().events(
        state=EventState(status_filter) if status_filter else None,
        kind=EventKind(kind) if kind else None,
        subject_id=subject_id,
        since=since,
        limit=limit,
    )
    emit(
        state,
        as_json,
        {"events": [e.public() for e in found]},
        lambda: console().print(events_table(found, f"{len(found)} events")),
    )


@events.command("show")
@click.argument("event_id")
@click.option("--origin", type=click.Choice(ORIGINS), help="Needed if several origins use the id.")
@json_option
@pass_state
def events_show(state: CliState, event_id: str, origin: str | None, as_json: bool) -> None:
    """Show one event (without personal data)."""
    state.json = as_json
    event = state.operator().event(event_id, Origin(origin) if origin else None)
    emit(state, as_json, event.public(), lambda: show_event(event))


@events.command("extend")
@click.argument("event_id")
@click.option("--days", type=click.IntRange(min=1), required=True, help="Days to add.")
@click.option("--reason", required=True, help="Why (Art. 12(3)); no personal data.")
@click.option("--origin", type=click.Choice(ORIGINS))
@json_option
@pass_state
def events_extend(
    state: CliState, event_id: str, days: int, reason: str, origin: str | None, as_json: bool
) -> None:
    """Extend an event's deadline by up to two further months, with a reason."""
    state.json = as_json
    operator = state.operator()
    event = operator.extend(
        operator.event(event_id, Origin(origin) if origin else None), days, reason
    )
    log.info("deadline_extended", event_id=event.event_id, count=days)
    emit(state, as_json, event.public(), lambda: show_event(event))


@click.group()
def failed() -> None:
    """Dead-lettered events."""


@failed.command("list")
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--since", type=TIME)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@json_option
@pass_state
def failed_list(
    state: CliState, kind: str | None, since: datetime | None, limit: int, as_json: bool
) -> None:
    """List failed events with their last error."""
    found = state.operator().events(
        state=EventState.FAILED, kind=EventKind(kind) if kind else None, since=since, limit=limit
    )
    emit(
        state,
        as_json,
        {"events": [e.public() for e in found]},
        lambda: console().print(events_table(found, f"{len(found)} failed events")),
    )


@click.command()
@click.argument("event_ids", nargs=-1)
@click.option("--all", "all_failed", is_flag=True, help="Every failed event (with the filters).")
@click.option("--kind", type=click.Choice(KINDS), help="With --all: only this kind.")
@click.option("--since", type=TIME, help="With --all: received at or after.")
@click.option("--dry-run", is_flag=True, help="Show what would be replayed.")
@json_option
@pass_state
def replay(
    state: CliState,
    event_ids: tuple[str, ...],
    all_failed: bool,
    kind: str | None,
    since: datetime | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Return failed events to pending, by id or --all."""
    state.json = as_json
    if bool(event_ids) == all_failed:
        raise click.UsageError("give event ids, or --all (not both)")
    if (kind or since) and not all_failed:
        raise click.UsageError("--kind and --since filter --all")
    operator = state.operator()
    if all_failed:
        chosen = operator.events(
            state=EventState.FAILED,
            kind=EventKind(kind) if kind else None,
            since=since,
            limit=None,
        )
    else:
        chosen = [operator.event(event_id) for event_id in event_ids]
    if dry_run:
        replayed = chosen
    else:
        with progress(len(chosen), as_json) as bar:
            task = bar.add_task("replaying", total=len(chosen))
            replayed = operator.replay(chosen, lambda done: bar.advance(task, done))
        for event in replayed:
            log.info("event_replayed", event_id=event.event_id, kind=event.kind.value)
    emit(
        state,
        as_json,
        {"dry_run": dry_run, "events": [e.public() for e in replayed]},
        lambda: click.echo(
            f"{'would replay' if dry_run else 'replayed'} {len(replayed)} event(s)"
            + "".join(f"\n  {e.event_id} ({e.kind.value})" for e in replayed)
        ),
    )


@click.command()
@click.argument("event_id")
@click.option("--reason", required=True, help="Why it is closed; no personal data.")
@click.option("--origin", type=click.Choice(ORIGINS))
@json_option
@pass_state
def skip(state: CliState, event_id: str, reason: str, origin: str | None, as_json: bool) -> None:
    """Close a failed or pending event with a reason."""
    state.json = as_json
    operator = state.operator()
    event = operator.skip(operator.event(event_id, Origin(origin) if origin else None), reason)
    log.info("event_skipped", event_id=event.event_id, kind=event.kind.value)
    emit(state, as_json, event.public(), lambda: click.echo(f"{event.event_id}: skipped"))
