"""Communication preferences: subscription types and the statuses of email addresses.

Statuses belong to the email address, not to a contact, so they survive the contact's
deletion and apply again when a contact with that address is created (reference 2.1).

Brands (business units, HubSpot's Brands add-on): each subscription type belongs to one
brand, and each brand has its own unsubscribe-all. The calls choose a brand with the
``businessUnitId`` query parameter (single and batch unsubscribe-all, their reads, the
batch status read), and act on the default brand, 0, without it: "If you have the
business unit add-on, include this parameter ... The default Account business unit will
always use 0" (v4 reference, "Unsubscribe a contact from all subscriptions";
hubspot-2026.md 4.3). An unknown brand id is refused with a 400 (HubSpot's answer to it is
not documented: the most likely). The account's brands are ``SandboxConfig.business_unit_ids``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.hubspot.sandbox.errors import validation_error

LEGAL_BASES = frozenset(
    {
        "CONSENT_WITH_NOTICE",
        "LEGITIMATE_INTEREST_CLIENT",
        "LEGITIMATE_INTEREST_OTHER",
        "LEGITIMATE_INTEREST_PQL",
        "NON_GDPR",
        "PERFORMANCE_OF_CONTRACT",
        "PROCESS_AND_STORE",
    }
)
SUBSCRIBED = "SUBSCRIBED"
UNSUBSCRIBED = "UNSUBSCRIBED"
NOT_SPECIFIED = "NOT_SPECIFIED"
V4_STATES = frozenset({SUBSCRIBED, UNSUBSCRIBED, NOT_SPECIFIED})


DEFAULT_BRAND = 0


@dataclass(frozen=True)
class Definition:
    """One email subscription type, of one brand (business unit)."""

    id: str
    name: str
    description: str
    purpose: str = "Marketing"
    business_unit_id: int = DEFAULT_BRAND

    def to_json(self) -> dict[str, Any]:
        """`SubscriptionDefinition` JSON (v3 and v4 share it)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "purpose": self.purpose,
            "communicationMethod": "Email",
            "isActive": True,
            "isDefault": self.id == DEFAULT_DEFINITIONS[0].id,
            "isInternal": False,
            "businessUnitId": self.business_unit_id,
            "createdAt": "2020-01-01T00:00:00.000Z",
            "updatedAt": "2020-01-01T00:00:00.000Z",
        }


DEFAULT_DEFINITIONS = (
    Definition("1001", "Marketing Information", "Marketing offers and updates."),
    Definition("1002", "Newsletter", "The monthly newsletter."),
    Definition(
        "1003",
        "Customer Service Communication",
        "Feedback requests and service updates.",
        purpose="Customer Service",
    ),
)


@dataclass
class Status:
    """An address's status for one subscription type."""

    state: str
    timestamp: str
    source: str
    legal_basis: str | None = None
    legal_basis_explanation: str | None = None


@dataclass
class Subscriber:
    """Everything known about one email address's preferences."""

    statuses: dict[str, Status] = field(default_factory=dict)
    wide: dict[int, str] = field(default_factory=dict)
    """When the address opted out of all email, by brand (business unit)."""

    @property
    def unsubscribed_all_at(self) -> str | None:
        """When the address opted out of the default brand's email, or None."""
        return self.wide.get(DEFAULT_BRAND)

    def state_of(self, subscription_id: str, brand: int = DEFAULT_BRAND) -> str:
        """The v4 state of one subscription of ``brand``.

        An opt-out from all of a brand's email covers every type of that
        brand, those created after it too: a type with no status of its own
        reads as ``UNSUBSCRIBED``.
        """
        status = self.statuses.get(subscription_id)
        if status is not None:
            return status.state
        return UNSUBSCRIBED if brand in self.wide else NOT_SPECIFIED


@dataclass(frozen=True)
class Change:
    """The outcome of one status write: the new status and HubSpot's success reason."""

    subscription_id: str
    reason: str
    changed: bool


def check_legal_basis(
    legal_basis: object, explanation: object, *, required: bool
) -> tuple[str | None, str | None]:
    """Validate `legalBasis`/`legalBasisExplanation`; required when subscribing in a GDPR portal."""
    if legal_basis is None or legal_basis == "":
        if required:
            raise validation_error(
                "legalBasis and legalBasisExplanation are required for portals with GDPR enabled",
                missingFields=["legalBasis"],
            )
        return None, None
    if legal_basis not in LEGAL_BASES:
        raise validation_error(
            f"legalBasis must be one of {', '.join(sorted(LEGAL_BASES))}",
            invalidPropertyName=["legalBasis"],
        )
    if required and (not isinstance(explanation, str) or not explanation.strip()):
        raise validation_error(
            "legalBasisExplanation is required for portals with GDPR enabled",
            missingFields=["legalBasisExplanation"],
        )
    return str(legal_basis), str(explanation) if explanation is not None else None


