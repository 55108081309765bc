"""Published JSON Schemas of the documents hubsync writes (package data, read with importlib)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

ACCESS_EXPORT = "access-export.schema.json"
"""The document of ``hubsync export`` and of ``access`` events (``sync.handlers.access``)."""


def load(name: str) -> dict[str, Any]:
    """One published schema, parsed."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
