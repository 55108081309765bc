"""Erasure wins: which events survive a subject's erasure, stated once.

DESIGN.md section 4: an erasure supersedes every waiting event of its subject
(they never reach HubSpot, so a late rectification cannot re-create an erased
person), and afterwards new events for the subject are refused, except
another erasure or an access request, which read or remove and never write
personal data back. This module holds those decisions as predicates over
kinds and states, the notes the ledger stores for them, and the SQL fragments
the ledger splices into its queries. The fragments are built from the same
constants as the predicates, so the two cannot drift; the values are enum
strings of ``[a-z_]`` only, checked here, so inlining them is safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sync.model import OPEN_STATES, EventKind, EventState

SURVIVING_KINDS = frozenset({EventKind.ERASURE, EventKind.ACCESS})
"""Kinds accepted for, and never superseded by, a subject that is erased or being erased."""

SUPERSEDABLE_STATES = frozenset({EventState.PENDING, EventState.FAILED})
"""States of an event an erasure can still stop: waiting, not in flight, not finished."""

REFUSED_NOTE = "subject_erased"
"""The note of an event refused because its subject is erased or being erased."""

SUPERSEDED_NOTE = "superseded_by_erasure"
"""The note of a superseded event; intake adds ``:<seq>`` of the erasure that did it."""

_SQL_SAFE = re.compile(r"[a-z_]+")


def refused(kind: EventKind, erased_or_erasing: bool) -> bool:
    """Whether a new event is refused: its subject is erased or being erased, and it writes."""
    return erased_or_erasing and kind not in SURVIVING_KINDS


def supersedes(kind: EventKind, state: EventState) -> bool:
    """Whether an erasure of the event's subject supersedes it (marks it, drops its payload)."""
    return state in SUPERSEDABLE_STATES and kind not in SURVIVING_KINDS


def keeps_payload(kind: EventKind, state: EventState) -> bool:
    """Whether an event keeps its payload when its subject is marked erased.

    Erasures and access requests still to run keep what they need and are
    scrubbed when they finish; every other payload of the subject goes at once.
    """
    return state in OPEN_STATES and kind in SURVIVING_KINDS


def superseded_note(erasure_seq: int | None = None) -> str:
    """The note of an event an erasure superseded; with the erasure's seq when known."""
    return SUPERSEDED_NOTE if erasure_seq is None else f"{SUPERSEDED_NOTE}:{erasure_seq}"


def sql_list(values: Iterable[str]) -> str:
    """``('a', 'b')``: a SQL list of enum strings, sorted so the text is stable."""
    items = sorted({str(v) for v in values})
    unsafe = [v for v in items if not _SQL_SAFE.fullmatch(v)]
    if not items or unsafe:
        raise ValueError("a SQL list holds one or more lower_snake enum strings")
    return "(" + ", ".join(f"'{v}'" for v in items) + ")"


SURVIVING_KINDS_SQL = sql_list(SURVIVING_KINDS)
SUPERSEDABLE_STATES_SQL = sql_list(SUPERSEDABLE_STATES)
OPEN_STATES_SQL = sql_list(OPEN_STATES)


def supersedes_sql(table: str = "") -> str:
    """The SQL condition that is ``supersedes(kind, state)``, on ``table``'s columns if named."""
    prefix = f"{table}." if table else ""
    return (
        f"{prefix}state IN {SUPERSEDABLE_STATES_SQL} AND {prefix}kind NOT IN {SURVIVING_KINDS_SQL}"
    )


KEEPS_PAYLOAD_SQL = f"state IN {OPEN_STATES_SQL} AND kind IN {SURVIVING_KINDS_SQL}"
"""The SQL condition that is ``keeps_payload(kind, state)``."""
