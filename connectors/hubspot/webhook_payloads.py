"""HubSpot webhook batches parsed into typed, frozen values (hubspot-api.md section 3.4).

A batch is a JSON array of events. Parsing is strict on shape (each known
field has its type, and a malformed item is refused with an error naming the
item and the field, never its value) and tolerant of content: any
``subscriptionType`` is accepted, and unknown fields are kept in ``source``
for whoever reads the event later. ``property_value`` is personal data: it is
left out of the repr, and nothing here logs.

Text fields pass the same rules as every other input (``sync.rules.input``):
names and ids are printable and capped, ``propertyValue`` holds no NUL or
lone surrogate. ``read_batch`` sets a malformed item aside (the batch is
signed, and HubSpot retries a refused delivery only for a while), so one bad
item never costs the privacy deletion next to it.

HubSpot's vocabulary stops here: ``change_from_item`` gives the core a
``HubSpotChange`` in its own terms (what happened, whether hubsync's app did
it, whether it sets the email address or an opt-out), so no subscription
type, ``changeSource`` value or ``hs_email_optout`` name reaches ``sync``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync.model import ChangeKind, HubSpotChange, OptOutChange, SetAsideItem, WebhookBatch
from sync.rules.input import MAX_LABEL_LENGTH, MAX_WEBHOOK_EVENTS, id_problem, text_problem

MAX_ID = 2**63 - 1
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_VALUE = 1_048_576  # a form's value has no cap in HubSpot; the body limit bounds it
SET_ASIDE_PREFIX = "malformed:"
IDENTITY_DIGEST_LENGTH = 16  # 64 bits: a collision of two distinct events is not a concern


class MalformedWebhook(ValueError):
    """A webhook body that is not a batch of well-formed events; the message names the field."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event of a HubSpot webhook batch.

    The base fields come with every event; the others only with some types
    (``property_*`` with ``*.propertyChange``, the ``*_object_ids`` with
    ``*.merge``). ``source`` is the item as received, for the inbox.
    """

    event_id: int
    subscription_id: int
    portal_id: int
    occurred_at: datetime
    subscription_type: str
    app_id: int | None = None
    attempt_number: int = 0
    object_id: int | None = None
    object_type_id: str | None = None
    property_name: str | None = None
    property_value: str | None = field(default=None, repr=False)
    change_source: str | None = None
    change_flag: str | None = None
    source_id: str | None = None
    primary_object_id: int | None = None
    merged_object_ids: tuple[int, ...] = ()
    new_object_id: int | None = None
    number_of_properties_moved: int | None = None
    source: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def receipt_key(self) -> str:
        """The deduplication key: the event's identity, which a redelivery repeats exactly.

        HubSpot's ``eventId`` "is not guaranteed to be unique" (webhooks
        doc, field table), so portal, subscription and event id are not
        enough: two distinct events sharing them (a privacy deletion among
        them, perhaps) would be one. The key adds a digest of when it
        happened, to which object, of which type and property; a redelivery
        (only ``attemptNumber`` changes) keeps it. It stays readable and
        short: ``portal:subscription:eventId:digest``.
        """
        identity = [
            round(self.occurred_at.timestamp() * 1000),  # epoch ms, as sent
            self.object_id,
            self.object_type_id,
            self.subscription_type,
            self.property_name,
        ]
        canonical = json.dumps(identity, separators=(",", ":"))  # ASCII: escapes all
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:IDENTITY_DIGEST_LENGTH]
        return f"{self.portal_id}:{self.subscription_id}:{self.event_id}:{digest}"


class _Item:
    """Typed reads from one item, raising ``MalformedWebhook`` that names the field."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def fail(self, name: str, expected: str) -> MalformedWebhook:
        return MalformedWebhook(f"{self.where}.{name}: must be {expected}")

    def id(self, name: str, *, required: bool = False) -> int | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise MalformedWebhook(f"{self.where}.{name}: is required")
            return None
        return _checked_id(value, f"{self.where}.{name}")

    def required_id(self, name: str) -> int:
        value = self.id(name, required=True)
        assert value is not None
        return value

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        rule: Callable[[str], str | None] = id_problem,
    ) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise MalformedWebhook(f"{self.where}.{name}: is required")
            return None
        if not isinstance(value, str):
            raise self.fail(name, "a string")
        problem = rule(value)
        if problem is not None:
            raise MalformedWebhook(f"{self.where}.{name}: {problem}")
        return value

    def ids(self, name: str) -> tuple[int, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(name, "an array of integers")
        return tuple(_checked_id(v, f"{self.where}.{name}[{i}]") for i, v in enumerate(value))


def _checked_id(value: Any, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise MalformedWebhook(f"{label}: must be a non-negative 64-bit integer")
    return value


def parse_event(item: Any, where: str = "event") -> WebhookEvent:
    """One event from its decoded JSON object; ``where`` prefixes error messages."""
    if not isinstance(item, dict):
        raise MalformedWebhook(f"{where}: must be a JSON object")
    read = _Item(item, where)
    occurred_ms = read.required_id("occurredAt")
    if occurred_ms > MAX_EPOCH_MS:
        raise read.fail("occurredAt", "epoch milliseconds before the year 10000")
    subscription_type = read.text("subscriptionType", required=True)
    assert subscription_type is not None  # required, and id_problem refuses an empty one
    return WebhookEvent(
        event_id=read.required_id("eventId"),
        subscription_id=read.required_id("subscriptionId"),
        portal_id=read.required_id("portalId"),
        occurred_at=datetime.fromtimestamp(occurred_ms / 1000, UTC),
        subscription_type=subscription_type,
        app_id=read.id("appId"),
        attempt_number=read.id("attemptNumber") or 0,
        object_id=read.id("objectId"),
        object_type_id=read.text("objectTypeId"),
        property_name=read.text("propertyName"),
        property_value=read.text("propertyValue", rule=_value_problem),
        change_source=read.text("changeSource"),
        change_flag=read.text("changeFlag"),
        source_id=read.text("sourceId", rule=_label_problem),
        primary_object_id=read.id("primaryObjectId"),
        merged_object_ids=read.ids("mergedObjectIds"),
        new_object_id=read.id("newObjectId"),
        number_of_properties_moved=read.id("numberOfPropertiesMoved"),
        source=item,
    )


def _no_constants(name: str) -> Any:
    raise MalformedWebhook(f"body: {name} is not JSON")


def _value_problem(value: str) -> str | None:
    return text_problem(value, MAX_VALUE)


def _label_problem(value: str) -> str | None:
    return text_problem(value, MAX_LABEL_LENGTH)


def _decoded_array(body: bytes) -> list[Any]:
    try:
        decoded = json.loads(body, parse_constant=_no_constants)
    except MalformedWebhook:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise MalformedWebhook("body: not valid JSON") from exc
    if not isinstance(decoded, list):
        raise MalformedWebhook("body: must be a JSON array of events")
    if len(decoded) > MAX_WEBHOOK_EVENTS:
        raise MalformedWebhook(f"body: more than {MAX_WEBHOOK_EVENTS} events in one batch")
    return decoded


def parse_batch(body: bytes) -> list[WebhookEvent]:
    """Every event of a webhook body (a JSON array, possibly empty), in order; strict."""
    return [parse_event(item, f"[{i}]") for i, item in enumerate(_decoded_array(body))]


def set_aside_key(item: Any) -> str:
    """The receipt key of a malformed item: a digest of it, so a redelivery is recognised.

    ``attemptNumber`` is left out: HubSpot counts it up on each redelivery.
    """
    if isinstance(item, dict):
        item = {k: v for k, v in item.items() if k != "attemptNumber"}
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"))  # ASCII: escapes all
    return SET_ASIDE_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _whole_body(body: bytes) -> Any:
    """A body that is not a batch, as the inbox can keep it: its JSON, else its text.

    Undecodable bytes become lone surrogates, which the inbox stores as
    ``\\udcXX`` escapes, so nothing of the body is lost.
    """
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # MalformedWebhook included
        return body.decode("utf-8", "surrogateescape")


def inbox_items(body: bytes) -> WebhookBatch:
    """The batch as the ledger's inbox stores it: (receipt key, event as received) pairs,
    and each malformed item set aside with the problem by field name.

    A body that is not a JSON array of at most ``MAX_WEBHOOK_EVENTS`` is set
    aside whole, as one item: it is signed, so it is HubSpot's, and a refusal
    would lose it for good (HubSpot does not retry a 400).
    """
    batch = WebhookBatch(items=[])
    try:
        decoded = _decoded_array(body)
    except MalformedWebhook as exc:
        whole = _whole_body(body)
        batch.set_aside.append(SetAsideItem(set_aside_key(whole), whole, str(exc)))
        return batch
    for index, item in enumerate(decoded):
        try:
            event = parse_event(item, f"[{index}]")
        except MalformedWebhook as exc:
            problem = str(exc).removeprefix(f"[{index}]").lstrip(".: ") or "malformed"
            batch.set_aside.append(SetAsideItem(set_aside_key(item), item, problem))
            continue
        batch.items.append((event.receipt_key, dict(event.source)))
    return batch


CONTACT_OBJECT_TYPE = "0-1"

OPT_OUT_PROPERTY = "hs_email_optout"
"""The opt-out from all email; ``hs_email_optout_<subscription id>`` opts out of one."""

EMAIL_PROPERTY = "email"
"""The contact property that holds its email address."""

APP_CHANGE_SOURCES = frozenset({"INTEGRATION", "API"})
"""``changeSource`` values of a change an app made through the API."""

KINDS = {
    "contact.propertyChange": ChangeKind.PROPERTY_CHANGED,
    "contact.creation": ChangeKind.CREATED,
    "contact.privacyDeletion": ChangeKind.ERASED,
    "contact.deletion": ChangeKind.ARCHIVED,
    "contact.merge": ChangeKind.MERGED,
}
"""HubSpot's subscription types of contacts, in the core's terms (anything else is ``other``)."""


def change_from_item(item: dict[str, Any], *, app_id: int | None = None) -> HubSpotChange:
    """A stored inbox item as the core's ``HubSpotChange`` (``MalformedWebhook`` if not one).

    HubSpot's vocabulary ends here: the subscription type becomes a
    ``ChangeKind``, the ``hs_email_optout[_<id>]`` grammar an ``OptOutChange``,
    and ``sourceId``/``changeSource`` whether ``app_id`` (hubsync's own app)
    made the change.
    """
    event = parse_event(item)

    def text(value: int | None) -> str | None:
        return None if value is None else str(value)

    subscription_type = _contact_type(event)
    kind = KINDS.get(subscription_type, ChangeKind.OTHER)
    name, value = event.property_name, event.property_value
    return HubSpotChange(
        receipt_key=event.receipt_key,
        kind=kind,
        subscription_type=subscription_type,
        occurred_at=event.occurred_at,
        object_id=text(event.object_id),
        property_name=name,
        property_value=value,
        by_this_app=_by_app(event, app_id),
        changes_email=kind is ChangeKind.PROPERTY_CHANGED and name == EMAIL_PROPERTY,
        opt_out=_opt_out(name, value) if kind is ChangeKind.PROPERTY_CHANGED else None,
        primary_id=text(event.primary_object_id),
        merged_ids=tuple(str(i) for i in event.merged_object_ids),
        new_id=text(event.new_object_id),
    )


def _opt_out(name: str | None, value: str | None) -> OptOutChange | None:
    """The opt-out a property change reports, or None when the property is not one."""
    if name == OPT_OUT_PROPERTY:
        subscription = None
    elif name is not None and name.startswith(OPT_OUT_PROPERTY + "_"):
        subscription = name[len(OPT_OUT_PROPERTY) + 1 :]
    else:
        return None
    return OptOutChange(opted_out=(value or "").lower() == "true", subscription_id=subscription)


def _by_app(event: WebhookEvent, app_id: int | None) -> bool:
    """Whether HubSpot names ``app_id`` as the change's source (an API write of that app)."""
    if app_id is None or event.source_id != str(app_id):
        return False
    return event.change_source is None or event.change_source in APP_CHANGE_SOURCES


def _contact_type(event: WebhookEvent) -> str:
    """``object.<action>`` of a contact (the generic webhooks) as ``contact.<action>``."""
    kind, _, action = event.subscription_type.partition(".")
    if kind == "object" and event.object_type_id == CONTACT_OBJECT_TYPE and action:
        return f"contact.{action}"
    return event.subscription_type
