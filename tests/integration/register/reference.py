"""A tiny reference register over HTTP: what a controller's register would serve to hubsync.

It runs ``http.server`` in a thread, checks every request's
``X-Hubsync-Signature`` with ``sync.signing`` (401 otherwise), and keeps
its state in a ``FakeRegister``, so the contract suite can hold
``HttpRegister`` to the same behaviour as the other registers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from connectors.register.effects import PERSONAL_COLUMNS
from connectors.register.fake import FakeRegister
from connectors.register.wire import event_from_json, parse_time
from sync import signing
from sync.errors import MappingError, RetryableError, SubjectAbsent, SyncError
from sync.model import (
    Direction,
    Envelope,
    HubSpotContactId,
    NoticeKind,
    RegisterNotice,
    SubjectId,
)


class ReferenceRegister(ThreadingHTTPServer):
    """The server: a ``FakeRegister`` behind signed HTTP endpoints."""

    daemon_threads = True

    def __init__(self, secret: str, register: FakeRegister) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = secret
        self.register = register
        self.refused = 0
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        """Where it listens."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


def result_of(envelope: Envelope, error: SyncError | None) -> dict[str, Any]:
    """One entry of the ``results`` answer (``fields``: the names it could not apply)."""
    event_id = envelope.event_id
    if error is None:
        return {"event_id": event_id, "status": "applied"}
    if isinstance(error, SubjectAbsent):
        return {"event_id": event_id, "status": "absent", "code": error.code}
    retryable = isinstance(error, RetryableError)
    result = {"event_id": event_id, "status": "error", "code": error.code, "retryable": retryable}
    if isinstance(error, MappingError):
        result["fields"] = sorted(set(envelope.changes) - set(PERSONAL_COLUMNS))
    return result


class _Handler(BaseHTTPRequestHandler):
    server: ReferenceRegister

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not a log."""

    def _answer(self, status: int, body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _signed_body(self) -> bytes | None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        problem = signing.verify(
            self.server.secret, raw, self.headers.get(signing.SIGNATURE_HEADER), time.time()
        )
        self.server.requests.append((self.command, self.path))
        if problem is not None:
            self.server.refused += 1
            self._answer(401, {"error": problem.value})
            return None
        return raw

    def do_GET(self) -> None:
        if self._signed_body() is None:
            return
        if not self.path.startswith("/v1/subjects/"):
            self._answer(404, {"error": "not_found"})
            return
        record = self.server.register.record(unquote(self.path.removeprefix("/v1/subjects/")))
        self._answer(404 if record is None else 200, record or {"error": "unknown_subject"})

    def do_POST(self) -> None:
        raw = self._signed_body()
        if raw is None:
            return
        try:
            data = json.loads(raw)
        except ValueError:
            self._answer(400, {"error": "not_json"})
            return
        if self.path == "/v1/dsr-events":
            self._events(data)
        elif self.path == "/v1/subjects/search":
            found = self.server.register.subjects_for_email(str(data.get("email", "")))
            self._answer(200, {"subject_ids": found})
        elif self.path == "/v1/subjects/page":
            page, following = self.server.register.subjects_page(data.get("after"), data["limit"])
            subjects = [
                {
                    "subject_id": s.subject_id,
                    "email": s.email,
                    "fields": s.fields,
                    "marketing_opt_out": s.opted_out,
                    "restricted": s.restricted,
                    "erased": s.erased,
                }
                for s in page
            ]
            self._answer(200, {"subjects": subjects, "next_after": following})
        elif self.path == "/v1/notices":
            notice = RegisterNotice(
                notice_id=data["notice_id"],
                kind=NoticeKind(data["kind"]),
                occurred_at=parse_time(data["occurred_at"], "occurred_at"),
                subject_ids=tuple(SubjectId(s) for s in data["subject_ids"]),
                contact_ids=tuple(HubSpotContactId(c) for c in data["contact_ids"]),
            )
            self.server.register.notify(notice)
            self._answer(202, {"notice_id": notice.notice_id})
        else:
            self._answer(404, {"error": "not_found"})

    def _events(self, data: Any) -> None:
        results = []
        for item in data.get("events", []):
            try:
                envelope, origin, direction = event_from_json(item)
            except ValueError as exc:
                self._answer(422, {"error": str(exc)})
                return
            if direction is not Direction.TO_REGISTER:
                results.append({"event_id": envelope.event_id, "status": "error", "code": "bad"})
                continue
            error = self.server.register.apply_envelope(envelope, origin)
            results.append(result_of(envelope, error))
        self._answer(200, {"results": results})


@contextmanager
def serving(secret: str, register: FakeRegister) -> Iterator[ReferenceRegister]:
    """The reference register, listening on a free local port while the block runs."""
    server = ReferenceRegister(secret, register)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},
        name="reference-register",
        daemon=True,
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
