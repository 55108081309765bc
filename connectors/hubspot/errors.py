"""HubSpot's answers translated into hubsync's errors, at the edge.

The decision table (hubspot-api.md section 4):

======================  ===============================================
status / failure        becomes
======================  ===============================================
429 TEN_SECONDLY_ROLLING ``RateLimited``, wait the interval (10 s) or Retry-After
429 DAILY               ``RateLimited``, wait until the daily reset
429 search (secondly)   ``RateLimited``, wait 1 s
5xx, 423, 477, 52x      ``RetryableError``
timeouts, connections   ``RetryableError``
404                     ``SubjectAbsent``
401                     ``LinkDown`` (``unauthorized``): the token was rotated,
                        revoked or expired; the worker pauses every call
403 MISSING_SCOPES      ``ScopesMissing`` (a ``LinkDown``), naming the scopes
                        (``hubsync check`` probes for them)
403, other category     ``PermanentError`` (``forbidden``): this record or input
400 VALIDATION_ERROR    ``ValuesRefused``: the records it names (``ids``), for
                        the client to split the batch by (2026-09 enforces the
                        account's validation rules on writes)
400, 409, 414, other    ``PermanentError``
======================  ===============================================

HubSpot's error bodies can quote the values sent (an email in a 409, a bad
property value in a 400), so only ``status``, ``category``, ``errorType``,
``policyName``, ``correlationId`` and, in ``context``, the ``ids`` and
``propertyName`` lists are read from them; the message never leaves this
module, and record ids never reach a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.errors import (
    LinkDown,
    PermanentError,
    RateLimited,
    RetryableError,
    SubjectAbsent,
    SyncError,
)
from sync.rules import link

RETRYABLE_STATUSES = frozenset({408, 423, 477, 500, 502, 503, 504, 521, 522, 523, 524})
DEFAULT_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """The safe parts of a HubSpot error body."""

    category: str | None = None
    error_type: str | None = None
    policy_name: str | None = None
    correlation_id: str | None = None
    secondly: bool = False
    ids: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    missing_scopes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, body: Any) -> ErrorBody:
        """Read a body (bytes, str or dict); anything unreadable gives an empty ErrorBody."""
        data: Any = body
        if isinstance(body, bytes | bytearray):
            body = body.decode("utf-8", errors="replace")
        if isinstance(body, str):
            try:
                data = json.loads(body)
            except ValueError:
                return cls()
        if not isinstance(data, dict):
            return cls()
        message = data.get("message")
        raw_context = data.get("context")
        context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
        return cls(
            category=_str(data.get("category")),
            error_type=_str(data.get("errorType")),
            policy_name=_str(data.get("policyName")),
            correlation_id=_str(data.get("correlationId")),
            secondly=isinstance(message, str) and "secondly limit" in message,
            ids=_strings(context.get("ids")),
            properties=tuple(p for p in _strings(context.get("propertyName")) if _is_name(p)),
            missing_scopes=_scopes_named(data, context),
        )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> tuple[str, ...]:
    """A JSON list's strings (numbers as text), or nothing."""
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if isinstance(v, str | int) and not isinstance(v, bool))


def _is_name(value: str) -> bool:
    """A property name (letters, digits, underscores): safe in a message, never a value."""
    return 0 < len(value) <= 100 and value.replace("_", "").isalnum() and value.isascii()


