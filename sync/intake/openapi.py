"""The OpenAPI document of the intake server (served at ``/openapi.json``).

Written by hand, because the app is plain Starlette: it describes the two
POST endpoints precisely enough for a schema-driven fuzzer (schemathesis)
and the read-only ones briefly.
"""

from __future__ import annotations

from typing import Any

from sync.intake.envelope_json import MAX_EVENTS, MAX_TIME_LENGTH
from sync.rules.input import (
    MAX_CHANGES,
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_LABEL_LENGTH,
    MAX_SUBSCRIPTIONS,
    MAX_WEBHOOK_EVENTS,
)

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "problems": {"type": "array"}},
}
_ENVELOPE = {
    "type": "object",
    "required": ["event_id", "kind", "subject_id", "occurred_at"],
    "additionalProperties": False,
    "properties": {
        "event_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
        "kind": {
            "type": "string",
            "enum": [
                "erasure",
                "rectification",
                "marketing_opt_out",
                "marketing_opt_in",
                "restriction",
                "restriction_lifted",
                "access",
            ],
        },
        "subject_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
        "occurred_at": {"type": "string", "format": "date-time", "maxLength": MAX_TIME_LENGTH},
        "email": {"type": ["string", "null"], "format": "email", "maxLength": MAX_EMAIL_LENGTH},
        "changes": {"type": "object", "maxProperties": MAX_CHANGES},
        "subscription_ids": {
            "type": "array",
            "maxItems": MAX_SUBSCRIPTIONS,
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
        },
        "legal_basis": {"type": ["string", "null"], "maxLength": MAX_LABEL_LENGTH},
        "reference": {"type": ["string", "null"], "maxLength": MAX_LABEL_LENGTH},
    },
}
_WEBHOOK_EVENT = {
    "type": "object",
    "required": ["eventId", "subscriptionId", "portalId", "occurredAt", "subscriptionType"],
    "properties": {
        "eventId": {"type": "integer", "minimum": 0},
        "subscriptionId": {"type": "integer", "minimum": 0},
        "portalId": {"type": "integer", "minimum": 0},
        "appId": {"type": "integer", "minimum": 0},
        "occurredAt": {"type": "integer", "minimum": 0},
        "subscriptionType": {"type": "string", "minLength": 1},
        "attemptNumber": {"type": "integer", "minimum": 0},
        "objectId": {"type": "integer", "minimum": 0},
        "propertyName": {"type": "string"},
        "propertyValue": {"type": "string"},
        "changeSource": {"type": "string"},
        "sourceId": {"type": "string"},
        "primaryObjectId": {"type": "integer", "minimum": 0},
        "mergedObjectIds": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "newObjectId": {"type": "integer", "minimum": 0},
    },
}


def _responses(codes: dict[str, str]) -> dict[str, Any]:
    return {
        code: (
            {"description": text}
            if code == "204"
            else {
                "description": text,
                "content": {"application/json": {"schema": _ERROR}},
            }
        )
        for code, text in codes.items()
    }


def openapi_document() -> dict[str, Any]:
    """The document, as a JSON-ready dict."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "hubsync intake", "version": "1"},
        "paths": {
            "/webhooks/hubspot": {
                "post": {
                    "summary": "A HubSpot webhook batch (v3 signature required).",
                    "parameters": [
                        {
                            "name": "X-HubSpot-Signature-v3",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-HubSpot-Request-Timestamp",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]+$"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "array",
                                    "maxItems": MAX_WEBHOOK_EVENTS,
                                    "items": _WEBHOOK_EVENT,
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        {
                            "204": "stored (a redelivery dropped, a malformed item set aside)",
                            "400": "not a JSON array of events, or too many of them",
                            "401": "missing, invalid or stale signature",
                            "413": "body too large",
                        }
                    ),
                }
            },
            "/v1/events": {
                "post": {
                    "summary": "Register events: one envelope or {'events': [...]}.",
                    "parameters": [
                        {
                            "name": "X-Hubsync-Signature",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        _ENVELOPE,
                                        {
                                            "type": "object",
                                            "required": ["events"],
                                            "properties": {
                                                "events": {
                                                    "type": "array",
                                                    "minItems": 1,
                                                    "maxItems": MAX_EVENTS,
                                                    "items": _ENVELOPE,
                                                }
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": _responses(
                        {
                            "202": "stored; duplicates marked",
                            "400": "not JSON",
                            "401": "missing, malformed or wrong signature",
                            "413": "body too large",
                            "422": "invalid events, problems listed by field",
                        }
                    ),
                }
            },
            "/v1/events/{event_id}": {
                "get": {
                    "summary": "One event's state, without personal data.",
                    "parameters": [
                        {
                            "name": "event_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "the event"},
                        "404": {"description": "none"},
                        "422": {"description": "an id no event can have"},
                    },
                }
            },
            "/healthz": {"get": {"responses": {"200": {"description": "alive"}}}},
            "/readyz": {
                "get": {
                    "responses": {"200": {"description": "ready"}, "503": {"description": "not"}}
                }
            },
            "/metrics": {"get": {"responses": {"200": {"description": "Prometheus text"}}}},
        },
    }
