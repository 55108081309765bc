"""Structured logging that cannot carry personal data.

structlog renders JSON lines (or a console view on a terminal). Two
processors stand between a log call and its output:

- ``keep_personal_data_out`` passes the values of known-safe keys (ids,
  kinds, states, counts, field *names*, statuses) and replaces every other
  value with ``[redacted]``; it also masks anything shaped like an email
  address in the values it passes, the message included.
- ``render_exception_safely`` replaces structlog's traceback rendering:
  library exceptions can quote values (a database's DETAIL line, an HTTP
  body), so only hubsync's own messages, which are written without personal
  data, are kept; other exceptions are named by class, with their frames.

Event names are past tense and stable (``event_received``, ``event_dead_lettered``).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from sync.errors import HubsyncError

REDACTED = "[redacted]"

SAFE_KEYS = frozenset(
    {
        "event", "level", "timestamp", "logger", "exception",
        "event_id", "event_ids", "seq", "seqs", "kind", "kinds", "origin", "direction",
        "state", "from_state", "to_state", "subject_id", "subject_pseudonym", "contact_id",
        "contact_ids", "count", "counts", "attempt", "attempts", "max_attempts", "worker",
        "owner", "http_status", "status", "correlation_id", "error_class", "error_code",
        "code", "error", "field_names", "fields", "data_categories", "outcome", "action",
        "actor", "system", "duration_s", "wait_s", "retry_at", "batch_size", "claimed",
        "version", "from_version", "to_version", "backend", "policy", "portal_id", "app_id",
        "subscription_id", "host", "port", "reason", "note", "limit", "remaining",
        "location", "allowed", "command", "rows", "first_bad_row", "ok", "scrubbed",
        "duplicate", "dry_run", "receipt_key", "property", "field", "type", "step",
        "subjects", "opt_outs_found", "source", "receipts_count", "scrubbed_count",
        "problems",
    }
)  # fmt: skip
"""Keys whose values are safe by construction: ids, kinds, states, counts, names."""

SAFE_SUFFIXES = ("_id", "_ids", "_count", "_s", "_at", "_status", "_total")

ADDRESS_CHARS = r"[^\s@\"'<>(),;:]"
EMAIL_PATTERN = re.compile(
    rf"(?<!{ADDRESS_CHARS}){ADDRESS_CHARS}+@{ADDRESS_CHARS}+\.[A-Za-z]{{2,}}"
)
"""Anything shaped like an email address. A match starts only where a run of
address characters starts (the lookbehind), so the search is linear in the
text: without it, every position of a long run was tried again (quadratic)."""


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return EMAIL_PATTERN.sub("[email]", value)
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def keep_personal_data_out(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Redact every value whose key is not known to be safe; mask emails in the rest."""
    for key in list(event_dict):
        if key == "exc_info":
            continue
        if key in SAFE_KEYS or key.endswith(SAFE_SUFFIXES):
            event_dict[key] = _mask(event_dict[key])
        else:
            event_dict[key] = REDACTED
    return event_dict


def describe_exception(exc: BaseException) -> str:
    """An exception chain rendered without any message hubsync did not write itself."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        name = type(current).__name__
        if isinstance(current, HubsyncError):
            parts.append(f"{name}: {_mask(str(current))}")
        else:
            parts.append(name)
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def render_exception_safely(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Turn ``exc_info`` into a safe ``exception`` string: class names, our messages, frames."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info if isinstance(exc_info, BaseException) else exc_info[1]
    if exc is None:
        return event_dict
    frames = traceback.extract_tb(exc.__traceback__)[-5:]
    where = "; ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames)
    event_dict["exception"] = describe_exception(exc) + (f" at {where}" if where else "")
    return event_dict


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog (and quiet the standard library's loggers) for this process."""
    out = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            render_exception_safely,
            keep_personal_data_out,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=logging.WARNING, stream=out, format="%(levelname)s %(name)s")
