"""Values only: the event envelope, its kinds and states, and the ids of each system.

Everything here is an immutable value with no behaviour that touches the
outside world. The same lower_snake strings are used in code, the database,
JSON, logs, metrics and the CLI.

It is over 500 lines on purpose: it is the vocabulary, declarations without
logic, and a reader looking for any type the ports speak finds it here
rather than in one of a dozen small files.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NewType

from sync.errors import PayloadScrubbed
from sync.timefmt import iso_utc

SubjectId = NewType("SubjectId", str)
"""The register's id of a data subject (a customer)."""

HubSpotContactId = NewType("HubSpotContactId", str)
"""A HubSpot contact's object id (several per subject after merges)."""

EventId = NewType("EventId", str)
"""An event's id, unique per origin."""


class EventKind(enum.StrEnum):
    """What a data subject's request asks for (DESIGN.md section 2)."""

    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    MARKETING_OPT_OUT = "marketing_opt_out"
    MARKETING_OPT_IN = "marketing_opt_in"
    RESTRICTION = "restriction"
    RESTRICTION_LIFTED = "restriction_lifted"
    ACCESS = "access"


class Origin(enum.StrEnum):
    """Where an event came from."""

    REGISTER = "register"
    HUBSPOT = "hubspot"
    OPERATOR = "operator"


class Direction(enum.StrEnum):
    """Which system the event's effect is applied to."""

    TO_HUBSPOT = "to_hubspot"
    TO_REGISTER = "to_register"


class EventState(enum.StrEnum):
    """Where an event stands in the ledger."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    SKIPPED = "skipped"


FINISHED_STATES = frozenset({EventState.DONE, EventState.SUPERSEDED, EventState.SKIPPED})
"""States an event never leaves (``failed`` can be replayed, so it is not here)."""

OPEN_STATES = frozenset({EventState.PENDING, EventState.IN_PROGRESS, EventState.FAILED})
"""States that still count against the subject's deadline."""


class Authority(enum.StrEnum):
    """Which system wins for a mapped field (DESIGN.md section 4; ``sync.rules.authority``)."""

    REGISTER = "register"
    HUBSPOT = "hubspot"
    BOTH = "both"


