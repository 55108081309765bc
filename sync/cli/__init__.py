"""The ``hubsync`` command: the operator's tool, parsing and rendering only.

The group and its global options (``--config``, ``--actor``), ``main``
(the console script) and the mapping of errors to exit codes: 0 ok, 1 a
check or operation failed, 2 usage or configuration error. The commands
live in one module per family (``events``, ``audit``, ``admin``, ``inbox``,
``outbox``, ``export``, ``processes``, ``project``); they call ``sync.operator`` and render tables
(rich) or one JSON document on stdout (``--json``). Nothing printed
carries a payload: events are shown by id, kind, state and field names.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

from sync import bootstrap
from sync.cli import admin, audit, events, export, inbox, outbox, processes, project, reconcile
from sync.cli.options import CliState
from sync.errors import ConfigurationError, HubsyncError, InvalidEvent, UnstorableInput


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


for _command in (
    events.submit,
    events.events,
    events.failed,
    events.replay,
    events.skip,
    admin.status,
    admin.check,
    admin.suppression,
    admin.retention,
    admin.db,
    admin.register_group,
    audit.audit,
    export.export_subject,
    reconcile.reconcile,
    inbox.inbox,
    outbox.outbox,
    project.hubspot_project,
    processes.run,
    processes.demo,
    bootstrap.sandbox_command,
):
    cli.add_command(_command)


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
        # Without standalone mode click answers an Exit by returning its code.
        code = cli.main(args=args, obj=state, standalone_mode=False)
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
    return code if isinstance(code, int) else 0