def _scopes_named(data: Mapping[str, Any], context: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes a ``MISSING_SCOPES`` answer names: ``context.missingScopes``, else those
    of its ``errors[].context.requiredGrantedScopes``."""
    named = list(_strings(context.get("missingScopes")))
    if not named:
        for item in data.get("errors") or []:
            inner = item.get("context") if isinstance(item, dict) else None
            if isinstance(inner, dict):
                named += _strings(inner.get("requiredGrantedScopes"))
    return tuple(dict.fromkeys(s for s in named if _is_scope(s)))


def _is_scope(value: str) -> bool:
    """A scope name (``crm.objects.contacts.read``): safe to show."""
    return 0 < len(value) <= 200 and value.replace(".", "").replace("_", "").isalnum()


class ScopesMissing(PermanentError, LinkDown):
    """HubSpot refused a call for scopes the token lacks (403 ``MISSING_SCOPES``).

    Both at once, by what its callers do: one that can do without the call
    (a scope probe, an export leaving out a sensitivity level it may not
    read) catches it as a ``PermanentError`` of that call; anything else
    reaches the worker as a ``LinkDown`` (``sync.rules.link``), which pauses
    every call until the scope is granted, instead of dead-lettering each
    event that needs it.
    """

    def __init__(self, message: str, *, scopes: tuple[str, ...], **common: Any) -> None:
        super().__init__(message, reason=link.MISSING_SCOPES, scopes=scopes, **common)


class ValuesRefused(PermanentError):
    """HubSpot refused the values of some records (400 ``VALIDATION_ERROR``).

    ``ids`` are the records it named (empty when it named none), never put
    in the message; ``properties`` the property names it named.
    """

    def __init__(
        self, message: str, *, ids: tuple[str, ...], properties: tuple[str, ...], **common: Any
    ) -> None:
        super().__init__(message, code="validation_error", **common)
        self.ids = ids
        self.properties = properties


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A header's value, looked up case-insensitively."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


def seconds_until_daily_reset(now: datetime, zone: tzinfo = UTC) -> float:
    """Seconds to the next midnight in the account's time zone, when HubSpot's daily limit resets.

    ``zone`` comes from the account details (``account_zone``); until they
    were read it is UTC.
    """
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
    return max(1.0, (midnight - now).total_seconds())


def account_zone(details: Mapping[str, Any]) -> tzinfo:
    """The account's time zone from its details: ``timeZone``, else ``utcOffsetMilliseconds``."""
    name = details.get("timeZone")
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    offset = details.get("utcOffsetMilliseconds")
    if isinstance(offset, int) and not isinstance(offset, bool) and abs(offset) < 86_400_000:
        return timezone(timedelta(milliseconds=offset))
    return UTC


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` header in seconds, when it is a number."""
    value = header(headers, "Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def from_status(  # noqa: PLR0911 - one return per row of the table above
    status: int,
    body: Any,
    headers: Mapping[str, Any] | None,
    *,
    operation: str,
    now: datetime,
    day_zone: tzinfo = UTC,
    batch_item: bool = False,
) -> SyncError:
    """The error an HTTP answer means, named by ``operation`` (e.g. "batch update").

    ``batch_item``: an error item inside a batch answer, which HubSpot took;
    it is that input's failure, never the link's (``sync.rules.link``).
    """
    parsed = ErrorBody.parse(body)
    correlation = parsed.correlation_id or header(headers, "X-HubSpot-Correlation-Id")
    where = f"HubSpot answered {status} to {operation}"
    if parsed.category:
        where += f" ({parsed.category})"
    common: dict[str, Any] = {"http_status": status, "correlation_id": correlation}
    if status == 429:
        policy = parsed.policy_name or ("SECONDLY" if parsed.secondly else "TEN_SECONDLY_ROLLING")
        wait = retry_after(headers)
        if wait is None:
            if policy == "DAILY":
                wait = seconds_until_daily_reset(now, day_zone)
            elif policy == "SECONDLY":
                wait = 1.0
            else:
                interval = header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
                wait = float(interval) / 1000 if interval and interval.isdigit() else 10.0
        error = RateLimited(
            f"{where}: rate limit {policy}",
            code=f"rate_limited_{policy.lower()}",
            retry_after_s=wait,
            **common,
        )
        error.policy = policy
        return error
    if status in RETRYABLE_STATUSES or status >= 500:
        return RetryableError(
            where, code=f"http_{status}", retry_after_s=retry_after(headers), **common
        )
    if status == 404:
        return SubjectAbsent(where, code="not_found", **common)
    down = link.link_down_reason(status, parsed.category, batch_item=batch_item)
    if down == link.MISSING_SCOPES:
        named = f": {', '.join(parsed.missing_scopes)}" if parsed.missing_scopes else ""
        return ScopesMissing(f"{where}{named}", scopes=parsed.missing_scopes, **common)
    if down is not None:
        return LinkDown(where, reason=down, **common)
    if status == 403:  # a record or an input this token may not touch: the event's own
        return PermanentError(where, code="forbidden", **common)
    if status == 400 and parsed.category == "VALIDATION_ERROR":
        named = f": {', '.join(parsed.properties)}" if parsed.properties else ""
        return ValuesRefused(
            f"{where}{named}", ids=parsed.ids, properties=parsed.properties, **common
        )
    return PermanentError(where, code=f"http_{status}", **common)


def from_transport(exc: BaseException, *, operation: str) -> RetryableError:
    """A timeout or connection failure (no HTTP answer): always worth another try."""
    name = type(exc).__name__
    reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError wraps the cause
    timed_out = "Timeout" in name or "Timeout" in type(reason).__name__
    return RetryableError(
        f"no answer from HubSpot to {operation} ({name})",
        code="timeout" if timed_out else "connection_error",
    )
