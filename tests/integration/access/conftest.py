"""Access exports against the sandbox: a ledger on each backend, a SQL register on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from connectors.hubspot.sandbox.server import RunningSandbox
from connectors.register.sql import SqlRegister
from sync import bootstrap
from sync.clock import SystemClock
from sync.handlers.access import AccessExporter
from sync.ledger.sql import SqlLedger
from sync.schemas import ACCESS_EXPORT, load
from sync.settings import Settings, load_settings
from tests.integration.conftest import TOKEN

PSEUDONYM_KEY = "access-test-pseudonym-key-0123"
EMAIL = "karin.sjoberg@example.se"
FIRST_NAME = "Karinxyzzy"
LAST_NAME = "Sjobergqux"
PERSONAL = (EMAIL, FIRST_NAME, LAST_NAME, "karin.sjoberg")


def validate(document: dict[str, Any]) -> None:
    """Check a document against the published schema (every error at once)."""
    validator = Draft202012Validator(
        load(ACCESS_EXPORT), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@dataclass
class Hub:
    """The sandbox as a test drives it: HubSpot-side actions and what it holds."""

    base_url: str
    running: RunningSandbox

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the sandbox's control API."""
        response = requests.request(method, self.base_url + path, json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def action(self, name: str, **body: Any) -> dict[str, Any]:
        """What a HubSpot user or a form does."""
        return dict(self.control("POST", f"/_sandbox/actions/{name}", body))

    def form(self, email: str, **properties: str) -> str:
        """A form submission: creates or updates the contact of ``email``; returns its id."""
        return str(self.action("form_submission", email=email, properties=properties)["contact_id"])

    def contact(self, contact_id: str) -> dict[str, Any]:
        """One contact as the sandbox's state holds it."""
        contacts = self.control("GET", "/_sandbox/state")["contacts"]
        return dict(next(c for c in contacts if c["id"] == contact_id))

    def calls(self) -> list[dict[str, Any]]:
        """The API calls the sandbox received, in order."""
        return list(self.control("GET", "/_sandbox/requests")["requests"])


@pytest.fixture
def hub(sandbox_server: RunningSandbox) -> Hub:
    """The module's sandbox, reset."""
    requests.post(f"{sandbox_server.base_url}/_sandbox/reset", timeout=10).raise_for_status()
    return Hub(sandbox_server.base_url, sandbox_server)


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_section(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The [ledger] section of a fresh ledger on each backend."""
    if request.param == "sqlite":
        return {"url": f"sqlite:///{tmp_path / 'ledger.db'}"}
    url, schema = request.getfixturevalue("postgres_schema")
    return {"url": url, "schema": schema}


def make_settings(hub: Hub, ledger: dict[str, Any], tmp_path: Path, **hubspot: Any) -> Settings:
    """Settings for the sandbox, a ledger, a SQL register and an export directory."""
    return load_settings(
        None,
        ledger=ledger,
        hubspot={
            "base_url": hub.base_url,
            "access_token": TOKEN,
            "rate_limit_per_10s": 10_000,
            "timeout_seconds": 5,
            **hubspot,
        },
        audit={"pseudonym_key": PSEUDONYM_KEY},
        register={"kind": "sql", "url": f"sqlite:///{tmp_path / 'register.db'}"},
        export={"directory": str(tmp_path / "exports")},
    )


@pytest.fixture
def settings(hub: Hub, ledger_section: dict[str, Any], tmp_path: Path) -> Settings:
    """Settings of a fresh system on each ledger backend."""
    return make_settings(hub, ledger_section, tmp_path)


@pytest.fixture
def register(settings: Settings) -> Iterator[SqlRegister]:
    """The SQL register the settings name, with its tables."""
    built = SqlRegister(settings.register.url)
    built.create_schema()
    yield built
    built.close()


@pytest.fixture
def ledger(settings: Settings) -> Iterator[SqlLedger]:
    """The ledger the settings name, opened."""
    built = bootstrap.build_ledger(settings)
    built.open(SystemClock().now())
    yield built
    built.close()


@pytest.fixture
def exporter(
    settings: Settings, ledger: SqlLedger, register: SqlRegister
) -> Iterator[AccessExporter]:
    """The exporter ``hubsync export`` uses, over the test's ledger."""
    built = bootstrap.build_exporter(settings, ledger, SystemClock())
    yield built
    built.close()