class SubscriptionStore:
    """Subscription types and per-address statuses (not thread-safe by itself)."""

    def __init__(self, brands: Iterable[int] = (DEFAULT_BRAND,)) -> None:
        self.definitions: dict[str, Definition] = {d.id: d for d in DEFAULT_DEFINITIONS}
        self.subscribers: dict[str, Subscriber] = {}
        self.brands = frozenset(brands) | {DEFAULT_BRAND}
        """The account's brands (business units); the default brand always exists."""

    def brand(self, value: object) -> int:
        """The brand a call names in ``businessUnitId`` (none: the default), or 400."""
        if value is None or value == "":
            return DEFAULT_BRAND
        text = str(value)
        if not text.isdigit() or int(text) not in self.brands:
            raise validation_error(
                f"businessUnitId {text[:20]} is not a brand of this account",
                invalidPropertyName=["businessUnitId"],
            )
        return int(text)

    def of_brand(self, brand: int) -> list[Definition]:
        """The subscription types of one brand."""
        return [d for d in self.definitions.values() if d.business_unit_id == brand]

    def reset(self) -> None:
        """Forget every status and every type added since the start."""
        self.definitions = {d.id: d for d in DEFAULT_DEFINITIONS}
        self.subscribers = {}

    def add_definition(self, definition: Definition) -> None:
        """A subscription type created in HubSpot (by a marketer, after the fact)."""
        self.definitions[definition.id] = definition

    def definition(self, subscription_id: object) -> Definition:
        """A subscription type by id (v3 sends a string, v4 a number), or 400."""
        sub = self.definitions.get(str(subscription_id))
        if sub is None:
            raise validation_error(
                f"Subscription {subscription_id} does not exist",
                invalidPropertyName=["subscriptionId"],
            )
        return sub

    def subscriber(self, email: str) -> Subscriber:
        """The address's record (an empty one when nothing is stored; not saved)."""
        return self.subscribers.get(email) or Subscriber()

    def set_state(
        self,
        email: str,
        subscription_id: str,
        state: str,
        *,
        now: str,
        source: str,
        legal_basis: str | None,
        explanation: str | None,
    ) -> Change:
        """Set one subscription's state; subscribing clears an unsubscribe-from-all."""
        sub = self.subscribers.setdefault(email, Subscriber())
        brand = self.definitions[subscription_id].business_unit_id
        previous = sub.state_of(subscription_id, brand)
        was_wide = brand in sub.wide
        if state == SUBSCRIBED and (previous == UNSUBSCRIBED or was_wide):
            reason = "RESUBSCRIBE_OCCURRED"
        elif previous == state and not (state == SUBSCRIBED and was_wide):
            return Change(subscription_id, "NO_STATUS_CHANGE", changed=False)
        else:
            reason = "REQUESTED_CHANGE_OCCURRED"
        if state == NOT_SPECIFIED:
            sub.statuses.pop(subscription_id, None)
        else:
            sub.statuses[subscription_id] = Status(state, now, source, legal_basis, explanation)
        if state == SUBSCRIBED:
            sub.wide.pop(brand, None)
        return Change(subscription_id, reason, changed=True)

    def unsubscribe_all(
        self, email: str, *, now: str, source: str, brand: int = DEFAULT_BRAND
    ) -> list[Change]:
        """Opt the address out of all of one brand's email: its every type becomes UNSUBSCRIBED."""
        sub = self.subscribers.setdefault(email, Subscriber())
        changed = brand not in sub.wide
        sub.wide.setdefault(brand, now)
        out = []
        for sub_id in (d.id for d in self.of_brand(brand)):
            own = sub.statuses.get(sub_id)
            if own is None or own.state != UNSUBSCRIBED:
                sub.statuses[sub_id] = Status(UNSUBSCRIBED, now, source)
                changed = True
            out.append(
                Change(
                    sub_id,
                    "UNSUBSCRIBE_FROM_ALL_OCCURRED" if changed else "NO_STATUS_CHANGE",
                    changed,
                )
            )
        return out

    def optout_properties(self, email: str) -> dict[str, str]:
        """The `hs_email_optout*` contact properties that the address's statuses imply."""
        sub = self.subscribers.get(email)
        if sub is None:
            return {}
        out: dict[str, str] = {}
        for sub_id, status in sub.statuses.items():
            out[f"hs_email_optout_{sub_id}"] = "true" if status.state == UNSUBSCRIBED else "false"
        if sub.unsubscribed_all_at is not None:
            out["hs_email_optout"] = "true"
        elif sub.statuses:
            out["hs_email_optout"] = "false"
        return out

    # --- JSON views -----------------------------------------------------------------------

    def v3_statuses(self, email: str) -> list[dict[str, Any]]:
        """`PublicSubscriptionStatus` list for v3 (SUBSCRIBED / NOT_SUBSCRIBED), every brand's."""
        sub = self.subscriber(email)
        return [
            self.v3_status(email, d.id, wide_override=d.business_unit_id in sub.wide)
            for d in self.definitions.values()
        ]

    def v3_status(
        self, email: str, subscription_id: str, *, wide_override: bool = False
    ) -> dict[str, Any]:
        """One `PublicSubscriptionStatus` (v3); a brand's opt-out is `BRAND_WIDE_STATUS`."""
        definition = self.definitions[subscription_id]
        sub = self.subscriber(email)
        status = sub.statuses.get(subscription_id)
        subscribed = status is not None and status.state == SUBSCRIBED and not wide_override
        wide_source = (
            "PORTAL_WIDE_STATUS"
            if definition.business_unit_id == DEFAULT_BRAND
            else "BRAND_WIDE_STATUS"
        )
        out: dict[str, Any] = {
            "id": definition.id,
            "name": definition.name,
            "description": definition.description,
            "status": "SUBSCRIBED" if subscribed else "NOT_SUBSCRIBED",
            "sourceOfStatus": wide_source if wide_override else "SUBSCRIPTION_STATUS",
        }
        if status is not None and status.legal_basis:
            out["legalBasis"] = status.legal_basis
            out["legalBasisExplanation"] = status.legal_basis_explanation
        return out

    def v4_status(
        self, email: str, subscription_id: str, reason: str | None = None
    ) -> dict[str, Any]:
        """One `PublicStatus` (v4)."""
        definition = self.definitions[subscription_id]
        brand = definition.business_unit_id
        sub = self.subscriber(email)
        status = sub.statuses.get(subscription_id)
        wide_source = "PORTAL_WIDE_STATUS" if brand in sub.wide else "SUBSCRIPTION_STATUS"
        out: dict[str, Any] = {
            "subscriberIdString": email,
            "channel": "EMAIL",
            "subscriptionId": int(definition.id),
            "subscriptionName": definition.name,
            "status": sub.state_of(subscription_id, brand),
            "source": status.source if status else wide_source,
            "businessUnitId": brand,
        }
        if status is not None:
            out["timestamp"] = status.timestamp
            if status.legal_basis:
                out["legalBasis"] = status.legal_basis
                out["legalBasisExplanation"] = status.legal_basis_explanation
        if reason is not None:
            out["setStatusSuccessReason"] = reason
        return out

    def v4_statuses(self, email: str, brand: int = DEFAULT_BRAND) -> list[dict[str, Any]]:
        """Every `PublicStatus` of one address, for the subscription types of one brand."""
        return [self.v4_status(email, d.id) for d in self.of_brand(brand)]

    def v4_wide_statuses(self, email: str, brand: int = DEFAULT_BRAND) -> list[dict[str, Any]]:
        """`PublicWideStatus` list: one item when opted out of the brand's email, none otherwise.

        ``wideStatusType`` is ``PORTAL_WIDE`` for the default brand and
        ``BUSINESS_UNIT_WIDE`` for another (both are in HubSpot's enum; which
        one a Brands account's default brand reports is not documented).
        """
        since = self.subscriber(email).wide.get(brand)
        if since is None:
            return []
        return [
            {
                "subscriberIdString": email,
                "channel": "EMAIL",
                "status": UNSUBSCRIBED,
                "wideStatusType": "PORTAL_WIDE" if brand == DEFAULT_BRAND else "BUSINESS_UNIT_WIDE",
                "businessUnitId": brand,
                "timestamp": since,
            }
        ]

    def snapshot(self) -> dict[str, Any]:
        """All statuses, for `GET /_sandbox/state`."""
        return {
            email: {
                "unsubscribed_from_all": sub.unsubscribed_all_at is not None,
                "unsubscribed_brands": sorted(sub.wide),
                "statuses": {
                    sub_id: {
                        "status": s.state,
                        "legal_basis": s.legal_basis,
                        "source": s.source,
                        "timestamp": s.timestamp,
                    }
                    for sub_id, s in sub.statuses.items()
                },
            }
            for email, sub in self.subscribers.items()
        }