class ErrorClass(enum.StrEnum):
    """What the caller does about a failure (DESIGN.md section 7)."""

    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    SUBJECT_ABSENT = "subject_absent"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One data-subject request as every intake normalises it (DESIGN.md section 6).

    ``email``, ``changes`` (register field name -> new value) and
    ``legal_basis`` are personal data: they live only in the ledger's payload
    and are scrubbed when no longer needed. Everything else is safe to show.
    ``contact_ids`` names HubSpot contacts the event targets itself, besides
    those the subject map holds: a contact that came back after an erasure
    belongs to no register subject any more, so its re-erasure names it.
    """

    event_id: EventId
    kind: EventKind
    subject_id: SubjectId
    occurred_at: datetime
    email: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    subscription_ids: tuple[str, ...] = ()
    legal_basis: str | None = None
    reference: str | None = None
    contact_ids: tuple[str, ...] = ()
    business_unit_id: int | None = None
    """The HubSpot brand (business unit) an opt-out holds for; None: every brand.
    Set on an opt-out the subscription check found for one brand only."""

    def payload(self) -> dict[str, Any]:
        """The personal part of the envelope, as stored (and later scrubbed)."""
        payload: dict[str, Any] = {
            "email": self.email,
            "changes": dict(self.changes),
            "subscription_ids": list(self.subscription_ids),
            "legal_basis": self.legal_basis,
            "reference": self.reference,
        }
        if self.contact_ids:  # only events that name their contacts carry the key
            payload["contact_ids"] = list(self.contact_ids)
        if self.business_unit_id is not None:  # only a brand's opt-out carries the key
            payload["business_unit_id"] = self.business_unit_id
        return payload

    def field_names(self) -> tuple[str, ...]:
        """Names of the fields the event touches; names are never personal data."""
        names = sorted(self.changes)
        if self.email is not None and "email" not in names:
            names.insert(0, "email")
        return tuple(names)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An envelope on its way into the ledger, with where it came from and goes."""

    envelope: Envelope
    origin: Origin
    direction: Direction


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What the ledger keeps of a failure: never a body, an email or a value.

    ``code`` is a short stable identifier such as ``http_503`` or
    ``mapping_unknown_field``; ``detail`` is a safe sentence built only from
    field names, ids and statuses.
    """

    error_class: ErrorClass
    code: str
    http_status: int | None = None
    correlation_id: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as stored and shown."""
        return {
            "class": self.error_class.value,
            "code": self.code,
            "http_status": self.http_status,
            "correlation_id": self.correlation_id,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorInfo:
        """Inverse of :meth:`as_dict`."""
        return cls(
            error_class=ErrorClass(data["class"]),
            code=str(data["code"]),
            http_status=data.get("http_status"),
            correlation_id=data.get("correlation_id"),
            detail=data.get("detail"),
        )


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the ledger holds it.

    ``payload`` is ``None`` once scrubbed. ``seq`` is the ledger's own
    monotonically increasing key; ``(origin, event_id)`` is the caller's.
    """

    seq: int
    event_id: EventId
    origin: Origin
    direction: Direction
    kind: EventKind
    subject_id: SubjectId
    state: EventState
    attempts: int
    occurred_at: datetime
    received_at: datetime
    due_at: datetime
    next_attempt_at: datetime
    field_names: tuple[str, ...]
    payload: dict[str, Any] | None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: ErrorInfo | None = None
    note: str | None = None
    finished_at: datetime | None = None
    scrubbed_at: datetime | None = None
    due_extended_days: int = 0

    def envelope(self) -> Envelope:
        """Rebuild the envelope; raises ``PayloadScrubbed`` if the payload is gone."""
        if self.payload is None:
            raise PayloadScrubbed(f"event {self.event_id} has no payload any more")
        p = self.payload
        return Envelope(
            event_id=self.event_id,
            kind=self.kind,
            subject_id=self.subject_id,
            occurred_at=self.occurred_at,
            email=p.get("email"),
            changes=dict(p.get("changes") or {}),
            subscription_ids=tuple(p.get("subscription_ids") or ()),
            legal_basis=p.get("legal_basis"),
            reference=p.get("reference"),
            contact_ids=tuple(p.get("contact_ids") or ()),
            business_unit_id=p.get("business_unit_id"),
        )

    def public(self) -> dict[str, Any]:
        """The event without personal data, as ``events show --json`` prints it."""
        return {
            "event_id": self.event_id,
            "kind": self.kind.value,
            "origin": self.origin.value,
            "direction": self.direction.value,
            "subject_id": self.subject_id,
            "state": self.state.value,
            "attempts": self.attempts,
            "field_names": list(self.field_names),
            "received_at": iso_utc(self.received_at),
            "occurred_at": iso_utc(self.occurred_at),
            "due_at": iso_utc(self.due_at),
            "next_attempt_at": iso_utc(self.next_attempt_at),
            "finished_at": iso_utc(self.finished_at),
            "last_error": self.last_error.as_dict() if self.last_error else None,
            "note": self.note,
            "scrubbed": self.payload is None,
            "due_extended_days": self.due_extended_days,
        }


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The ledger's answer to one submitted event."""

    event_id: EventId
    origin: Origin
    state: EventState
    duplicate: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as ``submit --json`` prints it."""
        return {"event_id": self.event_id, "state": self.state.value, "duplicate": self.duplicate}


@dataclass(frozen=True, slots=True)
class HubSpotContact:
    """A contact as HubSpot returned it: its current id and the properties read.

    ``requested_id`` is the id (or email) it was asked by; when ``id`` differs,
    the contact was merged and the subject map must be re-keyed.
    """

    id: HubSpotContactId
    properties: dict[str, str | None]
    requested_id: str | None = None
    merged_ids: tuple[str, ...] = ()
    restricted: bool | None = None
    """Whether hubsync's restriction property is set; None when it was not read
    (only ``list_contacts`` reads it, so the core never names the property)."""


@dataclass(frozen=True, slots=True)
class RegisterSubject:
    """One subject as the register's paging read gives it (``Register.subjects_page``).

    ``fields``: the register's personal fields by name (email excluded, it
    has its own attribute); an erased subject has no email and no fields.
    Reconciliation compares it with HubSpot; it is never logged.
    """

    subject_id: SubjectId
    email: str | None
    fields: dict[str, str | None]
    opted_out: bool
    restricted: bool
    erased: bool


@dataclass(frozen=True, slots=True)
class SubscriptionStatuses:
    """An email address's communication preferences in HubSpot (they belong to the address).

    ``statuses`` maps each subscription id to ``SUBSCRIBED``, ``UNSUBSCRIBED``
    or ``NOT_SPECIFIED``; ``unsubscribed_from_all`` is the address's opt-out
    of all email, which holds whatever the single statuses say.
    """

    unsubscribed_from_all: bool
    statuses: dict[str, str]
    unsubscribed_brands: tuple[int, ...] = ()
    """The brands (HubSpot business units, 0 the default) whose unsubscribe-all the
    address is opted out of, among those read; ``unsubscribed_from_all`` is set
    only when that is every brand read (``[hubspot] business_unit_ids``)."""


@dataclass(frozen=True, slots=True)
class PropertyVersion:
    """One value a contact property held (``propertiesWithHistory``), and who set it."""

    value: str
    timestamp: datetime | None
    source_type: str | None = None
    source_id: str | None = None
    source_label: str | None = None
    updated_by_user_id: int | None = None


@dataclass(frozen=True, slots=True)
class FullContact:
    """Everything HubSpot holds on one contact, for access and portability (Art. 15, 20).

    ``properties`` has every property that holds a value; ``history`` every
    value each property held, newest first; ``associations`` the ids of the
    associated objects by type (``companies``, ``deals``, ``tickets``).
    ``requested_id`` is the id asked for: a different ``id`` means a merge.
    ``withheld_sensitivity`` names the data sensitivity levels (``sensitive``,
    ``highly_sensitive``) whose values HubSpot did not let the token read.
    """

    id: HubSpotContactId
    requested_id: str
    properties: dict[str, str]
    history: dict[str, tuple[PropertyVersion, ...]]
    associations: dict[str, tuple[str, ...]]
    withheld_sensitivity: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one held event ends an attempt (``SqlLedger.record``).

    ``done``; ``pending`` again at ``retry_at`` (``count_attempt=False`` for a
    deferral that was not the event's fault: a rate limit, the residency
    guard); or ``failed`` (dead-lettered). ``erased_subject`` with
    ``suppress`` closes an erasure in the same transaction.
    """

    seq: int
    state: EventState
    note: str | None = None
    error: ErrorInfo | None = None
    retry_at: datetime | None = None
    count_attempt: bool = True
    erased_subject: str | None = None
    suppress: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContactWrites:
    """What a batch write of contacts answered, per contact id asked for.

    ``errors`` maps each id to ``None`` (written) or the error that stopped it.
    ``renamed`` maps an id asked for to the id HubSpot answered with: the
    contact was merged, and the subject map must follow.
    """

    errors: dict[str, Any]
    renamed: dict[str, str] = field(default_factory=dict)


