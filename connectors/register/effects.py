"""What each register-bound event does to a customer record: pure decisions.

``FakeRegister`` and ``SqlRegister`` both apply these, so they cannot drift
apart. A change is a set of column values; an erasure blanks every personal
column and sets ``erased_at`` (or, with ``on_hubspot_erasure = "notify"``,
only records a notice for the controller to act on).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sync.errors import MappingError, PermanentError, SubjectAbsent
from sync.model import (
    Envelope,
    EventKind,
    NoticeKind,
    Origin,
    RegisterNotice,
    RegisterSubject,
    SubjectId,
)
from sync.rules import rights

PERSONAL_COLUMNS = ("email", "first_name", "last_name", "phone", "company")
"""Customer columns that hold personal data: blanked by an erasure, set by a rectification."""

FLAG_COLUMNS = ("marketing_opt_out", "restricted")
"""Customer columns that record a right, not a person."""

RECORD_COLUMNS = ("id", *PERSONAL_COLUMNS, *FLAG_COLUMNS, "erased_at", "updated_at")
"""Every column of the customers table, in order."""

ErasureMode = Literal["apply", "notify"]
SubjectState = Literal["absent", "erased", "present"]

FLAGS: dict[EventKind, tuple[str, bool]] = {
    EventKind.MARKETING_OPT_OUT: ("marketing_opt_out", True),
    EventKind.MARKETING_OPT_IN: ("marketing_opt_out", False),
    EventKind.RESTRICTION: ("restricted", True),
    EventKind.RESTRICTION_LIFTED: ("restricted", False),
}


@dataclass(frozen=True, slots=True)
class Change:
    """What to do to one customer: set ``values``, erase, or only record ``notice``."""

    values: dict[str, Any] = field(default_factory=dict)
    erase: bool = False
    notice: RegisterNotice | None = None


def erasure_notice(envelope: Envelope, origin: Origin) -> RegisterNotice:
    """The notice that stands for an erasure request the controller applies itself."""
    return RegisterNotice(
        notice_id=f"erasure_requested:{origin.value}:{envelope.event_id}",
        kind=NoticeKind.ERASURE_REQUESTED,
        occurred_at=envelope.occurred_at,
        subject_ids=(envelope.subject_id,),
    )


def subject_of(record: Mapping[str, Any]) -> RegisterSubject:
    """A customers row (by column name) as the port's ``RegisterSubject``."""
    return RegisterSubject(
        subject_id=SubjectId(str(record["id"])),
        email=record.get("email"),
        fields={c: column_value(record.get(c)) for c in PERSONAL_COLUMNS if c != "email"},
        opted_out=bool(record.get("marketing_opt_out")),
        restricted=bool(record.get("restricted")),
        erased=record.get("erased_at") is not None,
    )


def column_value(value: Any) -> str | None:
    """A rectified value as the text columns keep it."""
    return None if value is None else str(value)


def rectified(changes: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The columns a rectification sets; ``MappingError`` naming unknown fields."""
    unknown = sorted(name for name in changes if name not in PERSONAL_COLUMNS)
    if unknown:
        raise MappingError(
            f"event {event_id}: the register has no field {', '.join(unknown)}",
            code="unknown_field",
        )
    misfit = rights.changes_problem(EventKind.RECTIFICATION, bool(changes))
    if misfit is not None:
        raise PermanentError(f"event {event_id}: {misfit}", code=misfit.code)
    return {name: column_value(value) for name, value in changes.items()}


def change_for(envelope: Envelope, origin: Origin, on_hubspot_erasure: ErasureMode) -> Change:
    """The change ``envelope`` makes to its subject's record.

    Raises ``PermanentError`` for what no register can apply: an unknown
    field, a right's unmet precondition (``sync.rules.rights``: an opt-in
    without a legal basis, a rectification without changes), an ``access``
    request (the register's record is read with ``record``, not written).
    """
    kind = envelope.kind
    if kind is EventKind.ERASURE:
        if origin is Origin.HUBSPOT and on_hubspot_erasure == "notify":
            return Change(notice=erasure_notice(envelope, origin))
        return Change(erase=True)
    if kind is EventKind.RECTIFICATION:
        return Change(values=rectified(envelope.changes, envelope.event_id))
    no_basis = rights.missing_legal_basis(kind, envelope.legal_basis)
    if no_basis is not None:
        raise PermanentError(f"event {envelope.event_id}: {no_basis}", code=no_basis.code)
    if kind in FLAGS:
        column, value = FLAGS[kind]
        return Change(values={column: value})
    raise PermanentError(
        f"event {envelope.event_id}: {kind.value} is not applied to the register",
        code="kind_not_applicable",
    )


def plan(
    envelope: Envelope, origin: Origin, on_hubspot_erasure: ErasureMode, state: SubjectState
) -> Change | None:
    """The change to make given what the register holds of the subject; None: nothing to do.

    An unknown subject is ``SubjectAbsent``; so is an erased one for
    anything but another erasure (which then has nothing left to do), so a
    late event can never put personal data back into an erased record.
    """
    change = change_for(envelope, origin, on_hubspot_erasure)
    if state == "absent":
        raise SubjectAbsent(f"the register has no subject {envelope.subject_id}")
    if state == "erased":
        if envelope.kind is EventKind.ERASURE:
            return None
        raise SubjectAbsent(
            f"subject {envelope.subject_id} is erased in the register", code="subject_erased"
        )
    return change
