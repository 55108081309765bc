"""The preconditions of each right: what an event must hold before any system applies it.

DESIGN.md section 2: an opt-in re-subscribes only with an explicit legal
basis, and a rectification names the fields it changes (no other kind carries
changes). Intake refuses an event that misses one (``sync.rules.input``), and
each side that applies events checks again (the register connector, the
HubSpot effects), because an event can reach them by other ways (an outbox
row, a replay, a direct port call). All of them ask this module, so the rule,
its wording and its error code are the same everywhere. An ``Unmet`` names
the field and never quotes a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.model import Envelope, EventKind

CARRIES_CHANGES = frozenset({EventKind.RECTIFICATION})
"""Kinds that carry field changes; every other kind carries none."""

NEEDS_LEGAL_BASIS = frozenset({EventKind.MARKETING_OPT_IN})
"""Kinds that need an explicit legal basis (consent given again)."""

NEEDS_PAYLOAD = CARRIES_CHANGES | NEEDS_LEGAL_BASIS
"""Kinds that cannot be applied once their payload is scrubbed: it holds what they need."""


@dataclass(frozen=True, slots=True)
class Unmet:
    """A precondition an event does not meet: the field, a stable code, and why."""

    field: str
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


MISSING_LEGAL_BASIS = Unmet(
    "legal_basis", "missing_legal_basis", "a marketing opt-in needs an explicit legal basis"
)
NO_CHANGES = Unmet("changes", "no_changes", "a rectification needs at least one field")


def missing_legal_basis(kind: EventKind, legal_basis: str | None) -> Unmet | None:
    """``MISSING_LEGAL_BASIS`` when ``kind`` needs a legal basis and none (or "") is given."""
    if kind in NEEDS_LEGAL_BASIS and not legal_basis:
        return MISSING_LEGAL_BASIS
    return None


def changes_problem(kind: EventKind, has_changes: bool) -> Unmet | None:
    """Whether the event's changes fit its kind: a rectification needs some, others none."""
    if kind in CARRIES_CHANGES and not has_changes:
        return NO_CHANGES
    if kind not in CARRIES_CHANGES and has_changes:
        return Unmet(
            "changes", "unexpected_changes", f"only a rectification carries changes, not {kind}"
        )
    return None


def unmet(envelope: Envelope) -> list[Unmet]:
    """Every precondition of its right that ``envelope`` does not meet; empty when it may go."""
    found = [
        changes_problem(envelope.kind, bool(envelope.changes)),
        missing_legal_basis(envelope.kind, envelope.legal_basis),
    ]
    return [problem for problem in found if problem is not None]