class NoticeKind(enum.StrEnum):
    """What a notice to the register reports: things an operator handles, not rights."""

    CONTACT_ARCHIVED = "contact_archived"
    MERGE_CONFLICT = "merge_conflict"
    RESURRECTION_BLOCKED = "resurrection_blocked"
    ERASURE_REQUESTED = "erasure_requested"


@dataclass(frozen=True, slots=True)
class RegisterNotice:
    """A notice for the register's operators, without personal data.

    ``contact_archived``: a contact was archived in HubSpot (restorable, so not
    an erasure); ``merge_conflict``: several register subjects now share one
    HubSpot contact; ``resurrection_blocked``: an erased person came back and
    was erased again; ``erasure_requested``: HubSpot asked for an erasure and
    the register is set to be told rather than to apply it. ``notice_id`` is
    the idempotency key: the same notice twice is recorded once.
    """

    notice_id: str
    kind: NoticeKind
    occurred_at: datetime
    subject_ids: tuple[SubjectId, ...] = ()
    contact_ids: tuple[HubSpotContactId, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as sent to and stored by the register."""
        return {
            "notice_id": self.notice_id,
            "kind": self.kind.value,
            "subject_ids": list(self.subject_ids),
            "contact_ids": list(self.contact_ids),
            "occurred_at": iso_utc(self.occurred_at),
        }


@dataclass(frozen=True, slots=True)
class RegisterReadiness:
    """Whether the register is set up: the problems found, none when it is ready.

    Each problem names a table and its setting (``table dsr_outbox is missing
    ([register] outbox_table)``) or the setting to look at, never a value or
    a URL: ``hubsync check``, ``hubsync status`` and ``/readyz`` show them as
    they are.
    """

    problems: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        """True when nothing is missing."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``{"ready": bool, "problems": [...]}``."""
        return {"ready": self.ready, "problems": list(self.problems)}


class ChangeKind(enum.StrEnum):
    """What a HubSpot webhook event reports, in the core's terms.

    The connector translates HubSpot's subscription types into these
    (``connectors.hubspot.webhook_payloads``); the core never reads HubSpot's.
    """

    PROPERTY_CHANGED = "property_changed"
    CREATED = "created"
    ERASED = "erased"  # a GDPR delete in HubSpot
    ARCHIVED = "archived"  # a deletion, which HubSpot can restore: not an erasure
    MERGED = "merged"
    OTHER = "other"  # a type hubsync does not act on


@dataclass(frozen=True, slots=True)
class OptOutChange:
    """A change of a contact's opt-out from email, as a property change reports it.

    ``subscription_id`` names the subscription; None means all email.
    ``opted_out`` is False for a resubscribe.
    """

    opted_out: bool
    subscription_id: str | None = None


@dataclass(frozen=True, slots=True)
class HubSpotChange:
    """One HubSpot webhook event as the core reads it (``hubspot_inbox`` rows).

    ``kind`` says what happened; ``subscription_type`` is HubSpot's name for
    it, kept only to label logs and audit rows. ``property_value`` is
    personal data: it stays out of the repr and is never logged.
    ``by_this_app`` is set when HubSpot says hubsync's own app made the
    change; ``changes_email`` when it sets the contact's email address;
    ``opt_out`` when the property is an opt-out from email (all of it, or
    one subscription). The connector reads all three from HubSpot's fields.
    """

    receipt_key: str
    kind: ChangeKind
    subscription_type: str
    occurred_at: datetime
    object_id: str | None = None
    property_name: str | None = None
    property_value: str | None = field(default=None, repr=False)
    by_this_app: bool = False
    changes_email: bool = False
    opt_out: OptOutChange | None = None
    primary_id: str | None = None
    merged_ids: tuple[str, ...] = ()
    new_id: str | None = None


@dataclass(frozen=True, slots=True)
class SetAsideItem:
    """An item of a signed webhook batch that cannot be processed, kept as received.

    ``item`` is the decoded JSON as HubSpot sent it (personal data: never
    logged, out of the repr); ``problem`` names the field and what is wrong,
    never a value. The receipt key is a digest of the item, so a redelivery
    of the same batch is recognised.
    """

    receipt_key: str
    item: Any = field(repr=False)
    problem: str


@dataclass(frozen=True, slots=True)
class WebhookBatch:
    """A signed webhook body read item by item: (receipt key, event) pairs and the set-aside."""

    items: list[tuple[str, dict[str, Any]]]
    set_aside: list[SetAsideItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SetAsideRow:
    """A webhook inbox row set aside as ``failed``, as an operator sees it (no payload).

    ``problem`` is why the intake set it aside (field name and rule); None
    when processing failed later (the audit row and the log say why).
    """

    receipt_key: str
    received_at: datetime
    problem: str | None


@dataclass(frozen=True, slots=True)
class SignatureStreak:
    """Webhook requests refused for their signature in a row, as every server on the ledger saw.

    ``threshold`` is the refusing server's ``[server]
    signature_failure_threshold``; ``last_reason`` a refusal code. A good
    signature sets ``refusals`` back to 0. Codes, counts and times only.
    """

    refusals: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_reason: str | None = None
    threshold: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``status --json``)."""
        return {
            "refusals": self.refusals,
            "first_at": iso_utc(self.first_at),
            "last_at": iso_utc(self.last_at),
            "last_reason": self.last_reason,
            "threshold": self.threshold,
        }


@dataclass(frozen=True, slots=True)
class OutboxProblem:
    """A row of the register's outbox that is not a valid event, as an operator sees it.

    It is read past, never stored and never acknowledged by hubsync: it
    waits in the register's outbox until the register's operators correct
    it there (hubsync then takes it as it comes) or an operator skips it
    (``hubsync outbox skip``, audited). ``problems`` name fields and rules,
    never a value (``sync.rules.input``, the same rules as ``POST /v1/events``).
    """

    outbox_id: str
    written_at: datetime | None
    problems: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    """What the ledger knows of a subject: email, HubSpot ids, erasure state."""

    subject_id: SubjectId
    email: str | None
    contact_ids: tuple[str, ...]
    erasure: str | None  # None, "erasing" or "erased"


@dataclass(frozen=True, slots=True)
class SubjectWalk:
    """One step of a walk through every subject the ledger knows, shared by all workers.

    ``linked``: the step's subjects with an email, not erased, as (id,
    email). ``position``: where the next step starts (0 after a full
    cycle); ``total``: the subjects known, erased ones included.
    """

    linked: tuple[tuple[SubjectId, str], ...]
    position: int
    total: int


@dataclass(frozen=True, slots=True)
class RateBucket:
    """A shared rate bucket as stored: its tokens at ``updated_at``, and any block."""

    name: str
    tokens: float
    updated_at: datetime
    blocked_until: datetime | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Counts an operator watches (``hubsync status``)."""

    by_state: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    overdue: int
    due_within_7_days: int
    oldest_ready_age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as ``status --json`` prints it."""
        return {
            "by_state": self.by_state,
            "by_kind": self.by_kind,
            "overdue": self.overdue,
            "due_within_7_days": self.due_within_7_days,
            "oldest_ready_age_s": self.oldest_ready_age_s,
        }
