"""``HttpRegister``: the register port over the register's own HTTP API.

What hubsync calls, every request signed with ``X-Hubsync-Signature``
(``sync.signing``, the scheme of hubsync's own ``/v1/events``; GETs sign
the empty body):

- ``POST <url>/v1/dsr-events`` ``{"events": [envelope + origin + direction]}``,
  answered ``{"results": [{"event_id", "status": "applied" | "absent" |
  "error", "code"?, "retryable"?, "fields"?}]}`` (``fields``: names only);
- ``POST <url>/v1/notices`` with a notice (``RegisterNotice.as_dict``);
- ``GET <url>/v1/subjects/{id}``: the subject's record, 404 when unknown;
- ``POST <url>/v1/subjects/search`` ``{"email"}``, answered
  ``{"subject_ids": [...]}`` (the email goes in a signed body, never a URL).

Statuses: 408, 425, 429, 5xx, timeouts and connection failures are
``RetryableError`` (retried a few times here with tenacity, then left to the
ledger); 401/403 (signature refused) and other 4xx are ``PermanentError``.
A 404 from ``/v1/dsr-events`` or ``/v1/notices`` is a ``PermanentError``
too: it means the URL is wrong, and reading it as "subject absent" would
close every event unapplied; absence is answered per event in ``results``.
No message or log line carries a body, an email or a value.

A register on HTTP pushes its own events to hubsync's ``/v1/events``, so
``poll_outbox`` has nothing to return.

``readiness`` makes one signed ``GET <url>/v1/subjects/{READINESS_PROBE}``,
the cheapest call of the contract: a 200 or 404 means the register answers
and accepts hubsync's signature. It cannot tell a wrong base URL that
answers 404 from an unknown subject.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import requests
import structlog
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from connectors.register.wire import event_to_json, register_envelope, safe_code
from sync import signing
from sync.errors import PermanentError, RetryableError, SubjectAbsent, SyncError
from sync.model import (
    Envelope,
    OutboxProblem,
    RegisterNotice,
    RegisterReadiness,
    RegisterSubject,
    StoredEvent,
    SubjectId,
)

log = structlog.get_logger("hubsync.register")

BATCH_LIMIT = 100
RETRYABLE_STATUSES = frozenset({408, 425, 429})
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
MAX_IN_CALL_WAIT_S = 5.0  # a longer Retry-After goes back to the ledger's schedule
READINESS_PROBE = "hubsync-readiness-probe"
"""The subject id ``readiness`` asks for: no register holds it, so a 404 is the expected answer."""


def _short_retry(error: BaseException) -> bool:
    if not isinstance(error, RetryableError):
        return False
    return error.retry_after_s is None or error.retry_after_s <= MAX_IN_CALL_WAIT_S


def _chunks(items: Sequence[tuple[StoredEvent, dict[str, Any]]]) -> Iterator[list[Any]]:
    """Batches of at most BATCH_LIMIT in which every event id appears once (results key)."""
    chunk: list[tuple[StoredEvent, dict[str, Any]]] = []
    seen: set[str] = set()
    for item in items:
        if len(chunk) >= BATCH_LIMIT or item[0].event_id in seen:
            yield chunk
            chunk, seen = [], set()
        chunk.append(item)
        seen.add(item[0].event_id)
    if chunk:
        yield chunk


def _field_names(value: Any) -> list[str]:
    """The field names a register's error names, those shaped like names only."""
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str) and FIELD_NAME.match(name)][:20]


def _subject_from(item: Any) -> RegisterSubject:
    """One subject of ``/v1/subjects/page``; ``KeyError``/``TypeError`` when malformed."""
    fields = item["fields"] or {}
    if not isinstance(fields, dict) or not isinstance(item["subject_id"], str):
        raise TypeError("subject")
    email = item.get("email")
    return RegisterSubject(
        subject_id=SubjectId(item["subject_id"]),
        email=email if isinstance(email, str) else None,
        fields={str(k): None if v is None else str(v) for k, v in fields.items()},
        opted_out=item.get("marketing_opt_out") is True,
        restricted=item.get("restricted") is True,
        erased=item.get("erased") is True,
    )


