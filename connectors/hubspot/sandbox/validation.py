"""Admin-configured validation rules, enforced on the 2026-09 write paths.

From the 2026-09 version HubSpot "will enforce admin-configured validation
rules on all CRM API write paths": a write that breaks one answers ``400``
with category ``VALIDATION_ERROR`` (developers.hubspot.com changelog
"crm-api-write-validation-enforcement"; hubspot-2026.md section 4.2). Two
things are not documented, so both are options of ``POST /_sandbox/validation``:

- whether a batch with one bad input fails as a whole (assumed here: the
  request is refused and nothing is written, as for any 400 of a batch);
- whether the error names the records (``context.ids``) or only the
  property (``names_records``, default true).

A rule is ``{"property": NAME, "max_length": N}`` or ``{"property": NAME,
"pattern": REGEX}`` (full match), the rule types HubSpot's property
validations API lists as ``MAX_LENGTH`` and ``REGEX``. Rules are kept until
changed or the sandbox is reset.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.hubspot.sandbox.errors import ApiError, validation_error


@dataclass(frozen=True, slots=True)
class Rule:
    """One property's rule: a longest length, or a pattern the whole value must match."""

    property: str
    max_length: int | None = None
    pattern: re.Pattern[str] | None = None

    def broken_by(self, value: Any) -> bool:
        """Whether writing ``value`` breaks this rule (an empty value never does)."""
        if value is None or value == "":
            return False
        text = str(value)
        if self.max_length is not None and len(text) > self.max_length:
            return True
        return self.pattern is not None and self.pattern.fullmatch(text) is None

    def to_json(self) -> dict[str, Any]:
        """The rule as ``/_sandbox/validation`` shows it."""
        out: dict[str, Any] = {"property": self.property}
        if self.max_length is not None:
            out["max_length"] = self.max_length
        if self.pattern is not None:
            out["pattern"] = self.pattern.pattern
        return out


def parse_rule(data: Any) -> Rule:
    """A rule from its JSON; a 400 naming what is wrong otherwise."""
    if not isinstance(data, Mapping) or not isinstance(data.get("property"), str):
        raise validation_error("a rule needs a property name", missingFields=["property"])
    max_length, pattern = data.get("max_length"), data.get("pattern")
    if max_length is None and pattern is None:
        raise validation_error("a rule needs max_length or pattern")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
        raise validation_error("max_length must be a non-negative integer")
    try:
        compiled = re.compile(pattern) if isinstance(pattern, str) else None
    except re.error:
        raise validation_error("pattern is not a regular expression") from None
    return Rule(data["property"], max_length, compiled)


class ValidationRules:
    """The rules in force, and whether their errors name the records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: tuple[Rule, ...] = ()
        self.names_records = True

    def configure(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the rules (``rules``) and the naming option (``names_records``)."""
        rules = tuple(parse_rule(r) for r in body.get("rules") or [])
        names = body.get("names_records", True)
        with self._lock:
            self._rules = rules
            self.names_records = bool(names)
        return self.to_json()

    def reset(self) -> None:
        """No rules; errors name the records."""
        with self._lock:
            self._rules = ()
            self.names_records = True

    def to_json(self) -> dict[str, Any]:
        """The rules in force and the naming option."""
        with self._lock:
            return {
                "rules": [r.to_json() for r in self._rules],
                "names_records": self.names_records,
            }

    def check(self, writes: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Refuse the request when a write breaks a rule: ``(record id, properties)`` pairs."""
        with self._lock:
            rules, names = self._rules, self.names_records
        broken_ids: list[str] = []
        broken_props: list[str] = []
        for record_id, properties in writes:
            for rule in rules:
                if rule.property in properties and rule.broken_by(properties[rule.property]):
                    broken_ids.append(record_id)
                    broken_props.append(rule.property)
        if not broken_ids:
            return
        props = sorted(set(broken_props))
        context: dict[str, list[str]] = {"propertyName": props}
        if names:
            context["ids"] = list(dict.fromkeys(broken_ids))
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Property values were not valid: {', '.join(props)} breaks a validation rule",
            context=context,
        )
