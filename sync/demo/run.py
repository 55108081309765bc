"""The demo's runtime: the whole system on embedded defaults, for ``hubsync demo``.

Starts the parts in a temporary directory and on loopback ports (the
HubSpot sandbox, the demo SQL register, a SQLite ledger, the intake server
and the worker), plays the scenario of ``sync.demo.scenario`` on them,
prints what happened where, and, with ``--keep-running``, leaves them up
with URLs and commands to try until Ctrl-C. The secrets are random and
never leave the process. The parts are built by ``sync.bootstrap``; this
module owns their lifetime.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console

from sync import bootstrap
from sync.clock import SystemClock
from sync.demo.scenario import Demo, render
from sync.serve import serving
from sync.settings import Settings, load_settings
from sync.worker import Worker

DEMO_APP_ID = 4242


def run_demo(console: Console, *, keep_running: bool = False) -> int:
    """``hubsync demo``: the whole system on embedded defaults; 0 when every check held.

    Everything lives in a temporary directory (ledger, register, exports) and
    on loopback ports; the secrets are random and never leave the process.
    """
    with tempfile.TemporaryDirectory(prefix="hubsync-demo-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        port = _free_port()
        public_url = f"http://127.0.0.1:{port}"
        token, client_secret = secrets.token_hex(16), secrets.token_hex(16)
        sandbox = stack.enter_context(
            bootstrap.running_demo_sandbox(
                access_token=token,
                client_secret=client_secret,
                app_id=DEMO_APP_ID,
                webhook_url=f"{public_url}/webhooks/hubspot",
            )
        )
        register_url = f"sqlite:///{root / 'register.db'}"
        register = bootstrap.build_demo_register(register_url)
        stack.callback(register.close)
        settings = load_settings(
            None,
            ledger={"url": f"sqlite:///{root / 'ledger.db'}"},
            hubspot={
                "base_url": sandbox.base_url,
                "access_token": token,
                "client_secret": client_secret,
                "app_id": DEMO_APP_ID,
            },
            server={"host": "127.0.0.1", "port": port, "public_url": public_url},
            audit={"pseudonym_key": secrets.token_hex(16)},
            register={"kind": "sql", "url": register_url, "on_hubspot_erasure": "apply"},
            export={"directory": str(root / "exports")},
        )
        app = bootstrap.build_intake(settings)
        stack.callback(app.state.intake.ledger.close)
        stack.enter_context(serving(app, "127.0.0.1", port))
        worker = bootstrap.build_worker(settings)
        stack.callback(worker.close)
        operator = bootstrap.build_operator(settings, actor="demo")
        stack.callback(operator.ledger.close)
        control = bootstrap.build_sandbox_control(sandbox.base_url)
        stack.callback(control.close)
        demo = Demo(
            operator=operator,
            worker=worker,
            register=register,
            sandbox=control,
            hubspot=bootstrap.build_hubspot(settings, operator.ledger, SystemClock()),
            export_dir=root / "exports",
            console=console,
        )
        checks = demo.run()
        render(checks, console)
        if keep_running:
            _keep_running(console, worker, settings, sandbox.base_url, public_url, root)
        return 0 if all(c.ok for c in checks) else 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keep_running(
    console: Console,
    worker: Worker,
    settings: Settings,
    sandbox_url: str,
    intake_url: str,
    root: Path,
) -> None:
    """Leave the system up (worker in a thread) until Ctrl-C, with URLs and commands to try."""
    ledger = settings.ledger.url
    key = settings.audit.pseudonym_key.get_secret_value() if settings.audit.pseudonym_key else ""
    env = f"HUBSYNC_LEDGER__URL={ledger} HUBSYNC_AUDIT__PSEUDONYM_KEY={key}"
    console.print(
        "\nThe system stays up until Ctrl-C. Its parts:\n"
        f"  intake     {intake_url}  (/healthz, /readyz, /metrics, /openapi.json)\n"
        f"  sandbox    {sandbox_url}/_sandbox/state\n"
        f"  files      {root}\n"
        "Try, in another terminal:\n"
        f"  {env} hubsync status\n"
        f"  {env} hubsync events list\n"
        f"  {env} hubsync audit verify\n"
        f"  curl -s -X POST {sandbox_url}/_sandbox/actions/unsubscribe "
        "-H 'content-type: application/json' -d '{\"email\": \"hana.notreal@example.org\"}'\n",
        soft_wrap=True,  # commands to copy stay on one line
        highlight=False,
        markup=False,
    )
    console.file.flush()  # a pipe buffers: whoever reads it needs the URLs now
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="worker", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        stop.set()
        thread.join(30)
