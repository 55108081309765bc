"""The ``hubsync`` command: the operator's tool.

Thin: parses arguments, calls ``sync.operator``, renders tables (rich) or
one JSON document on stdout (``--json``). Exit codes: 0 ok, 1 a check or
operation failed, 2 usage or configuration error. Nothing printed carries a
payload: events are shown by id, kind, state and field names.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import click
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sync import access, bootstrap, logs, serve
from sync.audit import EXPORT_FIELDS, AuditEntry, AuditRow
from sync.errors import ConfigurationError, HubsyncError, InvalidEvent, UnstorableInput
from sync.model import EventKind, EventState, Origin, StoredEvent
from sync.operator import Operator, mask, new_envelope
from sync.settings import Settings, load_settings

log = structlog.get_logger("hubsync.cli")

KINDS = [k.value for k in EventKind]
STATES = [s.value for s in EventState]
ORIGINS = [o.value for o in Origin]
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
REPLAY_BATCH = 100
PROGRESS_THRESHOLD = 50
INBOX_SHOWN = 20  # failed inbox rows listed by `inbox status`
INBOX_STATES = ("pending", "failed", "done", "skipped")
"""Off a terminal, long operations of this many items or more still show a progress bar."""


@dataclass
class CliState:
    """What the commands share: options of the group, and whether output is JSON."""

    config: str | None = None
    actor: str | None = None
    json: bool = False
    _settings: Settings | None = None
    _operator: Operator | None = None

    def settings(self) -> Settings:
        """Settings, loaded once; logging is configured from them."""
        if self._settings is None:
            self._settings = load_settings(self.config)
            logs.configure(self._settings.logging.level, self._settings.logging.format)
        return self._settings

    def operator(self) -> Operator:
        """The operator over the opened ledger."""
        if self._operator is None:
            self._operator = bootstrap.build_operator(self.settings(), actor=self.actor)
        return self._operator


pass_state = click.make_pass_decorator(CliState)
json_option = click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")


def _console() -> Console:
    # Off a terminal rich would wrap tables at 80 columns and cut ids short.
    return Console(width=None if sys.stdout.isatty() else 200)


def _emit(state: CliState, as_json: bool, document: Any, human: Callable[[], None]) -> None:
    state.json = as_json
    if as_json:
        click.echo(json.dumps(document, sort_keys=True, default=str))
    else:
        human()


def parse_time(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no zone is given) or an age such as ``30m``, ``24h``, ``7d``."""
    match = RELATIVE.match(value.strip())
    if match:
        amount, unit = match.groups()
        return (now or datetime.now(UTC)) - timedelta(seconds=float(amount) * UNITS[unit])
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            "use ISO 8601 (2026-11-27T10:00:00Z) or an age (24h, 7d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class TimeParam(click.ParamType):  # type: ignore[type-arg]
    """A click parameter for :func:`parse_time`."""

    name = "time"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        """Parse, or fail with a usage error (exit 2)."""
        if isinstance(value, datetime):
            return value
        return parse_time(str(value))


TIME = TimeParam()


@click.group()
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    envvar="HUBSYNC_CONFIG",
    help="TOML configuration file (also HUBSYNC_CONFIG).",
)
@click.option("--actor", help="Who is acting, for the audit log (default: cli:<login>).")
@click.version_option(package_name="hubsync")
@click.pass_context
def cli(ctx: click.Context, config: str | None, actor: str | None) -> None:
    """hubsync keeps HubSpot consistent with your register for GDPR data-subject rights."""
    state = ctx.ensure_object(CliState)
    state.config = config
    state.actor = actor


# -- submit ---------------------------------------------------------------


