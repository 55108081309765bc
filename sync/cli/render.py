"""How the ``hubsync`` commands read times and show results: tables, progress bars, JSON.

Output is either one JSON document on stdout (``--json``, for scripts) or
text and rich tables for a person; progress bars go to stderr and never
appear with ``--json``. Times on the command line are ISO 8601 or an age
(``30m``, ``24h``, ``7d``). Nothing shown carries a payload: events are
shown by id, kind, state and field names.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sync.cli.options import CliState
from sync.model import StoredEvent

RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PROGRESS_THRESHOLD = 50
"""Off a terminal, long operations of this many items or more still show a progress bar."""


def console() -> Console:
    """A console on stdout; off a terminal it is wide, so tables do not cut ids short."""
    # Off a terminal rich would wrap tables at 80 columns and cut ids short.
    return Console(width=None if sys.stdout.isatty() else 200)


def emit(state: CliState, as_json: bool, document: Any, human: Callable[[], None]) -> None:
    """Print ``document`` as one JSON document with ``--json``, else call ``human``."""
    state.json = as_json
    if as_json:
        click.echo(json.dumps(document, sort_keys=True, default=str))
    else:
        human()


def echo_rows(rows: Iterable[Sequence[str]], total: int) -> None:
    """Rows as indented columns, then how many more there are than were shown."""
    shown = 0
    for row in rows:
        click.echo("  " + "  ".join(row))
        shown += 1
    if total > shown:
        click.echo(f"  ... and {total - shown} more")


def signature_line(signatures: dict[str, Any] | None) -> str | None:
    """The ``status`` line on refused webhook signatures, or None when none are in a row.

    ``signatures`` is ``status --json``'s ``webhook_signatures``: codes,
    counts and times only.
    """
    if not signatures or not signatures["refusals"]:
        return None
    line = (
        f"webhook signatures refused in a row: {signatures['refusals']} "
        f"(threshold {signatures['threshold']}, last {signatures['last_at']}, "
        f"{signatures['last_reason']})"
    )
    alarm = signatures.get("alarm")
    return f"{line}\nALARM: {alarm}" if alarm else line


def link_line(link: dict[str, Any] | None) -> str | None:
    """The ``status`` line on a HubSpot link that is down, or None while it is up.

    ``link`` is ``status --json``'s ``hubspot_link``: a reason, scope names, a time.
    """
    if not link or not link.get("down"):
        return None
    return f"HUBSPOT LINK DOWN - {link['detail']}"


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


def events_table(events: Iterable[StoredEvent], title: str) -> Table:
    """Events as a table: ids, kind, origin, subject, state, attempts, due date, last error."""
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


def show_event(event: StoredEvent) -> None:
    """One event, a line per public field (no personal data)."""
    for key, value in event.public().items():
        click.echo(f"{key:>18}: {value if value is not None else '-'}")


def progress(total: int, as_json: bool) -> Progress:
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


class ExportProgress:
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
        """Stop the bar, if it started."""
        if self._bar is not None:
            self._bar.stop()
