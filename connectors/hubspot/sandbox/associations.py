"""Associations of contacts to companies, deals and tickets, as a contact read shows them.

HubSpot answers `GET /crm/v3/objects/contacts/{id}?associations=companies,deals` with
`"associations": {"companies": {"results": [{"id": "7", "type": "contact_to_company"}]}}`
(reference 1.3); object types may be named in the plural, the singular or by type id, and
the answer is keyed by the plural. Types with no associated object are left out.

Each type's collection is one page (``EMBEDDED_PAGE``): with more, it carries
``paging.next.after`` (``CollectionResponseAssociatedId`` has ``paging``,
hubspot-fidelity.md 2.3). The rest is read from the association list,
``GET /crm/objects/2026-09/contacts/{id}/associations/{toObjectType}?after=&limit=``,
which answers in v4's shape (``toObjectId``, ``associationTypes``) a page of at most
``SandboxConfig.association_page_size`` (HubSpot's cap is 500).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from connectors.hubspot.sandbox.call import Call, Handler, reply
from connectors.hubspot.sandbox.errors import validation_error

if TYPE_CHECKING:
    from connectors.hubspot.sandbox.context import Sandbox

EMBEDDED_PAGE = 100
"""How many associated objects of one type a contact read names before paging."""
LIST_LIMIT = 500
"""The association list's ``limit`` cap (v4 "Retrieve associations": 500)."""
TYPE_IDS = {"companies": 279, "deals": 4, "tickets": 15}
"""HubSpot's default contact-to-X association type ids (unlabelled)."""

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
        page = list(ids)[:EMBEDDED_PAGE]
        collection: dict[str, Any] = {
            "results": [{"id": i, "type": f"contact_to_{singular}"} for i in page]
        }
        if len(ids) > EMBEDDED_PAGE:
            collection["paging"] = {"next": {"after": str(EMBEDDED_PAGE)}}
        out[plural] = collection
    return out


def association_page(
    ids: Sequence[str], plural: str, after: str | None, limit: int
) -> dict[str, Any]:
    """One page of the association list (v4's shape); ``after`` is the offset it starts at."""
    start = int(after) if after and after.isdigit() else 0
    page = list(ids)[start : start + limit]
    kinds = [{"category": "HUBSPOT_DEFINED", "typeId": TYPE_IDS[plural], "label": None}]
    body: dict[str, Any] = {
        "results": [
            {"toObjectId": int(i) if i.isdigit() else i, "associationTypes": kinds} for i in page
        ]
    }
    if start + limit < len(ids):
        body["paging"] = {"next": {"after": str(start + limit)}}
    return body


def list_route(sb: Sandbox) -> tuple[str, str, Handler, bool]:
    """``GET /{contact_id}/associations/{to_object_type}`` under the contacts prefix."""

    def list_associations(call: Call) -> Response:
        plural = require_object_type(call.params["to_object_type"])
        cap = min(sb.config.association_page_size, LIST_LIMIT)
        limit = min(max(call.query_int("limit", LIST_LIMIT), 1), cap)
        contact = sb.state.get(call.params["contact_id"])
        ids = list(contact.associations.get(plural, ()))
        return reply(association_page(ids, plural, call.query.get("after"), limit))

    return ("GET", "/{contact_id}/associations/{to_object_type}", list_associations, False)
