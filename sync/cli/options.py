"""What every ``hubsync`` command shares: the group's state and the common options.

``CliState`` carries the global options (``--config``, ``--actor``) and
whether output is JSON, and builds the settings and the operator once per
run; ``pass_state`` hands it to a command. The choice lists name the kinds,
states and origins the ledger knows, so that click rejects anything else
with a usage error (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from sync import bootstrap, logs
from sync.model import EventKind, EventState, Origin
from sync.operator import Operator
from sync.settings import Settings, load_settings

KINDS = [k.value for k in EventKind]
STATES = [s.value for s in EventState]
ORIGINS = [o.value for o in Origin]


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
