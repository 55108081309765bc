"""``hubsync db upgrade`` on SQLite and PostgreSQL: migrations applied in place, once."""

from __future__ import annotations

from sync.ledger.schema import LATEST_VERSION
from tests.integration.cli.conftest import CliEnv


def test_db_upgrade_creates_a_fresh_ledger_at_the_latest_schema_and_then_has_nothing_to_do(
    cli_env: CliEnv,
) -> None:
    first = cli_env.run("db", "upgrade", "--json")
    again = cli_env.run("db", "upgrade")

    assert first.code == 0, first.stderr
    assert first.json() == {"from_version": 0, "to_version": LATEST_VERSION}
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == f"ledger at {LATEST_VERSION}"
    assert cli_env.ledger.schema_version() == LATEST_VERSION
