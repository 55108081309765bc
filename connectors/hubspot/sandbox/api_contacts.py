"""Contacts v3 routes: read, list, create, update, archive, batches, search, GDPR delete, merge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import Response

from connectors.hubspot.sandbox import scopes as scope_rules
from connectors.hubspot.sandbox import search as search_rules
from connectors.hubspot.sandbox.associations import associations_json, list_route
from connectors.hubspot.sandbox.call import Call, Handler, input_list, no_content, reply
from connectors.hubspot.sandbox.config import MERGED_ID_ENDPOINTS
from connectors.hubspot.sandbox.context import Sandbox
from connectors.hubspot.sandbox.errors import ApiError, validation_error
from connectors.hubspot.sandbox.events import Source
from connectors.hubspot.sandbox.properties import PropertySchema
from connectors.hubspot.sandbox.state import Contact, CreateInput, UpdateInput
from connectors.hubspot.sandbox.timefmt import iso_ms

DEFAULT_PROPERTIES = ("firstname", "lastname", "email")
ALWAYS = ("hs_object_id", "createdate", "lastmodifieddate")
MAX_BATCH = 100
MAX_HISTORY_BATCH = 50
MAX_PAGE = 100

Route = tuple[str, str, Handler, bool]
"""(method, path suffix, handler, is_search)."""


def contact_json(
    contact: Contact,
    schema: PropertySchema,
    properties: Sequence[str] | None = None,
    with_history: Sequence[str] | None = None,
    *,
    all_properties: bool = False,
    associations: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A `SimplePublicObject`: requested known properties (null when empty), or all of them.

    With `associations` (object types, as the read's query names them) it is a
    `SimplePublicObjectWithAssociations`, as single reads and pages answer.
    """
    if all_properties:
        props: dict[str, str | None] = dict(contact.properties)
    else:
        wanted = list(properties) if properties else list(DEFAULT_PROPERTIES)
        props = {
            name: contact.properties.get(name) or None
            for name in [*wanted, *ALWAYS]
            if name in schema.properties
        }
    out: dict[str, Any] = {
        "id": contact.id,
        "properties": props,
        "createdAt": iso_ms(contact.created_ms),
        "updatedAt": iso_ms(contact.updated_ms),
        "archived": contact.archived,
    }
    if contact.archived and contact.archived_ms is not None:
        out["archivedAt"] = iso_ms(contact.archived_ms)
    if with_history:
        out["propertiesWithHistory"] = {
            name: [entry.to_json() for entry in contact.history.get(name, [])]
            for name in with_history
            if name in schema.properties
        }
    if associations:
        associated = associations_json(contact.associations, associations)
        if associated:
            out["associations"] = associated
    return out


def written_json(contact: Contact, names: Sequence[str]) -> dict[str, Any]:
    """An update's answer: the record with only the properties the update wrote.

    HubSpot's batch-update example answers with the written properties only
    (docs "Update contacts", batch/update), and an update that wrote nothing
    answers ``"properties": []`` (HubSpot/hubspot-api-php#104). So nothing
    else, ``hs_merged_object_ids`` included, may be read from an update's answer.
    """
    return {
        "id": contact.id,
        "properties": {name: contact.properties.get(name, "") for name in names},
        "createdAt": iso_ms(contact.created_ms),
        "updatedAt": iso_ms(contact.updated_ms),
        "archived": contact.archived,
    }


def _properties_of(item: object) -> dict[str, Any]:
    props = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(props, dict):
        raise validation_error("properties must be an object", missingFields=["properties"])
    return props


