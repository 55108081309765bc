"""The ``hubsync hubspot-project`` command: the HubSpot developer project for this configuration.

HubSpot no longer lets anyone create a legacy private app; a company that
needs webhooks uploads a project-based app with HubSpot's CLI. This command
writes that project (``bootstrap.write_hubspot_project``) and shows the
files, the scopes, the webhook subscriptions and what to do next. A target
URL HubSpot would refuse or cannot reach is a warning on stderr; existing
files are kept unless ``--force`` (exit 1); an unset ``[server] public_url``
is a configuration error (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sync import bootstrap
from sync.cli.options import CliState, json_option, pass_state
from sync.cli.render import emit


@click.command("hubspot-project")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the project in (created if needed).",
)
@click.option("--force", is_flag=True, help="Overwrite the project's files if they exist.")
@click.option(
    "--subscription-type",
    "subscription_types",
    multiple=True,
    type=click.IntRange(min=1),
    help="An email subscription type id whose single opt-outs hubsync should hear of "
    "(hs_email_optout_<id>); repeat for each.",
)
@json_option
@pass_state
def hubspot_project(
    state: CliState,
    out_dir: Path,
    force: bool,
    subscription_types: tuple[int, ...],
    as_json: bool,
) -> None:
    """Write the HubSpot developer project (static auth, webhooks) to upload with `hs`.

    Its scopes follow [hubspot] subscriptions_api, its webhooks go to
    [server] public_url + /webhooks/hubspot and watch the mapped properties:
    generate it again (--force) and upload it again when the mapping changes.
    """
    state.json = as_json
    report = bootstrap.write_hubspot_project(
        state.settings(),
        out_dir,
        force=force,
        subscription_types=[str(t) for t in subscription_types],
    )
    for warning in report["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    emit(state, as_json, report, lambda: _print(report))


def _print(report: dict[str, Any]) -> None:
    """The report for a person: files, scopes, target, subscriptions, next steps."""
    click.echo(f"HubSpot project written to {report['directory']}:")
    for path in report["files"]:
        click.echo(f"  {path}")
    click.echo(f"scopes: {', '.join(report['scopes'])}")
    click.echo(f"webhook target: {report['target_url']}")
    click.echo("webhook subscriptions:")
    for section, items in report["subscriptions"].items():
        for item in items:
            name = item.get("propertyName")
            click.echo(f"  {section}: {item['subscriptionType']}" + (f" {name}" if name else ""))
    click.echo("next steps:")
    for number, step in enumerate(report["next_steps"], start=1):
        click.echo(f"  {number}. {step}")
