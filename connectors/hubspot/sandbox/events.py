"""What a change to the sandbox's data emits: who made it, and the webhook events it causes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Source:
    """Who changed a record: HubSpot's `changeSource`/`sourceType` and `sourceId`.

    An API write through the app is `INTEGRATION` with the app id as `sourceId`, a HubSpot
    user's edit is `CRM_UI` with `userId:<n>`, a form submission is `FORM`, an unsubscribe
    link in an email is `EMAIL`.
    """

    change_source: str
    source_id: str | None = None
    user_id: int | None = None

    @classmethod
    def app(cls, app_id: int) -> Source:
        """A write made through the API by the app."""
        return cls("INTEGRATION", str(app_id))

    @classmethod
    def user(cls, user_id: int = 1) -> Source:
        """A HubSpot user's edit in the CRM."""
        return cls("CRM_UI", f"userId:{user_id}", user_id)

    @classmethod
    def form(cls) -> Source:
        """A form submission on the website."""
        return cls("FORM", "sandbox-form")

    @classmethod
    def email_link(cls) -> Source:
        """The recipient's click on an unsubscribe link."""
        return cls("EMAIL", "sandbox-email")


@dataclass(frozen=True)
class ContactEvent:
    """One webhook event before delivery (the dispatcher adds ids, portal, app and attempt)."""

    subscription_type: str
    object_id: str
    occurred_at_ms: int
    source: Source | None = None
    property_name: str | None = None
    property_value: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