def _str_list(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise validation_error(f"{name} must be a list")
    return [str(v) for v in value]


def routes(sb: Sandbox, *, dated: bool = False) -> list[Route]:  # noqa: PLR0915 (one closure per endpoint)
    """The contacts endpoints bound to one sandbox.

    ``dated`` (the 2026-09 paths): a batch with per-item failures answers
    200 with ``errors`` and ``numErrors``, as the 2026-09 specification
    documents (no 207; hubspot-2026.md section 4.2); v3 answers 207. Updates
    on these paths obey the validation rules (``sandbox.validation``).

    An old id of a merged contact finds the merged record only on the
    endpoints ``merged_ids_resolve_on`` names (HubSpot documents it for reads
    only: changelog "Updated merge functionality for contacts and companies";
    hubspot-fidelity.md 2.4); elsewhere it is a 404 / ``OBJECT_NOT_FOUND``.
    """
    state = sb.state
    resolves = sb.config.merged_ids_resolve_on
    unknown = resolves - MERGED_ID_ENDPOINTS
    if unknown:
        raise ValueError(f"merged_ids_resolve_on names unknown endpoints: {sorted(unknown)}")
    app_source = Source.app(sb.config.app_id)

    def render(contact: Contact, call_props: Sequence[str] | None = None) -> dict[str, Any]:
        return contact_json(contact, state.schema, call_props, all_properties=call_props is None)

    def batch_reply(results: list[Any], errors: list[ApiError], ok: int) -> Response:
        now = state.now_iso()
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": now,
            "startedAt": now,
            "completedAt": now,
        }
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = [e.item_error() for e in errors]
            if not sb.config.batch_errors_name_inputs:
                for item in body["errors"]:
                    item["context"] = {}
        return reply(body, 207 if errors and not dated else ok)

    def get_page(call: Call) -> Response:
        limit = min(max(call.query_int("limit", 10), 1), MAX_PAGE)
        contacts, after = state.page(
            limit, call.query.get("after"), archived=call.query_bool("archived")
        )
        body: dict[str, Any] = {
            "results": [
                contact_json(
                    c,
                    state.schema,
                    call.query_list("properties"),
                    call.query_list("propertiesWithHistory"),
                    associations=call.query_list("associations"),
                )
                for c in contacts
            ]
        }
        if after is not None:
            body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return reply(body)

    def get_one(call: Call) -> Response:
        wanted = [call.query_list("properties"), call.query_list("propertiesWithHistory")]
        scope_rules.check_sensitive_read(sb, *wanted, dated=dated)
        contact = state.get(
            call.params["contact_id"],
            call.query.get("idProperty"),
            archived=call.query_bool("archived"),
            resolve_merged="get" in resolves,
        )
        return reply(
            contact_json(
                contact,
                state.schema,
                call.query_list("properties"),
                call.query_list("propertiesWithHistory"),
                associations=call.query_list("associations"),
            )
        )

    def create(call: Call) -> Response:
        contact = state.create(_properties_of(call.json_object()), app_source)
        return reply(render(contact), 201)

    def update(call: Call) -> Response:
        properties = _properties_of(call.json_object())
        if dated:
            sb.validation.check([(call.params["contact_id"], properties)])
        contact = state.update(
            call.params["contact_id"],
            properties,
            app_source,
            call.query.get("idProperty"),
            resolve_merged="update" in resolves,
        )
        return reply(written_json(contact, list(properties)))

    def archive(call: Call) -> Response:
        state.archive(call.params["contact_id"], app_source)
        return no_content()

    def batch_read(call: Call) -> Response:
        body = call.json_object()
        history = _str_list(body.get("propertiesWithHistory"), "propertiesWithHistory")
        wanted = _str_list(body.get("properties"), "properties")
        scope_rules.check_sensitive_read(sb, wanted, history, dated=dated)  # before any 404
        inputs = input_list(body, limit=MAX_BATCH)
        if history and len(inputs) > MAX_HISTORY_BATCH:
            raise validation_error(
                "The maximum number of inputs supported in a batch request for property "
                f"histories is {MAX_HISTORY_BATCH}"
            )
        ids = [str(i.get("id")) for i in inputs if isinstance(i, dict) and i.get("id") is not None]
        found, missing = state.batch_read(
            ids,
            body.get("idProperty"),
            archived=call.query_bool("archived"),
            resolve_merged="batch_read" in resolves,
        )
        props = _str_list(body.get("properties"), "properties")
        results = [contact_json(c, state.schema, props, history) for c in found]
        errors = []
        if missing:
            errors.append(
                ApiError(
                    404,
                    "OBJECT_NOT_FOUND",
                    "Could not get some CONTACT objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    context={"ids": missing},
                )
            )
        return batch_reply(results, errors, 200)

    def batch_create(call: Call) -> Response:
        inputs = input_list(call.json_object(), limit=MAX_BATCH)
        items = [
            CreateInput(
                _properties_of(i),
                str(i["objectWriteTraceId"]) if i.get("objectWriteTraceId") else None,
            )
            for i in inputs
        ]
        outcome = state.batch_create(items, app_source)
        return batch_reply([render(c) for c in outcome.results], outcome.errors, 201)

    def update_inputs(body: dict[str, Any]) -> list[UpdateInput]:
        default_id_property = body.get("idProperty")
        out = []
        for i in input_list(body, limit=MAX_BATCH):
            if not isinstance(i, dict) or i.get("id") is None:
                raise validation_error("each input needs an id", missingFields=["id"])
            out.append(
                UpdateInput(
                    id=str(i["id"]),
                    properties=_properties_of(i),
                    id_property=i.get("idProperty") or default_id_property,
                    trace_id=i.get("objectWriteTraceId"),
                )
            )
        return out

    def batch_update(call: Call) -> Response:
        inputs = update_inputs(call.json_object())
        if dated:  # 2026-09 enforces the account's validation rules on writes
            sb.validation.check([(i.id, i.properties) for i in inputs])
        outcome = state.batch_update(inputs, app_source, resolve_merged="batch_update" in resolves)
        results = [
            written_json(c, w) for c, w in zip(outcome.results, outcome.written, strict=True)
        ]
        return batch_reply(results, outcome.errors, 200)

    def batch_upsert(call: Call) -> Response:
        outcome = state.batch_upsert(update_inputs(call.json_object()), app_source)
        results = [{**render(c), "new": new} for c, new in outcome.results]
        return batch_reply(results, outcome.errors, 200)

    def batch_archive(call: Call) -> Response:
        inputs = input_list(call.json_object(), limit=MAX_BATCH)
        state.batch_archive([str(i.get("id")) for i in inputs if isinstance(i, dict)], app_source)
        return no_content()

    def search(call: Call) -> Response:
        request = search_rules.parse_request(call.json_object())
        total, page, after = state.search(request)
        body: dict[str, Any] = {
            "total": total,
            "results": [contact_json(c, state.schema, request.properties) for c in page],
        }
        if after is not None:
            body["paging"] = {"next": {"after": str(after), "link": f"?after={after}"}}
        return reply(body)

    def gdpr_delete(call: Call) -> Response:
        body = call.json_object()
        object_id = body.get("objectId")
        if object_id is None or object_id == "":
            raise validation_error("objectId is required", missingFields=["objectId"])
        state.gdpr_delete(
            str(object_id),
            body.get("idProperty"),
            app_source,
            resolve_merged="gdpr_delete" in resolves,
        )
        return no_content()

    def merge(call: Call) -> Response:
        body = call.json_object()
        primary, other = body.get("primaryObjectId"), body.get("objectIdToMerge")
        if primary is None or other is None:
            raise validation_error(
                "primaryObjectId and objectIdToMerge are required",
                missingFields=["primaryObjectId", "objectIdToMerge"],
            )
        return reply(render(state.merge(str(primary), str(other), app_source)))

    return [
        ("GET", "", get_page, False),
        ("POST", "", create, False),
        ("POST", "/batch/read", batch_read, False),
        ("POST", "/batch/create", batch_create, False),
        ("POST", "/batch/update", batch_update, False),
        ("POST", "/batch/upsert", batch_upsert, False),
        ("POST", "/batch/archive", batch_archive, False),
        ("POST", "/search", search, True),
        ("POST", "/gdpr-delete", gdpr_delete, False),
        ("POST", "/merge", merge, False),
        ("GET", "/{contact_id}", get_one, False),
        list_route(sb),
        ("PATCH", "/{contact_id}", update, False),
        ("DELETE", "/{contact_id}", archive, False),
    ]
