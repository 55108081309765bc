"""`/readyz` says when the register is not set up, by the missing table's name (503)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.clock import FixedClock
from sync.serve import serving
from sync.settings import Settings, load_settings
from tests.conftest import T0

TOKEN = "pat-eu1-readyz-token"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxConfig(port=0, access_token=TOKEN)) as running:
        yield running


def _settings(sandbox: RunningSandbox, tmp_path: Path, register: Path) -> Settings:
    return load_settings(
        None,
        ledger={"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        hubspot={
            "base_url": sandbox.base_url,
            "access_token": TOKEN,
            "client_secret": "readyz-client-secret",
        },
        audit={"pseudonym_key": "readyz-pseudonym-key-0123"},
        register={"url": f"sqlite:///{register}"},
    )


def _create_tables(path: Path) -> None:
    register = SqlRegister(f"sqlite:///{path}")
    register.create_schema()
    register.close()


def test_readyz_names_the_missing_register_table_until_it_is_created(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    path = tmp_path / "register.db"
    _create_tables(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE customers")
    clock = FixedClock(T0)
    app = bootstrap.build_intake(_settings(sandbox, tmp_path, path), clock=clock)
    try:
        with serving(app) as base_url:
            missing = requests.get(base_url + "/readyz", timeout=10)
            _create_tables(path)
            still_cached = requests.get(base_url + "/readyz", timeout=10)
            clock.advance(6)  # a register that is not ready is asked again after 5 s
            fixed = requests.get(base_url + "/readyz", timeout=10)
    finally:
        app.state.intake.ledger.close()

    assert missing.status_code == 503
    assert missing.json() == {
        "ready": False,
        "reason": "register: table customers is missing ([register] customers_table)",
    }
    assert still_cached.status_code == 503
    assert fixed.status_code == 200
    assert fixed.json()["ready"] is True
    assert "register" not in fixed.json()["reason"]


def test_readyz_gives_the_residency_reason_and_the_register_problem_together(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path, tmp_path / "absent.db")
    settings = settings.model_copy(
        update={
            "hubspot": settings.hubspot.model_copy(update={"allowed_hosting_locations": ["na1"]})
        }
    )
    app = bootstrap.build_intake(settings, clock=FixedClock(T0))
    try:
        with serving(app) as base_url:
            answer = requests.get(base_url + "/readyz", timeout=10)
    finally:
        app.state.intake.ledger.close()

    assert answer.status_code == 503
    reason = answer.json()["reason"]
    assert "not in an allowed location (na1)" in reason  # residency's own reason first
    assert reason.endswith("; register: the SQLite file named by [register] url does not exist")
    assert not (tmp_path / "absent.db").exists()
