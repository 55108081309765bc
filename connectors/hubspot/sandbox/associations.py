"""Associations of contacts to companies, deals and tickets, as a contact read shows them.

HubSpot answers `GET /crm/v3/objects/contacts/{id}?associations=companies,deals` with
`"associations": {"companies": {"results": [{"id": "7", "type": "contact_to_company"}]}}`
(reference 1.3); object types may be named in the plural, the singular or by type id, and
the answer is keyed by the plural. Types with no associated object are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.hubspot.sandbox.errors import validation_error

# Plural name -> (singular, object type id).
OBJECT_TYPES = {
    "companies": ("company", "0-2"),
    "deals": ("deal", "0-3"),
    "tickets": ("ticket", "0-5"),
}
_ALIASES = {
    alias: plural
    for plural, (singular, type_id) in OBJECT_TYPES.items()
    for alias in (plural, singular, type_id)
}


def object_type(name: str) -> str | None:
    """The plural name of an object type given in any of its forms; None when unknown."""
    return _ALIASES.get(name.strip().lower())


def require_object_type(name: object) -> str:
    """The plural name of an object type, or 400 naming the known ones."""
    plural = object_type(str(name)) if name is not None else None
    if plural is None:
        raise validation_error(
            f"Unknown object type {name}; known: {', '.join(OBJECT_TYPES)}",
            invalidPropertyName=["object_type"],
        )
    return plural


def associations_json(
    associated: Mapping[str, Sequence[str]], wanted: Iterable[str]
) -> dict[str, Any]:
    """The `associations` member of a contact read for the requested object types."""
    out: dict[str, Any] = {}
    for name in wanted:
        plural = object_type(name)
        ids = associated.get(plural or "", ())
        if plural is None or not ids:
            continue
        singular = OBJECT_TYPES[plural][0]
        out[plural] = {"results": [{"id": i, "type": f"contact_to_{singular}"} for i in ids]}
    return out
