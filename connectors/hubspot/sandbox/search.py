"""CRM search semantics: validating a `PublicObjectSearchRequest` and matching properties to it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.hubspot.sandbox.errors import validation_error

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
MAX_LIMIT = 200
MAX_QUERY_CHARS = 3000
MAX_RESULTS = 10_000
OPERATORS = frozenset(
    {
        "BETWEEN",
        "CONTAINS_TOKEN",
        "EQ",
        "GT",
        "GTE",
        "HAS_PROPERTY",
        "IN",
        "LT",
        "LTE",
        "NEQ",
        "NOT_CONTAINS_TOKEN",
        "NOT_HAS_PROPERTY",
        "NOT_IN",
    }
)
QUERY_PROPERTIES = ("email", "firstname", "lastname", "phone", "company", "website")
DEFAULT_SEARCH_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)


@dataclass(frozen=True)
class Filter:
    """One validated filter."""

    property_name: str
    operator: str
    value: str | None
    values: tuple[str, ...]
    high_value: str | None


@dataclass(frozen=True)
class Sort:
    """One sort key."""

    property_name: str
    descending: bool


@dataclass(frozen=True)
class SearchRequest:
    """A validated search request."""

    groups: tuple[tuple[Filter, ...], ...]
    query: str | None
    sorts: tuple[Sort, ...]
    properties: tuple[str, ...]
    limit: int
    after: int


def _as_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_request(body: Mapping[str, Any]) -> SearchRequest:
    """Validate a search body with HubSpot's limits (5 groups, 10 each, 25 filters, 200 rows)."""
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise validation_error("filterGroups must be a list")
    if len(raw_groups) > MAX_FILTER_GROUPS:
        raise validation_error(
            f"Too many filter groups ({len(raw_groups)}). The maximum is {MAX_FILTER_GROUPS}."
        )
    groups: list[tuple[Filter, ...]] = []
    total = 0
    for raw_group in raw_groups:
        raw_filters = raw_group.get("filters") if isinstance(raw_group, dict) else None
        if not isinstance(raw_filters, list):
            raise validation_error("each filter group needs a filters list")
        if len(raw_filters) > MAX_FILTERS_PER_GROUP:
            raise validation_error(
                f"Too many filters in a group ({len(raw_filters)}). "
                f"The maximum is {MAX_FILTERS_PER_GROUP}."
            )
        total += len(raw_filters)
        groups.append(tuple(_parse_filter(f) for f in raw_filters))
    if total > MAX_FILTERS:
        raise validation_error(f"Too many filters ({total}). The maximum is {MAX_FILTERS}.")
    query = body.get("query")
    if query is not None and (not isinstance(query, str) or len(query) > MAX_QUERY_CHARS):
        raise validation_error(f"query must be a string of at most {MAX_QUERY_CHARS} characters")
    limit = _int(body.get("limit", 10), "limit")
    if limit < 0 or limit > MAX_LIMIT:
        raise validation_error(f"limit must be between 0 and {MAX_LIMIT}")
    after = _int(body.get("after") or 0, "after")
    properties = body.get("properties") or list(DEFAULT_SEARCH_PROPERTIES)
    if not isinstance(properties, list):
        raise validation_error("properties must be a list")
    return SearchRequest(
        groups=tuple(groups),
        query=query,
        sorts=tuple(_parse_sort(s) for s in body.get("sorts") or []),
        properties=tuple(str(p) for p in properties),
        limit=limit,
        after=after,
    )


