"""`access` events through the worker: a private file per event, an audit row without contents."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.register.sql import SqlRegister
from sync import bootstrap, logs
from sync.model import EventKind
from sync.operator import Operator, new_envelope
from sync.settings import Settings
from sync.worker import Worker
from tests.integration.access.conftest import (
    EMAIL,
    FIRST_NAME,
    LAST_NAME,
    PERSONAL,
    Hub,
    validate,
)


@pytest.fixture
def operator(settings: Settings) -> Iterator[Operator]:
    """The operator over the settings' ledger."""
    built = bootstrap.build_operator(settings, actor="test")
    yield built
    built.ledger.close()


@pytest.fixture
def worker(settings: Settings, register: SqlRegister) -> Iterator[Worker]:
    """The worker as ``hubsync run`` builds it."""
    built = bootstrap.build_worker(settings)
    yield built
    built.close()


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything hubsync logs during the test, as JSON lines."""
    stream = io.StringIO()
    logs.configure("debug", "json", stream=stream)
    yield stream
    logs.configure("warning", "json")


def _access(operator: Operator, subject_id: str, event_id: str, email: str | None) -> None:
    envelope = new_envelope(EventKind.ACCESS, subject_id, datetime.now(UTC), event_id, email=email)
    operator.submit(envelope)


def test_an_access_event_writes_the_subject_export_to_a_private_file_and_audits_it(
    hub: Hub,
    settings: Settings,
    register: SqlRegister,
    operator: Operator,
    worker: Worker,
    log_output: io.StringIO,
) -> None:
    contact_id = hub.form(EMAIL, firstname=FIRST_NAME, lastname=LAST_NAME)
    register.add_customer("C-1", email=EMAIL, first_name=FIRST_NAME, last_name=LAST_NAME)
    _access(operator, "C-1", "acc-1", EMAIL)

    assert worker.run_until_idle() >= 1

    event = operator.event("acc-1")
    assert (event.state.value, event.note) == ("done", None)
    path = Path(settings.export.directory) / "acc-1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text(encoding="utf-8"))
    validate(document)
    (contact,) = document["hubspot"]["contacts"]
    assert contact["properties"] == hub.contact(contact_id)["properties"]
    assert document["register"] == register.record("C-1")
    rows = [r for r in operator.audit_rows() if r.entry.event_id == "acc-1"]
    assert [(r.entry.action, r.entry.outcome) for r in rows] == [
        ("event_submitted", "pending"),
        ("subject_exported", "done"),
    ]
    for value in PERSONAL:
        assert value not in json.dumps([r.as_dict() for r in rows])
        assert value not in log_output.getvalue()
    assert '"event": "subject_exported"' in log_output.getvalue()


def test_an_access_event_for_a_subject_held_nowhere_is_answered_with_an_empty_export(
    hub: Hub, settings: Settings, register: SqlRegister, operator: Operator, worker: Worker
) -> None:
    _access(operator, "C-2", "acc-2", None)

    worker.run_until_idle()

    event = operator.event("acc-2")
    assert (event.state.value, event.note) == ("done", "absent")
    document = json.loads((Path(settings.export.directory) / "acc-2.json").read_text())
    validate(document)
    assert document["hubspot"]["contacts"] == []
    assert document["register"] is None


def test_an_export_that_cannot_be_written_is_dead_lettered_and_replays_once_fixed(
    hub: Hub, settings: Settings, register: SqlRegister, operator: Operator, worker: Worker
) -> None:
    directory = Path(settings.export.directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    directory.write_text("not a directory")
    hub.form(EMAIL)
    _access(operator, "C-3", "acc-3", EMAIL)

    worker.run_until_idle()

    failed = operator.event("acc-3")
    assert failed.state.value == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "export_not_written"
    assert EMAIL not in json.dumps(failed.public())
    directory.unlink()
    operator.replay([failed])
    worker.run_until_idle()
    assert operator.event("acc-3").state.value == "done"
    assert (directory / "acc-3.json").exists()


def test_an_access_event_waits_while_the_register_is_not_set_up_and_says_why(
    hub: Hub,
    settings: Settings,
    register: SqlRegister,
    operator: Operator,
    worker: Worker,
) -> None:
    hub.form(EMAIL, firstname=FIRST_NAME, lastname=LAST_NAME)
    register_file = settings.register.url.removeprefix("sqlite:///")
    with sqlite3.connect(register_file) as conn:
        conn.execute("DROP TABLE customers")
    _access(operator, "C-1", "acc-9", EMAIL)

    worker.run_once()

    event = operator.event("acc-9")
    assert event.state.value == "pending"  # waits for the operator's fix, not dead-lettered
    assert event.last_error is not None
    assert event.last_error.code == "register_not_set_up"
    assert event.last_error.detail == (
        "the register is not set up: table customers is missing ([register] customers_table)"
    )
    assert not (Path(settings.export.directory) / "acc-9.json").exists()
    # A setup is fixed by a person: the next try is minutes away, not the usual seconds.
    assert event.next_attempt_at - datetime.now(UTC) > timedelta(minutes=4)
