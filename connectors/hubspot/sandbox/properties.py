"""The contact property schema: HubSpot's built-in properties and groups, plus API-created ones.

Each property carries a ``dataSensitivity`` (``non_sensitive``, ``sensitive``,
``highly_sensitive``; properties reference "Read all properties", whose
``Property`` has the field). Sensitive Data properties exist only where an
Enterprise account created them; the sandbox has none built in, and a
property create may name the level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.sandbox.errors import ApiError, not_found, validation_error

SENSITIVITY_LEVELS = ("non_sensitive", "sensitive", "highly_sensitive")
"""HubSpot's ``dataSensitivity`` values; ``non_sensitive`` is the default."""

PROPERTY_TYPES = frozenset({"string", "number", "date", "datetime", "enumeration", "bool"})
FIELD_TYPES = frozenset(
    {
        "textarea",
        "text",
        "date",
        "file",
        "number",
        "select",
        "radio",
        "checkbox",
        "booleancheckbox",
        "calculation_equation",
        "phonenumber",
        "html",
    }
)

# hs_legal_basis option values equal their labels in the dumps we have (reference section 6).
LEGAL_BASIS_OPTIONS = (
    "Legitimate interest \u2013 prospect/lead",
    "Legitimate interest \u2013 existing customer",
    "Performance of a contract",
    "Freely given consent from contact",
    "Not applicable",
)


@dataclass
class PropertyDef:
    """One contact property as `GET /crm/v3/properties/contacts/{name}` shows it."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group_name: str = "contactinformation"
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    read_only: bool = False
    hubspot_defined: bool = True
    has_unique_value: bool = False
    display_order: int = -1
    created_at: str = "2019-08-06T02:41:52.000Z"
    updated_at: str = "2019-08-06T02:41:52.000Z"
    data_sensitivity: str = "non_sensitive"

    def to_json(self) -> dict[str, Any]:
        """The property's JSON (`Property` model)."""
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "formField": not self.read_only,
            "archived": False,
            "dataSensitivity": self.data_sensitivity,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
        }
        if self.hubspot_defined:
            out["hubspotDefined"] = True
        return out


@dataclass
class PropertyGroup:
    """A property group (`PropertyGroup` model)."""

    name: str
    label: str
    display_order: int = -1

    def to_json(self) -> dict[str, Any]:
        """The group's JSON."""
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": False,
        }


