"""Properties v3 routes for contacts: list, read, create; groups: list, read, create."""

from __future__ import annotations

from starlette.responses import Response

from connectors.hubspot.sandbox.call import Call, Handler, reply
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.errors import validation_error
from connectors.hubspot.sandbox.properties import PropertySchema

CONTACT_TYPES = frozenset({"contacts", "contact", "0-1"})

Route = tuple[str, str, Handler, bool]


def _check_type(call: Call) -> None:
    object_type = call.params["object_type"]
    if object_type not in CONTACT_TYPES:
        raise validation_error(f"Unable to infer object type from: {object_type}")


def routes(sb: Sandbox) -> list[Route]:
    """The property endpoints bound to one sandbox (contacts only)."""
    state = sb.state

    def list_properties(call: Call) -> Response:
        """One sensitivity level's properties (``dataSensitivity``, default ``non_sensitive``).

        Listing needs no sensitive scope: those "are not required to retrieve
        schema information" (sensitive-data guide); reading values does.
        """
        _check_type(call)
        level = call.query.get("dataSensitivity")
        props = state.property_call(lambda s: [p.to_json() for p in s.listed(level)])
        return reply({"results": [] if call.query_bool("archived") else props})

    def read_property(call: Call) -> Response:
        _check_type(call)
        name = call.params["name"]
        return reply(state.property_call(lambda s: s.get(name).to_json()))

    def create_property(call: Call) -> Response:
        _check_type(call)
        body = call.json_object()
        now = state.now_iso()
        return reply(state.property_call(lambda s: s.create(body, now).to_json()), 201)

    def list_groups(call: Call) -> Response:
        _check_type(call)
        groups = state.property_call(lambda s: [g.to_json() for g in s.groups.values()])
        return reply({"results": groups})

    def read_group(call: Call) -> Response:
        _check_type(call)
        name = call.params["name"]
        return reply(state.property_call(lambda s: s.get_group(name).to_json()))

    def create_group(call: Call) -> Response:
        _check_type(call)
        body = call.json_object()

        def create(schema: PropertySchema) -> object:
            return schema.create_group(body).to_json()

        return reply(state.property_call(create), 201)

    return [
        ("GET", "/{object_type}/groups", list_groups, False),
        ("POST", "/{object_type}/groups", create_group, False),
        ("GET", "/{object_type}/groups/{name}", read_group, False),
        ("GET", "/{object_type}", list_properties, False),
        ("POST", "/{object_type}", create_property, False),
        ("GET", "/{object_type}/{name}", read_property, False),
    ]