def _parse_set(values: Sequence[str]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for item in values:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise click.BadParameter("use FIELD=VALUE", param_hint="--set")
        changes[field.strip()] = value
    return changes


@cli.command()
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
    _emit(
        state,
        as_json,
        result.as_dict(),
        lambda: click.echo(
            f"{result.event_id}: {result.state.value}"
            + (" (duplicate, stored before)" if result.duplicate else "")
        ),
    )


# -- events -----------------------------------------------------------------


def _events_table(events: Iterable[StoredEvent], title: str) -> Table:
    table = Table(title=title)
    for column in ("event_id", "kind", "origin", "subject", "state", "att", "due", "error/note"):
        table.add_column(column)
    for e in events:
        error = e.last_error.code if e.last_error else ""
        if e.last_error and e.last_error.http_status:
            error += f" ({e.last_error.http_status})"
        table.add_row(
            e.event_id,
            e.kind.value,
            e.origin.value,
            e.subject_id,
            e.state.value,
            str(e.attempts),
            e.due_at.strftime("%Y-%m-%d"),
            error or (e.note or ""),
        )
    return table


@cli.group()
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
    _emit(
        state,
        as_json,
        {"events": [e.public() for e in found]},
        lambda: _console().print(_events_table(found, f"{len(found)} events")),
    )


def _show_event(event: StoredEvent) -> None:
    for key, value in event.public().items():
        click.echo(f"{key:>18}: {value if value is not None else '-'}")


@events.command("show")
@click.argument("event_id")
@click.option("--origin", type=click.Choice(ORIGINS), help="Needed if several origins use the id.")
@json_option
@pass_state
def events_show(state: CliState, event_id: str, origin: str | None, as_json: bool) -> None:
    """Show one event (without personal data)."""
    state.json = as_json
    event = state.operator().event(event_id, Origin(origin) if origin else None)
    _emit(state, as_json, event.public(), lambda: _show_event(event))


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
    _emit(state, as_json, event.public(), lambda: _show_event(event))


# -- status, failed, replay, skip --------------------------------------------


def _print_status(report: dict[str, Any]) -> None:
    console = _console()
    kinds = sorted(report["by_kind"])
    table = Table(title="events by state and kind")
    table.add_column("state")
    for kind in kinds:
        table.add_column(kind, justify="right")
    table.add_column("all", justify="right")
    for name, count in report["by_state"].items():
        by_kind = [str(report["by_kind"][k].get(name, 0)) for k in kinds]
        table.add_row(name, *by_kind, str(count))
    console.print(table)
    age = report["oldest_ready_age_s"]
    console.print(f"oldest ready event: {'-' if age is None else f'{age:.0f} s'}")
    console.print(f"due within 7 days: {report['due_within_7_days']}")
    console.print(f"overdue: {report['overdue']}")
    console.print(f"failed: {report['failed']}")
    budget = report["hubspot_daily_budget"]
    if budget is not None:
        console.print(
            f"HubSpot daily budget: {budget['used']} of {budget['limit']} calls "
            f"({budget['ratio']:.1%})"
        )
    register = report.get("register")
    if register is not None:
        console.print(
            "register: set up"
            if register["ready"]
            else f"register: NOT SET UP - {'; '.join(register['problems'])}",
            highlight=False,
            markup=False,
        )
    counters = Table(title="counted by every process")
    counters.add_column("counter")
    counters.add_column("total", justify="right")
    for name, total in report["counters"].items():
        counters.add_row(name, str(total))
    console.print(counters)


@cli.command()
@json_option
@pass_state
def status(state: CliState, as_json: bool) -> None:
    """Events by state and kind, deadlines, oldest ready age, counters, HubSpot's daily budget.

    And whether the register is set up (``register``: ready, and what is missing).
    """
    report = state.operator().status().as_dict()
    _emit(state, as_json, report, lambda: _print_status(report))


@cli.group()
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
    _emit(
        state,
        as_json,
        {"events": [e.public() for e in found]},
        lambda: _console().print(_events_table(found, f"{len(found)} failed events")),
    )


def _progress(total: int, as_json: bool) -> Progress:
    """A progress bar on stderr: on a terminal, or off one for PROGRESS_THRESHOLD items or more.

    Never with ``--json`` (scripts read that output), and never on stdout.
    """
    err = Console(stderr=True)
    shown = not as_json and total > 0 and (err.is_terminal or total >= PROGRESS_THRESHOLD)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not shown,
    )


@cli.command()
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
        replayed = []
        with _progress(len(chosen), as_json) as bar:
            task = bar.add_task("replaying", total=len(chosen))
            for start in range(0, len(chosen), REPLAY_BATCH):
                batch = chosen[start : start + REPLAY_BATCH]
                replayed.extend(operator.replay(batch))
                bar.advance(task, len(batch))
        for event in replayed:
            log.info("event_replayed", event_id=event.event_id, kind=event.kind.value)
    _emit(
        state,
        as_json,
        {"dry_run": dry_run, "events": [e.public() for e in replayed]},
        lambda: click.echo(
            f"{'would replay' if dry_run else 'replayed'} {len(replayed)} event(s)"
            + "".join(f"\n  {e.event_id} ({e.kind.value})" for e in replayed)
        ),
    )


@cli.command()
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
    _emit(state, as_json, event.public(), lambda: click.echo(f"{event.event_id}: skipped"))


