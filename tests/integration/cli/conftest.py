"""Run the real ``hubsync`` console script against a ledger on either backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))
PSEUDONYM_KEY = "test-pseudonym-key-0123456789"


@dataclass
class Ran:
    """What one CLI run left behind."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The JSON document on stdout."""
        return json.loads(self.stdout)


@dataclass
class CliEnv:
    """A ledger reachable both by the CLI (through the environment) and by the test."""

    env: dict[str, str]
    ledger: SqlLedger
    runs: list[Ran]

    def run(self, *args: str) -> Ran:
        """Run ``hubsync ARGS`` as a subprocess, as an operator would."""
        done = subprocess.run(
            [HUBSYNC, *args], check=False, env=self.env, capture_output=True, text=True, timeout=60
        )
        ran = Ran(done.returncode, done.stdout, done.stderr)
        self.runs.append(ran)
        return ran


@pytest.fixture(params=["sqlite", "postgres"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliEnv]:
    """The CLI configured by environment for a fresh ledger of each backend."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    env["HUBSYNC_AUDIT__PSEUDONYM_KEY"] = PSEUDONYM_KEY
    env["HUBSYNC_LOGGING__FORMAT"] = "json"
    ledger: SqlLedger
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        env["HUBSYNC_LEDGER__URL"] = f"sqlite:///{path}"
        ledger = SqliteLedger(path)
    else:
        url, schema = request.getfixturevalue("postgres_schema")
        env["HUBSYNC_LEDGER__URL"] = url
        env["HUBSYNC_LEDGER__SCHEMA"] = schema
        ledger = PostgresLedger(url, schema=schema)
    yield CliEnv(env=env, ledger=ledger, runs=[])
    ledger.close()


@pytest.fixture
def raw_sql(cli_env: CliEnv) -> Callable[[str], None]:
    """Change the ledger's database by hand, as an intruder or a careless admin would."""

    def execute(statement: str) -> None:
        with cli_env.ledger._tx() as cur:
            cur.execute(statement)

    return execute
