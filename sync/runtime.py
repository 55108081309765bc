"""The process runtime of ``hubsync run``: threads, stop signals and the uvicorn server.

The intake server answers in the main thread (uvicorn) and the worker works
in another; SIGTERM or SIGINT sets one shared stop event, which ends both,
the worker after finishing its round. A worker that dies takes the server
with it, so a supervisor sees the process end instead of an intake that
accepts work nobody does. The CLI parses the options and builds the parts
(``sync.bootstrap``); this module only runs them.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Protocol

import structlog
from starlette.types import ASGIApp

from sync import serve
from sync.errors import ConfigurationError

log = structlog.get_logger("hubsync.runtime")


class Runnable(Protocol):
    """What the runtime needs of a worker: work until ``stop`` is set."""

    def run(self, stop: threading.Event) -> None:
        """Work in rounds until ``stop`` is set."""


def on_stop_signals(stop: threading.Event, also: Callable[[], None] = lambda: None) -> None:
    """Make SIGTERM and SIGINT set ``stop`` (and call ``also``) instead of killing the process."""

    def request_stop(signum: int, frame: object) -> None:
        log.info("stop_requested", code=signal.Signals(signum).name)
        stop.set()
        also()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def work_until_stopped(worker: Runnable) -> None:
    """Run the worker alone in this thread until SIGTERM or Ctrl-C (``run --no-server``)."""
    stop = threading.Event()
    on_stop_signals(stop)
    worker.run(stop)


def serve_until_stopped(app: ASGIApp, host: str, port: int, worker: Runnable | None) -> None:
    """uvicorn in this thread, the worker (if any) in another, until SIGTERM or Ctrl-C.

    A port that cannot be bound is a configuration error naming ``[server]``.
    """
    stop = threading.Event()
    try:
        sock = serve.bind(host, port)
    except OSError as exc:
        raise ConfigurationError(
            f"[server] cannot listen on {host}:{port} ({type(exc).__name__})"
        ) from exc
    server = serve.server_for(app, host, int(sock.getsockname()[1]))

    def work() -> None:
        assert worker is not None
        try:
            worker.run(stop)
        finally:
            server.should_exit = True  # a worker that dies takes the server with it

    # uvicorn handles SIGTERM/SIGINT while it serves, then hands the signal on to these.
    on_stop_signals(stop, also=lambda: setattr(server, "should_exit", True))
    thread = threading.Thread(target=work, name="worker") if worker is not None else None
    if thread is not None:
        thread.start()
    log.info("server_started", host=host, port=int(sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        sock.close()
        log.info("server_stopped")
