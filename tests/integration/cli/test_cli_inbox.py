"""``hubsync inbox`` end to end, as a subprocess, on SQLite and PostgreSQL.

An operator's replay and skip of webhook events go through the operator
layer: each is audited with an action of the audit vocabulary, and the
reason is kept with email addresses masked.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.audit import AuditAction
from sync.model import SetAsideItem
from tests.integration.cli.conftest import CliEnv

VOCABULARY = {value for name, value in vars(AuditAction).items() if name.isupper()}


def _set_aside(cli_env: CliEnv, *keys: str) -> None:
    """Webhook items the intake set aside as malformed, as it stores them."""
    now = datetime.now(UTC)
    cli_env.ledger.open(now)
    items = [SetAsideItem(key, {"eventId": key}, "eventId: must be an integer") for key in keys]
    cli_env.ledger.store_webhooks([], now, timedelta(days=7), items)


def test_inbox_skip_and_replay_are_audited_with_actions_of_the_audit_vocabulary(
    cli_env: CliEnv,
) -> None:
    _set_aside(cli_env, "malformed:1", "malformed:2")
    status = cli_env.run("inbox", "status", "--json").json()
    assert status["failed"] == 2
    assert [i["received_at"][-1] for i in status["failed_items"]] == ["Z", "Z"]  # one time format

    skipped = cli_env.run(
        "inbox", "skip", "malformed:1", "--reason", "sent by anna@example.se twice", "--json"
    )
    replayed = cli_env.run("inbox", "replay", "--json")

    assert skipped.json() == {"skipped": 1}
    assert replayed.json() == {"replayed": 1}
    assert cli_env.ledger.webhook_states() == {"pending": 1, "skipped": 1}
    rows = [r.entry for r in cli_env.ledger.audit_rows()]
    assert [(e.action, e.outcome) for e in rows] == [
        (AuditAction.WEBHOOKS_SKIPPED, "1 skipped"),
        (AuditAction.WEBHOOKS_REPLAYED, "1 replayed"),
    ]
    assert {e.action for e in rows} <= VOCABULARY
    assert rows[0].detail == "sent by [email] twice"
    assert cli_env.run("audit", "verify", "--json").json()["ok"] is True


def test_inbox_skip_of_a_key_that_is_not_set_aside_exits_1(cli_env: CliEnv) -> None:
    _set_aside(cli_env, "malformed:1")

    ran = cli_env.run("inbox", "skip", "malformed:1", "no-such-key", "--reason", "x", "--json")

    assert (ran.code, ran.json()) == (1, {"skipped": 1})
