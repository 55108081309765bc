"""Running the sandbox: `serve()` blocks (the CLI); `running_sandbox()` runs it in a thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog

from connectors.hubspot.sandbox.app import create_app
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.context import Sandbox, build_sandbox
from connectors.hubspot.sandbox.timefmt import Clock
from sync.serve import server_for, serving

__all__ = ["RunningSandbox", "SandboxConfig", "running_sandbox", "serve"]

log = structlog.get_logger()


def serve(config: SandboxConfig, clock: Clock = time.time) -> None:
    """Run the sandbox in the foreground until interrupted (what `hubsync sandbox` does)."""
    sb = build_sandbox(config, clock)
    # server_for keeps access logs off: request paths contain email addresses.
    server = server_for(create_app(sb), config.host, config.port)
    sb.webhooks.start()
    log.info("sandbox_started", base_url=f"http://{config.host}:{config.port}")
    try:
        server.run()
    finally:
        sb.stopping.set()
        sb.webhooks.stop()
        log.info("sandbox_stopped")


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving in a background thread: its base URL and its in-process parts.

    `sandbox` gives tests direct access to the state, limiter and request log (the HTTP
    control API under `/_sandbox` offers the same to other processes).
    """

    base_url: str
    port: int
    sandbox: Sandbox

    @property
    def config(self) -> SandboxConfig:
        """The settings it runs with."""
        return self.sandbox.config


@contextmanager
def running_sandbox(
    config: SandboxConfig | None = None, *, clock: Clock = time.time
) -> Iterator[RunningSandbox]:
    """Serve a sandbox on a free 127.0.0.1 port (or `config.port` when non-zero) in a thread.

    The port is bound before the thread starts, so the base URL is usable as soon as this
    yields; leaving the block stops the server, held connections and webhook delivery.
    """
    config = config or SandboxConfig(port=0)
    sb = build_sandbox(config, clock)
    sb.webhooks.start()
    try:
        with serving(create_app(sb), config.host, config.port) as base_url:
            try:
                yield RunningSandbox(base_url, int(base_url.rsplit(":", 1)[1]), sb)
            finally:
                sb.stopping.set()  # held connections end before the server waits on them
    finally:
        sb.stopping.set()
        sb.webhooks.stop()
