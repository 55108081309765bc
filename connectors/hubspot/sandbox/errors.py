"""HubSpot-shaped API errors: one exception type that knows its status and JSON body."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An error answer of the emulated API, rendered as HubSpot's `Error` body.

    `category` is HubSpot's category (`VALIDATION_ERROR`, `OBJECT_NOT_FOUND`, `CONFLICT`,
    `INVALID_AUTHENTICATION`, ...); `extra` adds top-level fields such as `errorType` and
    `policyName` for 429s, which use `errorType` instead of `category`.
    """

    def __init__(
        self,
        status: int,
        category: str | None,
        message: str,
        *,
        context: Mapping[str, list[str]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = dict(context) if context else None
        self.extra = dict(extra) if extra else {}

    def body(self, correlation_id: str | None = None) -> dict[str, Any]:
        """The JSON body HubSpot would send for this error."""
        out: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id or new_correlation_id(),
        }
        if self.category is not None:
            out["category"] = self.category
        if self.context is not None:
            out["context"] = self.context
        out.update(self.extra)
        return out

    def item_error(self) -> dict[str, Any]:
        """This error as a `StandardError` item of a 207 batch answer."""
        return {
            "status": "error",
            "category": self.category or "VALIDATION_ERROR",
            "message": self.message,
            "context": self.context or {},
            "errors": [],
            "links": {},
        }


def new_correlation_id() -> str:
    """A fresh correlation id, as HubSpot puts in every error body and response header."""
    return str(uuid.uuid4())


def validation_error(message: str, **context: list[str]) -> ApiError:
    """A 400 `VALIDATION_ERROR`."""
    return ApiError(400, "VALIDATION_ERROR", message, context=context or None)


def not_found(message: str, **context: list[str]) -> ApiError:
    """A 404 `OBJECT_NOT_FOUND`."""
    return ApiError(404, "OBJECT_NOT_FOUND", message, context=context or None)
