"""The administration commands: ``status``, ``check``, ``db``, ``retention``, ``suppression``.

And ``register init``. They report on the system (events by state and
deadlines, settings and reachability), upgrade the ledger's schema, scrub
finished payloads, lift a suppression and set up a register for trying
hubsync out. ``check``, ``register init`` and a lift that found nothing
exit 1.
"""

from __future__ import annotations

from typing import Any

import click
import structlog
from rich.table import Table

from sync import bootstrap
from sync.cli.options import CliState, json_option, pass_state
from sync.cli.render import console, emit, link_line, signature_line

log = structlog.get_logger("hubsync.cli")


def _print_status(report: dict[str, Any]) -> None:
    out = console()
    kinds = sorted(report["by_kind"])
    table = Table(title="events by state and kind")
    table.add_column("state")
    for kind in kinds:
        table.add_column(kind, justify="right")
    table.add_column("all", justify="right")
    for name, count in report["by_state"].items():
        by_kind = [str(report["by_kind"][k].get(name, 0)) for k in kinds]
        table.add_row(name, *by_kind, str(count))
    out.print(table)
    age = report["oldest_ready_age_s"]
    out.print(f"oldest ready event: {'-' if age is None else f'{age:.0f} s'}")
    out.print(f"due within 7 days: {report['due_within_7_days']}")
    out.print(f"overdue: {report['overdue']}")
    out.print(f"failed: {report['failed']}")
    budget = report["hubspot_daily_budget"]
    if budget is not None:
        out.print(
            f"HubSpot daily budget: {budget['used']} of {budget['limit']} calls "
            f"({budget['ratio']:.1%})"
        )
    register = report.get("register")
    if register is not None:
        out.print(
            "register: set up"
            if register["ready"]
            else f"register: NOT SET UP - {'; '.join(register['problems'])}",
            highlight=False,
            markup=False,
        )
    invalid = report.get("register_outbox_invalid")
    if invalid:
        out.print(
            f"register outbox rows that are not valid events: {invalid} (hubsync outbox status)",
            highlight=False,
        )
    link = link_line(report.get("hubspot_link"))
    if link is not None:
        out.print(link, highlight=False, markup=False)
    check = report.get("subscription_check") or {}
    if check.get("calls_per_day_estimate") is not None:
        out.print(
            f"subscription check: about {check['calls_per_day_estimate']} HubSpot calls a day "
            f"at its present pace, {check['calls_counted']} counted",
            highlight=False,
        )
    signatures = signature_line(report.get("webhook_signatures"))
    if signatures is not None:
        out.print(signatures, highlight=False, markup=False)
    counters = Table(title="counted by every process")
    counters.add_column("counter")
    counters.add_column("total", justify="right")
    for name, total in report["counters"].items():
        counters.add_row(name, str(total))
    out.print(counters)


@click.command()
@json_option
@pass_state
def status(state: CliState, as_json: bool) -> None:
    """Events by state and kind, deadlines, oldest ready age, counters, HubSpot's daily budget.

    And whether the register is set up (``register``: ready, and what is missing).
    """
    report = state.operator().status().as_dict()
    emit(state, as_json, report, lambda: _print_status(report))


@click.command()
@json_option
@pass_state
def check(state: CliState, as_json: bool) -> None:
    """Check settings, register, HubSpot reachability, scopes and residency; exit 1 on a failure.

    Names each missing register table or setting and each missing scope.
    """
    state.json = as_json
    settings = state.settings()
    report = bootstrap.check(settings)
    emit(
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


@click.group()
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
    emit(
        state,
        as_json,
        {"lifted": lifted},
        lambda: click.echo("suppression lifted" if lifted else "that address is not suppressed"),
    )
    if not lifted:
        raise SystemExit(1)


@click.command()
@json_option
@pass_state
def retention(state: CliState, as_json: bool) -> None:
    """Scrub personal data from events finished longer ago than [retention] payload_days."""
    state.json = as_json
    counts = state.operator().apply_retention(state.settings().retention.payload_days)
    log.info("retention_applied", **{f"{k}_count": v for k, v in counts.items()})
    emit(
        state,
        as_json,
        counts,
        lambda: click.echo(
            f"scrubbed {counts['payloads_scrubbed']} payload(s), "
            f"forgot {counts['receipts_purged']} webhook receipt(s)"
        ),
    )


@click.group()
def db() -> None:
    """The ledger's database."""


@db.command("upgrade")
@json_option
@pass_state
def db_upgrade(state: CliState, as_json: bool) -> None:
    """Apply schema migrations to the ledger in place."""
    state.json = as_json
    before, after = bootstrap.upgrade_ledger(state.settings())
    log.info("ledger_upgraded", from_version=before, to_version=after)
    emit(
        state,
        as_json,
        {"from_version": before, "to_version": after},
        lambda: click.echo(
            f"ledger schema {before} -> {after}" if before != after else f"ledger at {after}"
        ),
    )


@click.group("register")
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

    emit(state, as_json, report, text)
    if not report["ready"]:
        raise SystemExit(1)