def _int(value: object, name: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise validation_error(f"{name} must be an integer") from None


def _parse_filter(raw: object) -> Filter:
    if not isinstance(raw, dict) or not isinstance(raw.get("propertyName"), str):
        raise validation_error("each filter needs a propertyName")
    operator = raw.get("operator", "EQ")
    if operator not in OPERATORS:
        raise validation_error(f"Unknown filter operator {operator}")
    values = raw.get("values") or []
    if not isinstance(values, list):
        raise validation_error("values must be a list")
    flt = Filter(
        property_name=raw["propertyName"],
        operator=str(operator),
        value=_as_str(raw.get("value")),
        values=tuple(v for v in (_as_str(x) for x in values) if v is not None),
        high_value=_as_str(raw.get("highValue")),
    )
    if flt.operator in {"IN", "NOT_IN"} and not flt.values:
        raise validation_error(f"Operator {flt.operator} needs values")
    if flt.operator in {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "CONTAINS_TOKEN"} and (
        flt.value is None
    ):
        raise validation_error(f"Operator {flt.operator} needs a value")
    return flt


def _parse_sort(raw: object) -> Sort:
    if isinstance(raw, str):
        return Sort(raw.lstrip("-"), raw.startswith("-"))
    if isinstance(raw, dict) and isinstance(raw.get("propertyName"), str):
        return Sort(raw["propertyName"], raw.get("direction") == "DESCENDING")
    raise validation_error("each sort needs a propertyName")


def _comparable(value: str) -> float | str:
    """Numbers and datetimes compare as numbers (datetimes as epoch ms), the rest as text."""
    try:
        return float(value)
    except ValueError:
        pass
    if re.fullmatch(r"\d{4}-\d\d-\d\dT.*", value):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
        except ValueError:
            pass
    return value.lower()


def _compare(left: str, right: str) -> int:
    a, b = _comparable(left), _comparable(right)
    if isinstance(a, float) and isinstance(b, float):
        return (a > b) - (a < b)
    sa, sb = str(a), str(b)
    return (sa > sb) - (sa < sb)


def _tokens(value: str) -> set[str]:
    return {t for t in re.split(r"[^0-9a-z]+", value.lower()) if t}


def _matches_filter(props: Mapping[str, str], flt: Filter) -> bool:  # noqa: PLR0911
    actual = props.get(flt.property_name) or None
    op = flt.operator
    if op == "HAS_PROPERTY":
        return actual is not None
    if op == "NOT_HAS_PROPERTY":
        return actual is None
    if op in {"NEQ", "NOT_IN", "NOT_CONTAINS_TOKEN"} and actual is None:
        return True
    if actual is None:
        return False
    if op == "EQ":
        return _compare(actual, flt.value or "") == 0
    if op == "NEQ":
        return _compare(actual, flt.value or "") != 0
    if op == "IN":
        return any(_compare(actual, v) == 0 for v in flt.values)
    if op == "NOT_IN":
        return all(_compare(actual, v) != 0 for v in flt.values)
    if op in {"GT", "GTE", "LT", "LTE"}:
        cmp = _compare(actual, flt.value or "")
        return {"GT": cmp > 0, "GTE": cmp >= 0, "LT": cmp < 0, "LTE": cmp <= 0}[op]
    if op == "BETWEEN":
        return (
            _compare(actual, flt.value or "") >= 0 and _compare(actual, flt.high_value or "") <= 0
        )
    wanted = _tokens((flt.value or "").replace("*", ""))
    contains = wanted <= _tokens(actual) or (flt.value or "").strip("*").lower() in actual.lower()
    return contains if op == "CONTAINS_TOKEN" else not contains


def matches(props: Mapping[str, str], request: SearchRequest) -> bool:
    """Whether a record's properties match: filters AND within a group, groups OR."""
    if request.groups and not any(
        all(_matches_filter(props, f) for f in group) for group in request.groups
    ):
        return False
    if request.query:
        needle = request.query.lower().strip("*")
        return any(needle in (props.get(p) or "").lower() for p in QUERY_PROPERTIES)
    return True


def sort_key(props: Mapping[str, str], sort: Sort) -> tuple[int, int, float, str]:
    """A key that sorts missing values last, numbers and datetimes numerically, text as text."""
    value = props.get(sort.property_name)
    if not value:
        return (1, 0, 0.0, "")
    comparable = _comparable(value)
    if isinstance(comparable, float):
        return (0, 0, comparable, "")
    return (0, 1, 0.0, comparable)
