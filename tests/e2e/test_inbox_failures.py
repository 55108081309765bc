"""A webhook event that cannot be processed is kept, visible and replayable; never lost."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import PSEUDONYM_KEY, Loop

HUBSYNC = str(Path(sys.executable).with_name("hubsync"))


def hubsync(loop: Loop, *args: str) -> dict[str, object]:
    """The real console script on the loop's ledger, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    env["HUBSYNC_LEDGER__URL"] = loop.settings.ledger.url
    if loop.settings.ledger.schema_name:
        env["HUBSYNC_LEDGER__SCHEMA"] = loop.settings.ledger.schema_name
    env["HUBSYNC_AUDIT__PSEUDONYM_KEY"] = PSEUDONYM_KEY
    done = subprocess.run(
        [HUBSYNC, *args, "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_a_webhook_the_register_cannot_take_is_failed_kept_and_replayed_once_fixed(
    loop: Loop, tmp_path: Path
) -> None:
    register_db = tmp_path / "register.db"
    loop.register.add_customer("C-7", email="dora@example.se", first_name="Dora")
    with sqlite3.connect(register_db) as db:  # the register's admin breaks its schema
        # A renamed column: broken for good (a missing table is "not set up": events wait).
        db.execute("ALTER TABLE customers RENAME COLUMN email TO mail")

    contact = loop.act("create", properties={"email": "dora@example.se", "firstname": "Dora"})
    loop.settle()

    # The creation and its two property changes each needed the register.
    assert hubsync(loop, "inbox", "status")["failed"] == 3
    outcomes = [r.entry.outcome for r in loop.audit("webhook_not_processed")]
    assert outcomes == ["register_db_error"] * 3
    assert loop.ledger.subject("C-7") is None

    with sqlite3.connect(register_db) as db:  # fixed
        db.execute("ALTER TABLE customers RENAME COLUMN mail TO email")
    assert hubsync(loop, "inbox", "replay") == {"replayed": 3}
    loop.settle()

    record = loop.ledger.subject("C-7")
    assert record is not None
    assert record.contact_ids == (str(contact["contact_id"]),)
    assert hubsync(loop, "inbox", "status")["failed"] == 0
    assert len(loop.audit("webhooks_replayed")) == 1


def test_a_webhook_that_meets_a_missing_register_table_waits_in_the_inbox_not_failed(
    loop: Loop, tmp_path: Path
) -> None:
    register_db = tmp_path / "register.db"
    loop.register.add_customer("C-8", email="erik@example.se", first_name="Erik")
    with sqlite3.connect(register_db) as db:  # not set up (yet): the customers table is missing
        db.execute("DROP TABLE customers")

    loop.act("create", properties={"email": "erik@example.se", "firstname": "Erik"})
    loop.settle()

    status = hubsync(loop, "inbox", "status")
    assert status["failed"] == 0  # not set aside: the register's fix lets them through
    assert status["pending"] == 3
    assert loop.audit("webhook_not_processed") == []
