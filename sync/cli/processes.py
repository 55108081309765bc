"""The commands that start long-running processes: ``run`` and ``demo``.

They check their options, build the parts through ``sync.bootstrap`` and
hand them to the runtime that runs them (``sync.runtime`` for ``run``,
``sync.demo.run`` for ``demo``). ``hubsync sandbox``, the HubSpot emulator, comes
with its connector and is added to the group beside these.
"""

from __future__ import annotations

import sys

import click
import structlog
from rich.console import Console

from sync import bootstrap, logs, runtime
from sync.cli.options import CliState, pass_state
from sync.clock import SystemClock
from sync.demo.run import run_demo

log = structlog.get_logger("hubsync.cli")


@click.command()
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
    # One ledger for the process: the intake and the worker share its connection.
    ledger = bootstrap.open_ledger_of(settings, SystemClock())
    worker = None if no_worker else bootstrap.build_worker(settings, ledger=ledger)
    if worker is not None and once:
        handled = worker.run_until_idle()
        log.info("worker_idle", count=handled)
        return
    if worker is not None and no_server:
        runtime.work_until_stopped(worker)
        return
    app = bootstrap.build_intake(settings, ledger=ledger)
    runtime.serve_until_stopped(app, settings.server.host, settings.server.port, worker)


@click.command()
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
    raise SystemExit(run_demo(console, keep_running=keep_running))
