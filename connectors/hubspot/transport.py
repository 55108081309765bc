"""The transport every HubSpot call goes through, and the reading of batch answers.

- Every call goes to a date-based path of ``[hubspot] api_version``
  (``connectors.hubspot.paths``, default ``2026-09``) through the official
  client's ``ApiClient.call_api``: its urllib3 pool, timeouts and
  exceptions, with the pool's own retries off (they would log the URL, an
  email address for by-email reads). Its 12.0.0 models predate 2026-09
  (their batch answers have no ``errors``), so every answer is read as JSON.
- Batch answers report per-item failures inside a 200 (``errors``,
  ``numErrors``); a 207 is accepted too. Every input maps to its own outcome
  (``batch_outcomes``).
- Every call first takes room from the shared ``RateBudget``, and its answer's
  rate-limit headers correct it. Transient failures are retried a few times
  here with tenacity (all calls are idempotent); anything longer goes back to
  the ledger.
- Errors are translated at this edge (``connectors.hubspot.errors``); nothing
  raised from here carries a body, an email or a value.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import urllib3
from hubspot.crm.contacts import ApiClient, Configuration
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from connectors.hubspot import errors
from connectors.hubspot.paths import (
    DEFAULT_API_VERSION,
    ApiPaths,
)
from connectors.hubspot.ratelimit import RateBudget
from sync.errors import RateLimited, RetryableError, SyncError

T = TypeVar("T")

BATCH_LIMIT = 100


def _short_retry(error: BaseException) -> bool:
    """Retry in the call only what is transient and short: never a rate limit."""
    return isinstance(error, RetryableError) and not isinstance(error, RateLimited)


class Transport:
    """One HubSpot account's calls: typed, rate-limited, translated, with timeouts.

    The calls themselves are grouped by area in the classes built on this
    one (``contacts``, ``restriction``, ``exports``, ``subscriptions``,
    ``account``); ``client.HubSpotClient`` joins them.
    """

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        budget: RateBudget,
        timeout_s: float = 10.0,
        subscriptions_api: str = "v4",
        api_version: str = DEFAULT_API_VERSION,
        in_call_attempts: int = 3,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = access_token
        self._budget = budget
        self._timeout = timeout_s
        self._paths = ApiPaths(api_version)
        self._v3_subscriptions = subscriptions_api == "v3"
        self._attempts = in_call_attempts
        self._now = now
        self._property_ready = False
        self._property_names: tuple[datetime, tuple[str, ...]] | None = None

    # -- plumbing ----------------------------------------------------------

    @functools.cached_property
    def _api(self) -> ApiClient:
        """The official client's transport, built once (it holds the connection pool)."""
        configuration = Configuration(host=self.base_url)
        configuration.access_token = self._token
        # urllib3 would retry on its own (three times by default), multiplying
        # timeouts and logging the URL (an email address, for by-email reads):
        # retries are tenacity's job here, so the pool's are off.
        configuration.retries = urllib3.util.Retry(total=False, redirect=False)
        api = ApiClient(configuration=configuration)
        api.user_agent = "hubsync"
        return api

    def _call(self, operation: str, fn: Callable[[], T], *, search: bool = False) -> T:
        """Run one HubSpot call under the budget, with short retries, translating errors."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=2),
            retry=retry_if_exception(_short_retry),
            reraise=True,
        )
        result: T = retrying(self._once, operation, fn, search)
        return result

    def _once(self, operation: str, fn: Callable[[], T], search: bool) -> T:
        self._budget.acquire(search=search)
        try:
            return fn()
        except SyncError:
            raise
        except urllib3.exceptions.HTTPError as exc:
            raise errors.from_transport(exc, operation=operation) from exc
        except Exception as exc:  # the official client's ApiException, one class per package
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                raise
            if status == 0:  # TLS failures come back as status 0
                raise errors.from_transport(exc, operation=operation) from exc
            body, headers = getattr(exc, "body", None), getattr(exc, "headers", None)
            self._budget.observe(headers)  # a refusal's rate-limit headers count too
            raise self._failed(status, body, headers, operation) from exc

    def _failed(
        self, status: int, body: Any, headers: Mapping[str, Any] | None, operation: str
    ) -> SyncError:
        error = errors.from_status(
            status,
            body,
            headers,
            operation=operation,
            now=self._now(),
            day_zone=self._budget.day_zone,
        )
        if isinstance(error, RateLimited):
            self._budget.rate_limited(error.policy, error.retry_after_s or 10.0)
        return error

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Any:
        """One call: its JSON answer (None when empty), the headers fed to the budget.

        Any 2xx is an answer; anything else raises the translated error.
        """

        def run() -> Any:
            response = self._api.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=["oauth2"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            self._budget.observe(response.headers)
            if not response.data:
                return None
            try:
                return json.loads(response.data)
            except ValueError:  # a proxy's page, a cut-off answer: nothing to act on yet
                raise RetryableError(
                    f"HubSpot's answer to {operation} is not JSON", code="unreadable_answer"
                ) from None

        return self._call(operation, run)


def result_items(data: Any) -> list[dict[str, Any]]:
    """The ``results`` of an answer, as a list of objects (empty when there are none)."""
    results = data.get("results") if isinstance(data, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


ATTRIBUTION_KEYS = ("ids", "subscriberIdString", "emailAddress", "email", "objectId")
"""Where an error item of a batch answer may name its inputs (``context``; hubspot-fidelity.md)."""


def batch_outcomes(
    keys: Sequence[str],
    data: Mapping[str, Any] | None,
    operation: str,
    now: datetime,
) -> tuple[dict[str, SyncError | None], list[SyncError]]:
    """Map a batch answer (errors in a 200, or a 207) back to its inputs: None for success.

    An error counts for the inputs its ``context`` names under any of
    ``ATTRIBUTION_KEYS`` (addresses compared case-insensitively). The
    errors that name none of them come back apart: the caller splits the
    batch until each is attributed, never failing every input for one.
    """
    outcomes: dict[str, SyncError | None] = dict.fromkeys(keys)
    folded = {str(k).strip().lower(): k for k in keys}
    unattributed: list[SyncError] = []
    for error in (data or {}).get("errors") or []:
        if not isinstance(error, dict):
            continue
        raw_context = error.get("context")
        context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
        named = [
            str(v).strip().lower()
            for key in ATTRIBUTION_KEYS
            for v in (context.get(key) or [])
            if isinstance(v, str | int) and not isinstance(v, bool)
        ]
        status = error.get("status")
        code = 404 if error.get("category") == "OBJECT_NOT_FOUND" else 400
        if isinstance(status, int):
            code = status
        failure = errors.from_status(
            code, error, None, operation=operation, now=now, batch_item=True
        )
        matched = [folded[n] for n in named if n in folded]
        for item in matched:
            outcomes[item] = failure
        if not matched:
            unattributed.append(failure)
    return outcomes, unattributed
