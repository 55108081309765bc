"""Running the sandbox: `serve()` blocks (the CLI); `running_sandbox()` runs it in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
import uvicorn

from connectors.hubspot.sandbox.app import create_app
from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.context import Sandbox, build_sandbox
from connectors.hubspot.sandbox.timefmt import Clock

__all__ = ["RunningSandbox", "SandboxConfig", "running_sandbox", "serve"]

log = structlog.get_logger()
STARTUP_TIMEOUT_S = 10.0


def _uvicorn_config(sb: Sandbox, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(sb),
        host=host,
        port=port,
        # Access logs would print request paths, which contain email addresses.
        access_log=False,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )


def serve(config: SandboxConfig, clock: Clock = time.time) -> None:
    """Run the sandbox in the foreground until interrupted (what `hubsync sandbox` does)."""
    sb = build_sandbox(config, clock)
    server = uvicorn.Server(_uvicorn_config(sb, config.host, config.port))
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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit this; without it keep-alive calls wait ~40 ms on delayed ACKs
    # (uvicorn only sets it on sockets it binds itself).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((config.host, config.port))
        port = int(sock.getsockname()[1])
        server = uvicorn.Server(_uvicorn_config(sb, config.host, port))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="sandbox-http", daemon=True
        )
        sb.webhooks.start()
        thread.start()
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            if not server.started:
                raise RuntimeError("the sandbox did not start")
            yield RunningSandbox(f"http://{config.host}:{port}", port, sb)
        finally:
            sb.stopping.set()
            server.should_exit = True
            thread.join(STARTUP_TIMEOUT_S)
            sb.webhooks.stop()
    finally:
        sock.close()
