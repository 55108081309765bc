"""Loading and checking a field mapping file."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.model import Authority
from sync.rules import authority

DEFAULT_MAPPING = Path(__file__).with_name("default.toml")
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
CATEGORY = re.compile(r"^[a-z_]+(\.[a-z_]+)*$")


class MappingFileError(ValueError):
    """A mapping file is invalid; ``problems`` lists each as ``file: key: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid mapping:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """One register field and the HubSpot property it maps to."""

    field: str
    hubspot: str
    category: str
    authority: Authority


@dataclass(frozen=True)
class FieldMap:
    """A validated mapping, looked up from either side."""

    fields: Mapping[str, FieldMapping]
    source: str

    def by_property(self, hubspot_property: str) -> FieldMapping | None:
        """The mapping of a HubSpot property, or None when it is not mapped."""
        for mapping in self.fields.values():
            if mapping.hubspot == hubspot_property:
                return mapping
        return None

    def unknown(self, field_names: Iterable[str]) -> list[str]:
        """Register field names the mapping does not know."""
        return sorted(name for name in field_names if name not in self.fields)

    def sent_to_hubspot(self, field_names: Iterable[str]) -> list[str]:
        """The known names among these whose register value goes to HubSpot.

        A field whose authority is ``hubspot`` is never overwritten from the
        register (``sync.rules.authority``).
        """
        return [
            n
            for n in field_names
            if n in self.fields and authority.sent_to_hubspot(self.fields[n].authority)
        ]

    def authority_of(self, field_name: str) -> Authority | None:
        """The authority of a register field, or None when it is not mapped."""
        mapping = self.fields.get(field_name)
        return mapping.authority if mapping is not None else None

    def categories(self, field_names: Iterable[str]) -> tuple[str, ...]:
        """The data categories of the known fields among ``field_names``, sorted."""
        return tuple(sorted({self.fields[n].category for n in field_names if n in self.fields}))

    def to_hubspot(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Register changes as HubSpot properties; unknown fields raise ``KeyError``."""
        return {self.fields[name].hubspot: value for name, value in changes.items()}


def load_mapping(path: str | Path | None = None) -> FieldMap:
    """Read and validate a mapping file (the shipped default when ``path`` is None)."""
    file = Path(path) if path is not None else DEFAULT_MAPPING
    name = file.name if path is None else str(file)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingFileError([f"{name}: no such mapping file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingFileError([f"{name}: not valid TOML ({exc})"]) from None
    problems: list[str] = []
    fields: dict[str, FieldMapping] = {}
    table = data.get("fields")
    unexpected = sorted(set(data) - {"fields"})
    problems.extend(f"{name}: {key}: unknown key" for key in unexpected)
    if not isinstance(table, dict) or not table:
        problems.append(f"{name}: fields: at least one [fields.<name>] table is needed")
        raise MappingFileError(problems)
    seen_properties: dict[str, str] = {}
    for field, spec in table.items():
        found = _check_field(f"{name}: fields.{field}", field, spec, seen_properties)
        problems.extend(found)
        if not found:
            fields[field] = FieldMapping(
                field, spec["hubspot"], spec["category"], Authority(spec["authority"])
            )
    if problems:
        raise MappingFileError(problems)
    return FieldMap(fields=fields, source=name)


_KEYS = {"hubspot", "category", "authority"}


def _check_field(where: str, field: str, spec: Any, seen: dict[str, str]) -> list[str]:
    """Problems of one [fields.<field>] table; records its property in ``seen``."""
    if not isinstance(spec, dict):
        return [f"{where}: must be a table"]
    problems = [f"{where}.{k}: unknown key" for k in sorted(set(spec) - _KEYS)]
    if not FIELD_NAME.match(field):
        problems.append(f"{where}: field names are letters, digits and _")
    hubspot = spec.get("hubspot")
    if not isinstance(hubspot, str) or not PROPERTY_NAME.match(hubspot):
        problems.append(f"{where}.hubspot: a HubSpot property name (lower case) is needed")
    elif hubspot in seen:
        problems.append(f"{where}.hubspot: {hubspot} is already mapped from {seen[hubspot]}")
    else:
        seen[hubspot] = field
    category = spec.get("category")
    if not isinstance(category, str) or not CATEGORY.match(category):
        problems.append(f"{where}.category: a dotted data category is needed")
    if spec.get("authority") not in {a.value for a in Authority}:
        problems.append(f"{where}.authority: must be register, hubspot or both")
    return problems