class HttpRegister:
    """The register over HTTP: signed, with timeouts, short retries and translated errors."""

    def __init__(
        self,
        *,
        url: str,
        secret: str,
        timeout_s: float = 10.0,
        in_call_attempts: int = 3,
        retry_wait_s: float = 0.2,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("register.url: must be an http:// or https:// URL")
        if not secret:
            raise ValueError("register.secret: must be set for an HTTP register")
        self.url = url.rstrip("/")
        self._secret = secret
        self._timeout = timeout_s
        self._attempts = max(1, in_call_attempts)
        self._retry_wait = retry_wait_s
        self._now = now
        self._sleep = sleep
        self._session: requests.Session | None = None

    # -- the port -----------------------------------------------------------

    def apply(self, events: Sequence[StoredEvent]) -> dict[int, SyncError | None]:
        """Deliver register-bound events in signed batches; an outcome per seq.

        Raises ``SyncError`` when a batch as a whole failed (the register is
        unreachable, refused the signature, or answered something unreadable).
        """
        outcomes: dict[int, SyncError | None] = {}
        ready: list[tuple[StoredEvent, dict[str, Any]]] = []
        for event in events:
            try:
                ready.append((event, event_to_json(event, register_envelope(event))))
            except SyncError as error:
                outcomes[event.seq] = error
        for chunk in _chunks(ready):
            body = {"events": [wire for _event, wire in chunk]}
            answer = self._json(self._request("deliver events", "POST", "/v1/dsr-events", body))
            results = self._results(answer)
            for event, _wire in chunk:
                outcomes[event.seq] = self._outcome(event, results.get(event.event_id))
        return outcomes

    def notify(self, notice: RegisterNotice) -> None:
        """POST the notice; a 409 (already recorded) counts as delivered."""
        self._request("send notice", "POST", "/v1/notices", notice.as_dict(), ok=(409,))

    def record(self, subject_id: str) -> dict[str, Any] | None:
        """GET the subject's record; None on 404."""
        path = f"/v1/subjects/{quote(subject_id, safe='')}"
        response = self._request("read subject", "GET", path, None, ok=(404,))
        if response.status_code == 404:
            return None
        data = self._json(response)
        if not isinstance(data, dict):
            raise PermanentError("the register answered a subject that is not an object")
        return data

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """POST the address to the register's search; the subject ids it names."""
        response = self._request("find subjects", "POST", "/v1/subjects/search", {"email": email})
        data = self._json(response)
        ids = data.get("subject_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise PermanentError("the register's subject search answered no list of ids")
        return [SubjectId(i) for i in ids]

    def subjects_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RegisterSubject], str | None]:
        """POST ``/v1/subjects/page`` ``{"after", "limit"}``: the subjects and ``next_after``.

        A signed POST, so that no cursor or address is ever in a URL. Each
        subject: ``subject_id``, ``email``, ``fields`` (name -> text or
        null), ``marketing_opt_out``, ``restricted``, ``erased``.
        """
        body = {"after": after, "limit": limit}
        data = self._json(self._request("read subjects", "POST", "/v1/subjects/page", body))
        items = data.get("subjects") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise PermanentError("the register's subject page answered no list of subjects")
        try:
            page = [_subject_from(item) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentError(
                f"the register answered a subject that is not one ({type(exc).__name__})",
                code="register_bad_answer",
            ) from exc
        following = data.get("next_after")
        return page, (str(following) if following else None)

    def poll_outbox(self, limit: int) -> list[tuple[str, Envelope]]:
        """Nothing: an HTTP register pushes its events to hubsync's ``/v1/events``."""
        return []

    def outbox_problems(self, limit: int) -> list[OutboxProblem]:
        """Nothing: an invalid event pushed to ``/v1/events`` is refused there (422)."""
        return []

    def acknowledge(self, ids: Sequence[str]) -> None:
        """Nothing to acknowledge (see ``poll_outbox``)."""

    def readiness(self) -> RegisterReadiness:
        """Whether the register answers a signed call (one attempt, no retries).

        The problem names the setting to look at, never the URL: no answer
        (``[register] url``), a refused signature (``[register] secret``),
        or the status it answered.
        """
        path = f"/v1/subjects/{READINESS_PROBE}"
        try:
            self._once("check readiness", "GET", path, b"", (404,))
        except SyncError as error:
            if error.code == "register_unreachable":
                problem = f"the register does not answer at [register] url ({error.code})"
            elif error.code == "register_auth":
                problem = (
                    f"the register refused hubsync's signature ({error.http_status}); "
                    "check [register] secret"
                )
            elif error.http_status is not None:
                problem = f"the register answered {error.http_status} ([register] url)"
            else:
                problem = f"the register could not be called ({error.code})"
            return RegisterReadiness((problem,))
        return RegisterReadiness()

    def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- plumbing -----------------------------------------------------------

    def _http(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.headers.update({"Accept": "application/json", "User-Agent": "hubsync"})
            self._session = session
        return self._session

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        body: Any,
        *,
        ok: tuple[int, ...] = (),
    ) -> requests.Response:
        """One signed call with short retries; the response when 2xx or in ``ok``."""
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._retry_wait, max=2),
            retry=retry_if_exception(_short_retry),
            sleep=self._sleep,
            reraise=True,
        )
        response: requests.Response = retrying(self._once, operation, method, path, raw, ok)
        return response

    def _once(
        self, operation: str, method: str, path: str, raw: bytes, ok: tuple[int, ...]
    ) -> requests.Response:
        headers = {signing.SIGNATURE_HEADER: signing.sign(self._secret, raw, int(self._now()))}
        if raw:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http().request(
                method, self.url + path, data=raw or None, headers=headers, timeout=self._timeout
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            log.warning("register_call_failed", action=operation, error=type(exc).__name__)
            raise RetryableError(
                f"the register did not answer {operation} ({type(exc).__name__})",
                code="register_unreachable",
            ) from exc
        except requests.RequestException as exc:
            raise PermanentError(
                f"the register could not be called for {operation} ({type(exc).__name__})",
                code="register_request_invalid",
            ) from exc
        if 200 <= response.status_code < 300 or response.status_code in ok:
            return response
        error = self._failed(response, operation)
        log.warning(
            "register_call_failed",
            action=operation,
            http_status=response.status_code,
            error_code=error.code,
            correlation_id=error.correlation_id,
        )
        raise error

    @staticmethod
    def _failed(response: requests.Response, operation: str) -> SyncError:
        status = response.status_code
        request_id = response.headers.get("X-Request-Id")
        correlation = request_id if request_id and SAFE_REQUEST_ID.match(request_id) else None
        message = f"the register answered {status} to {operation}"
        if status in RETRYABLE_STATUSES or status >= 500:
            retry_after: float | None
            try:
                retry_after = max(0.0, float(response.headers.get("Retry-After", "")))
            except ValueError:
                retry_after = None
            return RetryableError(
                message,
                code=f"http_{status}",
                http_status=status,
                correlation_id=correlation,
                retry_after_s=retry_after,
            )
        code = "register_auth" if status in (401, 403) else f"http_{status}"
        return PermanentError(message, code=code, http_status=status, correlation_id=correlation)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            # The register may have applied the batch: repeating it is harmless.
            raise RetryableError(
                f"the register answered {response.status_code} with a body that is not JSON",
                code="register_bad_answer",
                http_status=response.status_code,
            ) from exc

    @staticmethod
    def _results(answer: Any) -> dict[str, dict[str, Any]]:
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise RetryableError("the register's answer has no results", code="register_bad_answer")
        by_id: dict[str, dict[str, Any]] = {}
        for result in results:
            if isinstance(result, dict) and isinstance(result.get("event_id"), str):
                by_id[result["event_id"]] = result
        return by_id

    @staticmethod
    def _outcome(event: StoredEvent, result: dict[str, Any] | None) -> SyncError | None:
        if result is None:
            return RetryableError(
                f"the register gave no result for event {event.event_id}", code="register_no_result"
            )
        status = result.get("status")
        if status == "applied":
            return None
        code = safe_code(result.get("code"))
        if status == "absent":
            return SubjectAbsent(
                f"the register has no subject {event.subject_id}",
                code=safe_code(result.get("code"), "subject_absent"),
            )
        if status == "error" and result.get("retryable") is True:
            return RetryableError(f"the register could not apply event {event.event_id}", code=code)
        if status == "error":
            message = f"the register refused event {event.event_id} ({code})"
            names = _field_names(result.get("fields"))
            if names:
                message += f"; fields: {', '.join(names)}"
            return PermanentError(message, code=code)
        return PermanentError(
            f"the register answered an unknown status for event {event.event_id}",
            code="register_bad_status",
        )