# -- audit --------------------------------------------------------------------


@cli.group()
def audit() -> None:
    """The audit log: verify its chain, export it."""


@audit.command("verify")
@json_option
@pass_state
def audit_verify(state: CliState, as_json: bool) -> None:
    """Check the hash chain; exits 1 and names the first bad row when it is broken."""
    result = state.operator().verify_audit()
    _emit(
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


# -- export (access and portability) ---------------------------------------------


class _ExportProgress:
    """A progress bar on stderr once an export has several contacts to read.

    It starts on the first report of more than one contact, so a plain
    export prints nothing but the document. It names no person.
    """

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total < 2:
            return
        if self._bar is None:
            self._bar = Progress(console=Console(stderr=True))
            self._bar.start()
            self._task = self._bar.add_task("reading HubSpot contacts", total=total)
        self._bar.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@cli.command("export")
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
    progress = _ExportProgress()
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


# -- run, check -------------------------------------------------------------------


@cli.command()
@click.option("--no-server", is_flag=True, help="Run the worker alone.")
@click.option("--no-worker", is_flag=True, help="Run the intake server alone.")
@click.option("--once", is_flag=True, help="Work until nothing is ready, then exit (no server).")
@pass_state
def run(state: CliState, no_server: bool, no_worker: bool, once: bool) -> None:
    """Run the intake server and the worker in one process until SIGTERM or Ctrl-C.

    The server answers in the main thread (uvicorn), the worker works in
    another; a stop request ends both, the worker after finishing its round.
    """
    if no_server and no_worker:
        raise click.UsageError("--no-server and --no-worker leave nothing to run")
    if once and no_worker:
        raise click.UsageError("--once runs the worker: it cannot be combined with --no-worker")
    settings = state.settings()
    worker = None if no_worker else bootstrap.build_worker(settings)
    if worker is not None and once:
        handled = worker.run_until_idle()
        log.info("worker_idle", count=handled)
        return
    stop = threading.Event()
    if no_server:
        assert worker is not None
        _on_stop_signals(stop)
        worker.run(stop)
        return
    _serve(settings, worker, stop)


def _on_stop_signals(stop: threading.Event, also: Callable[[], None] = lambda: None) -> None:
    def request_stop(signum: int, frame: object) -> None:
        log.info("stop_requested", code=signal.Signals(signum).name)
        stop.set()
        also()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def _serve(settings: Settings, worker: Any, stop: threading.Event) -> None:
    """uvicorn in this thread, the worker (if any) in another, sharing ``stop``."""
    app = bootstrap.build_intake(settings)
    host, port = settings.server.host, settings.server.port
    try:
        sock = serve.bind(host, port)
    except OSError as exc:
        raise ConfigurationError(
            f"[server] cannot listen on {host}:{port} ({type(exc).__name__})"
        ) from exc
    server = serve.server_for(app, host, int(sock.getsockname()[1]))

    def work() -> None:
        try:
            worker.run(stop)
        finally:
            server.should_exit = True  # a worker that dies takes the server with it

    # uvicorn handles SIGTERM/SIGINT while it serves, then hands the signal on to these.
    _on_stop_signals(stop, also=lambda: setattr(server, "should_exit", True))
    thread = threading.Thread(target=work, name="worker") if worker is not None else None
    if thread is not None:
        thread.start()
    log.info("server_started", host=host, port=int(sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        sock.close()
        log.info("server_stopped")


@cli.command()
@json_option
@pass_state
def check(state: CliState, as_json: bool) -> None:
    """Check settings, register, HubSpot reachability, scopes and residency; exit 1 on a failure.

    Names each missing register table or setting and each missing scope.
    """
    state.json = as_json
    settings = state.settings()
    report = bootstrap.check(settings)
    _emit(
        state,
        as_json,
        report,
        lambda: click.echo(
            "\n".join(
                f"{name}: {'ok' if part['ok'] else 'FAILED'} - {part['detail']}"
                for name, part in report["checks"].items()
            )
        ),
    )
    if not report["ok"]:
        raise SystemExit(1)


# -- suppression, retention ----------------------------------------------------


@cli.group()
def suppression() -> None:
    """The suppression list of erased email addresses and contact ids."""


@suppression.command("lift")
@click.option("--email", required=True, help="The address that may be processed again.")
@click.option("--reason", required=True, help="Why (a new relationship); no personal data.")
@json_option
@pass_state
def suppression_lift(state: CliState, email: str, reason: str, as_json: bool) -> None:
    """Lift the suppression of an erased address (the person came back); audited."""
    state.json = as_json
    lifted = state.operator().lift_suppression(email, reason)
    log.info("suppression_lifted" if lifted else "suppression_not_found", ok=lifted)
    _emit(
        state,
        as_json,
        {"lifted": lifted},
        lambda: click.echo("suppression lifted" if lifted else "that address is not suppressed"),
    )
    if not lifted:
        raise SystemExit(1)


@cli.command()
@json_option
@pass_state
def retention(state: CliState, as_json: bool) -> None:
    """Scrub personal data from events finished longer ago than [retention] payload_days."""
    state.json = as_json
    counts = state.operator().apply_retention(state.settings().retention.payload_days)
    log.info("retention_applied", **{f"{k}_count": v for k, v in counts.items()})
    _emit(
        state,
        as_json,
        counts,
        lambda: click.echo(
            f"scrubbed {counts['payloads_scrubbed']} payload(s), "
            f"forgot {counts['receipts_purged']} webhook receipt(s)"
        ),
    )


# -- inbox ----------------------------------------------------------------------


@cli.group()
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

    _emit(state, as_json, report, text)


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
    _emit(
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
    _emit(
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


# -- db -----------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The ledger's database."""


@db.command("upgrade")
@json_option
@pass_state
def db_upgrade(state: CliState, as_json: bool) -> None:
    """Apply schema migrations to the ledger in place."""
    state.json = as_json
    ledger = bootstrap.build_ledger(state.settings())
    before, after = ledger.upgrade(datetime.now(UTC))
    ledger.close()
    log.info("ledger_upgraded", from_version=before, to_version=after)
    _emit(
        state,
        as_json,
        {"from_version": before, "to_version": after},
        lambda: click.echo(
            f"ledger schema {before} -> {after}" if before != after else f"ledger at {after}"
        ),
    )


@cli.group("register")
def register_group() -> None:
    """The register hubsync keeps HubSpot consistent with."""


@register_group.command("init")
@json_option
@pass_state
def register_init(state: CliState, as_json: bool) -> None:
    """Create a sql register's three tables (customers, outbox, notices) unless they exist.

    For trying hubsync out, as in the README's sandbox quickstart: a real
    register's application owns its tables. Exits 1 when the register is
    still not set up afterwards; ``hubsync check`` says what is missing.
    """
    state.json = as_json
    report = bootstrap.init_register(state.settings())
    log.info("register_initialised", ok=report["ready"], count=len(report["was"]))

    def text() -> None:
        tables = ", ".join(report["tables"])
        if not report["ready"]:
            click.echo(f"register not set up: {'; '.join(report['problems'])}")
        elif report["was"]:
            click.echo(f"register tables created: {tables} (was: {'; '.join(report['was'])})")
        else:
            click.echo(f"register tables already there: {tables}")

    _emit(state, as_json, report, text)
    if not report["ready"]:
        raise SystemExit(1)


@cli.command()
@click.option(
    "--keep-running", is_flag=True, help="Leave the system up afterwards, with URLs to try."
)
def demo(keep_running: bool) -> None:
    """Run the whole system on embedded defaults and play every right in both directions.

    A temporary SQLite ledger, the HubSpot sandbox, the intake server, the
    worker and a demo SQL register of fictional people; exits 0 only when
    every effect was found where it should be.
    """
    logs.configure("warning", "console", stream=sys.stderr)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # a table for a log or a pipe, not squeezed to 80
    raise SystemExit(bootstrap.run_demo(console, keep_running=keep_running))


cli.add_command(bootstrap.sandbox_command)


# -- entry point ----------------------------------------------------------------


def _fail(state: CliState, message: str, code: int, kind: str) -> int:
    click.echo(f"error: {message}", err=True)
    if state.json:
        click.echo(json.dumps({"error": {"type": kind, "message": message}}))
    return code


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one exit per error kind
    """Run the CLI; returns the exit code (0 ok, 1 failed, 2 usage or configuration)."""
    state = CliState()
    args = list(argv) if argv is not None else sys.argv[1:]
    state.json = "--json" in args  # errors before a command runs are JSON too
    try:
        cli.main(args=args, obj=state, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except (ConfigurationError, InvalidEvent, UnstorableInput) as exc:
        return _fail(state, str(exc), 2, type(exc).__name__)
    except HubsyncError as exc:
        return _fail(state, str(exc), 1, type(exc).__name__)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    return 0