def _bool_options() -> list[dict[str, Any]]:
    return [
        {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
        {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
    ]


def builtin_properties(subscription_ids: list[tuple[str, str]]) -> list[PropertyDef]:
    """Built-in contact properties that hubsync meets, plus one opt-out per subscription."""
    text = [
        ("email", "Email", False, True),
        ("firstname", "First Name", False, False),
        ("lastname", "Last Name", False, False),
        ("phone", "Phone Number", False, False),
        ("mobilephone", "Mobile Phone Number", False, False),
        ("company", "Company Name", False, False),
        ("jobtitle", "Job Title", False, False),
        ("address", "Street Address", False, False),
        ("city", "City", False, False),
        ("zip", "Postal Code", False, False),
        ("country", "Country/Region", False, False),
        ("website", "Website URL", False, False),
        ("lifecyclestage", "Lifecycle Stage", False, False),
        ("hs_additional_emails", "Additional email addresses", True, False),
        ("hs_merged_object_ids", "Merged Contact IDs", True, False),
    ]
    props = [
        PropertyDef(name=n, label=label, read_only=ro, has_unique_value=unique)
        for n, label, ro, unique in text
    ]
    props += [
        PropertyDef(
            name="hs_object_id",
            label="Record ID",
            type="number",
            field_type="number",
            read_only=True,
            has_unique_value=True,
        ),
        PropertyDef(
            name="createdate",
            label="Create Date",
            type="datetime",
            field_type="date",
            read_only=True,
        ),
        PropertyDef(
            name="lastmodifieddate",
            label="Last Modified Date",
            type="datetime",
            field_type="date",
            read_only=True,
        ),
        PropertyDef(
            name="hs_legal_basis",
            label="Legal basis for processing contact's data",
            type="enumeration",
            field_type="checkbox",
            options=[
                {"label": v, "value": v, "displayOrder": i, "hidden": False}
                for i, v in enumerate(LEGAL_BASIS_OPTIONS)
            ],
        ),
        PropertyDef(
            name="hs_email_optout",
            label="Unsubscribed from all email",
            type="enumeration",
            field_type="booleancheckbox",
            group_name="emailinformation",
            options=_bool_options(),
            read_only=True,
        ),
    ]
    props += [
        PropertyDef(
            name=f"hs_email_optout_{sub_id}",
            label=f"Opted out of email: {sub_name}",
            type="enumeration",
            field_type="booleancheckbox",
            group_name="emailinformation",
            options=_bool_options(),
            read_only=True,
        )
        for sub_id, sub_name in subscription_ids
    ]
    return props


def builtin_groups() -> list[PropertyGroup]:
    """HubSpot's built-in contact property groups."""
    return [
        PropertyGroup("contactinformation", "Contact information", 0),
        PropertyGroup("emailinformation", "Email information", 1),
        PropertyGroup("conversioninformation", "Conversion information", 2),
    ]


class PropertySchema:
    """The contact properties and groups of one sandbox account (not thread-safe by itself)."""

    def __init__(self, subscription_ids: list[tuple[str, str]]) -> None:
        self._subscription_ids = subscription_ids
        self.properties: dict[str, PropertyDef] = {}
        self.groups: dict[str, PropertyGroup] = {}
        self.concurrent_group_creates: set[str] = set()
        self.reset()

    def reset(self) -> None:
        """Back to the built-in properties and groups only."""
        self.properties = {p.name: p for p in builtin_properties(self._subscription_ids)}
        self.groups = {g.name: g for g in builtin_groups()}
        self.concurrent_group_creates = set()

    def listed(self, data_sensitivity: str | None) -> list[PropertyDef]:
        """The properties a list shows: one sensitivity level, ``non_sensitive`` by default.

        "If you don't include this parameter ... only non-sensitive properties
        will be returned" (sensitive-data guide, "Access and manage Sensitive
        Data"); 400 for a value that is not a level.
        """
        level = data_sensitivity or "non_sensitive"
        if level not in SENSITIVITY_LEVELS:
            raise validation_error(
                f"dataSensitivity {level} is not one of {', '.join(SENSITIVITY_LEVELS)}",
                invalidPropertyName=["dataSensitivity"],
            )
        return [p for p in self.properties.values() if p.data_sensitivity == level]

    def levels_of(self, names: Iterable[str]) -> set[str]:
        """The sensitivity levels of the known properties among ``names``."""
        return {p.data_sensitivity for n in names if (p := self.properties.get(n)) is not None}

    def get(self, name: str) -> PropertyDef:
        """One property, or 404 as HubSpot answers for an unknown name."""
        prop = self.properties.get(name)
        if prop is None:
            raise not_found(f"Unable to find property {name} for object type 0-1")
        return prop

    def create(self, body: dict[str, Any], now_iso: str) -> PropertyDef:
        """Create a custom property from a `PropertyCreate` body (400 invalid, 409 existing)."""
        missing = [
            k
            for k in ("name", "label", "type", "fieldType", "groupName")
            if not isinstance(body.get(k), str) or not body.get(k)
        ]
        if missing:
            raise validation_error(
                f"Missing required fields: {', '.join(missing)}", missingFields=missing
            )
        name = str(body["name"])
        if not name.replace("_", "").isalnum() or name != name.lower():
            raise validation_error(f"Property name {name} is not valid")
        if body["type"] not in PROPERTY_TYPES:
            raise validation_error(f"Property type {body['type']} is not valid")
        if body["fieldType"] not in FIELD_TYPES:
            raise validation_error(f"Field type {body['fieldType']} is not valid")
        if body["groupName"] not in self.groups:
            raise validation_error(f"Property group {body['groupName']} does not exist")
        if name in self.properties:
            raise ApiError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        sensitivity = body.get("dataSensitivity") or "non_sensitive"
        if sensitivity not in SENSITIVITY_LEVELS:
            raise validation_error(f"dataSensitivity {sensitivity} is not valid")
        options = body.get("options") or []
        if not isinstance(options, list):
            raise validation_error("options must be a list")
        for option in options:
            _check_option(option)
        prop = PropertyDef(
            name=name,
            label=str(body["label"]),
            type=str(body["type"]),
            field_type=str(body["fieldType"]),
            group_name=str(body["groupName"]),
            description=str(body.get("description") or ""),
            options=[dict(o) for o in options if isinstance(o, dict)],
            hubspot_defined=False,
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            display_order=int(body.get("displayOrder", -1)),
            created_at=now_iso,
            updated_at=now_iso,
            data_sensitivity=str(sensitivity),
        )
        self.properties[name] = prop
        return prop

    def get_group(self, name: str) -> PropertyGroup:
        """One group, or 404.

        A name in ``concurrent_group_creates`` stands for another client
        creating that group just after this read missed it: the read answers
        404 and the group exists from then on (once), so the reader's create
        meets HubSpot's 409, deterministically.
        """
        group = self.groups.get(name)
        if group is None:
            if name in self.concurrent_group_creates:
                self.concurrent_group_creates.discard(name)
                self.groups[name] = PropertyGroup(name, name)
            raise not_found(f"Unable to find property group {name} for object type 0-1")
        return group

    def create_group(self, body: dict[str, Any]) -> PropertyGroup:
        """Create a property group from a `PropertyGroupCreate` body (400 invalid, 409 existing)."""
        name, label = body.get("name"), body.get("label")
        if not isinstance(name, str) or not name or not isinstance(label, str) or not label:
            raise validation_error("Missing required fields: name, label")
        if name in self.groups:
            raise ApiError(
                409, "OBJECT_ALREADY_EXISTS", f"Property group named '{name}' already exists."
            )
        group = PropertyGroup(name, label, int(body.get("displayOrder", -1)))
        self.groups[name] = group
        return group


OPTION_FIELDS = {"label": str, "value": str, "displayOrder": int, "hidden": bool}
"""What a property option must carry: 2026-09's ``OptionInput`` requires all four
(``displayOrder`` became required; hubspot-2026.md section 4.3)."""


def _check_option(option: Any) -> None:
    """400 naming the fields an option lacks (or holds with the wrong type)."""
    if not isinstance(option, dict):
        raise validation_error("each option must be an object")
    missing = [
        name
        for name, kind in OPTION_FIELDS.items()
        if not isinstance(option.get(name), kind)
        or (kind is int and isinstance(option.get(name), bool))
    ]
    if missing:
        raise validation_error(
            f"Option fields missing or invalid: {', '.join(missing)}", missingFields=missing
        )
