"""Serving an ASGI app with uvicorn: in the foreground (``hubsync run``) or in a thread.

Access logs are off (request paths may carry ids a log should not keep) and
the listening socket is bound here with ``TCP_NODELAY``: uvicorn sets it only
on sockets it binds itself, and without it keep-alive answers wait ~40 ms on
delayed ACKs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_S = 10.0


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def server_for(app: ASGIApp, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for ``app`` without access logs or signal handlers of its own."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        loop="asyncio",
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


@contextmanager
def serving(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a background thread; yields its base URL, stops on exit."""
    sock = bind(host, port)
    try:
        bound = int(sock.getsockname()[1])
        server = server_for(app, host, bound)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="http-server", daemon=True
        )
        thread.start()
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not server.started and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.005)
            if not server.started:
                raise RuntimeError("the server did not start")
            yield f"http://{host}:{bound}"
        finally:
            server.should_exit = True
            thread.join(STARTUP_TIMEOUT_S)
    finally:
        sock.close()
