"""Fixtures shared by the integration suites that drive a whole system against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox

TOKEN = "pat-eu1-test-token"
"""The sandbox's access token in these suites."""


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningSandbox]:
    """One sandbox per module with generous limits; tests reset it."""
    config = SandboxConfig(
        port=0, access_token=TOKEN, rate_limit_per_10s=100_000, search_limit_per_s=100_000
    )
    with running_sandbox(config) as running:
        yield running
