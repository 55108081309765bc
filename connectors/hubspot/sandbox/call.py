"""One API call as handlers see it: path parameters, query, JSON body, and reply helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response

from connectors.hubspot.sandbox.errors import validation_error


@dataclass(frozen=True)
class Call:
    """An authenticated, rate-limited API call that passed fault injection."""

    method: str
    params: dict[str, str]
    query: QueryParams
    raw_body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; 400 as HubSpot answers for a malformed body."""
        if not self.raw_body:
            raise validation_error("Invalid input JSON: the request body is empty")
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise validation_error(f"Invalid input JSON: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        """The body, which must be a JSON object."""
        body = self.json()
        if not isinstance(body, dict):
            raise validation_error("Invalid input JSON: expected an object")
        return body

    def query_list(self, name: str) -> list[str] | None:
        """A multi-valued query parameter, repeated or comma-separated (both forms are sent)."""
        raw = self.query.getlist(name)
        if not raw:
            return None
        return [part for value in raw for part in value.split(",") if part]

    def query_bool(self, name: str) -> bool:
        """A boolean query parameter (`true`/`false`)."""
        return self.query.get(name, "false").lower() == "true"

    def query_int(self, name: str, default: int) -> int:
        """An integer query parameter; 400 when not a number."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise validation_error(f"{name} must be an integer") from None


Handler = Callable[[Call], Response]


def reply(body: Any, status: int = 200) -> Response:
    """A JSON answer."""
    return JSONResponse(body, status_code=status)


def no_content() -> Response:
    """A 204 answer."""
    return Response(status_code=204)


def input_list(body: dict[str, Any], *, limit: int = 100) -> list[Any]:
    """The `inputs` of a batch body; 400 when missing or longer than `limit`."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error("inputs must be a list", missingFields=["inputs"])
    if len(inputs) > limit:
        raise validation_error(
            f"Too many inputs: {len(inputs)}. "
            f"The maximum number of inputs supported in a batch request is {limit}"
        )
    return inputs
