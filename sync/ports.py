"""Protocols the core needs from the outside world.

The core (operator, worker, intake) depends on these, never on a backend:
``SqliteLedger`` and ``PostgresLedger`` implement ``Ledger`` (one contract
suite checks both); ``SystemClock`` and ``FixedClock`` implement ``Clock``.
HubSpot and the register get their ports with their connectors.

It is over 500 lines on purpose: signatures and their contracts only, one
protocol per role, kept together so that what the core asks of the outside
world can be read in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sync.audit import AuditBuilder, AuditEntry, AuditRow, CountAuditBuilder, VerifyResult
from sync.errors import SyncError
from sync.model import (
    Authority,
    ContactWrites,
    Direction,
    Envelope,
    EventKind,
    EventState,
    FullContact,
    HubSpotContact,
    NewEvent,
    Origin,
    OutboxProblem,
    Outcome,
    RateBucket,
    RegisterNotice,
    RegisterReadiness,
    RegisterSubject,
    SetAsideItem,
    SetAsideRow,
    SignatureStreak,
    StatusReport,
    StoredEvent,
    SubjectId,
    SubjectRecord,
    SubjectWalk,
    SubmitResult,
    SubscriptionStatuses,
)
from sync.rules.link import LinkState
from sync.rules.rate_window import Admission, RollingWindow


class Clock(Protocol):
    """Where the core gets the time: ``SystemClock`` in production, ``FixedClock`` in tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class Schema(Protocol):
    """The ledger's database: its schema version, migrations, and the connection."""

    def schema_version(self) -> int:
        """The schema version of the database (0 when empty)."""
        ...

    def open(self, now: datetime) -> None:
        """Create a fresh ledger, or refuse an outdated one (``SchemaOutdated``)."""
        ...

    def upgrade(self, now: datetime) -> tuple[int, int]:
        """Apply migrations; returns (from, to)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class EventQueue(Protocol):
    """The durable queue the worker drives: submit, claim (one per subject, in order), record."""

    def submit(
        self, events: Sequence[NewEvent], now: datetime, audit: AuditBuilder | None = None
    ) -> list[SubmitResult]:
        """Store events idempotently, applying "erasure wins"."""
        ...

    def claim(self, owner: str, limit: int, now: datetime, lease: timedelta) -> list[StoredEvent]:
        """Lease ready events: at most one per subject, in occurrence order."""
        ...

    def record(
        self,
        owner: str,
        outcomes: Sequence[Outcome],
        now: datetime,
        audit: Sequence[AuditEntry] = (),
        *,
        strict: bool = False,
    ) -> list[int]:
        """Record how held events end this attempt, with audit rows, in one transaction."""
        ...

    def release(self, owner: str, seqs: Sequence[int], now: datetime) -> int:
        """Give held events back without counting the attempt."""
        ...


class EventAdmin(Protocol):
    """What operators do to events and read of them, and retention."""

    def replay(self, seqs: Sequence[int], now: datetime, audit: AuditBuilder) -> list[StoredEvent]:
        """Failed events back to pending; audited."""
        ...

    def skip(
        self, seqs: Sequence[int], reason: str, now: datetime, audit: AuditBuilder
    ) -> list[StoredEvent]:
        """Close failed or pending events with a reason; audited."""
        ...

    def extend_deadline(
        self, seq: int, days: int, now: datetime, audit: AuditBuilder
    ) -> StoredEvent:
        """Extend an open event's deadline; audited."""
        ...

    def find(self, event_id: str, origin: Origin | None = None) -> list[StoredEvent]:
        """Events with this id."""
        ...

    def list_events(
        self,
        *,
        state: EventState | None = None,
        kind: EventKind | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
    ) -> list[StoredEvent]:
        """Events matching every filter, oldest first."""
        ...

    def status(self, now: datetime) -> StatusReport:
        """Counts by state and kind, deadlines, oldest ready age."""
        ...

    def scrub_finished(self, older_than: datetime, now: datetime) -> int:
        """Scrub payloads of events finished before ``older_than``."""
        ...


class FieldHistory(Protocol):
    """When each field was last changed on either side, as the events the ledger holds show."""

    def last_rectified(
        self, subject_ids: Sequence[str], direction: Direction
    ) -> dict[tuple[SubjectId, str], datetime]:
        """When each field of these subjects was last rectified going ``direction``, in one read.

        ``Direction.TO_HUBSPOT``: the register's changes; ``TO_REGISTER``:
        HubSpot's. The authority rule reads it (``sync.rules.authority``).
        """
        ...


class SubjectMap(Protocol):
    """The memory of each subject: its HubSpot ids and email, and its erasure."""

    def remember_subject(
        self,
        subject_id: str,
        now: datetime,
        *,
        email: str | None = None,
        contact_ids: Sequence[str] = (),
    ) -> None:
        """Record a subject's email and HubSpot ids."""
        ...

    def subject(self, subject_id: str) -> SubjectRecord | None:
        """What the ledger knows of a subject."""
        ...

    def subjects_for_contact(self, contact_id: str) -> list[SubjectId]:
        """Subjects mapped to a contact id."""
        ...

    def subjects_for_contacts(self, contact_ids: Sequence[str]) -> dict[str, list[SubjectId]]:
        """Subjects mapped to each contact id, in one read."""
        ...

    def rekey_contact(self, old_ids: Sequence[str], new_id: str, now: datetime) -> list[SubjectId]:
        """Re-key the subject map after a merge."""
        ...

    def mark_erased(
        self, subject_id: str, suppress: Sequence[tuple[str, str]], now: datetime
    ) -> int:
        """Close an erasure: suppress digests, forget email and ids, scrub payloads."""
        ...

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """Subjects (not erased) known by this address."""
        ...

    def active_subjects(self, since: datetime, limit: int) -> list[SubjectRecord]:
        """Subjects with an email and recent events, not erased."""
        ...


class Suppressions(Protocol):
    """Keyed digests of erased emails and ids, so HubSpot cannot bring a person back."""

    def add_suppression(self, suppress: Sequence[tuple[str, str]], now: datetime) -> None:
        """Put (kind, digest) pairs on the suppression list."""
        ...

    def is_suppressed(self, digest: str) -> bool:
        """Whether a digest is on the suppression list."""
        ...

    def lift_suppression(self, digest: str, reason: str, now: datetime) -> bool:
        """Lift a suppression."""
        ...


class WebhookInbox(Protocol):
    """HubSpot's webhook events as received: stored before the 204, leased, set aside."""

    def purge_receipts(self, now: datetime) -> int:
        """Forget expired receipts (processed inbox rows included)."""
        ...

    def store_webhooks(
        self,
        items: Sequence[tuple[str, dict[str, Any]]],
        now: datetime,
        ttl: timedelta,
        set_aside: Sequence[SetAsideItem] = (),
    ) -> list[bool]:
        """Store a webhook batch (events pending, malformed items failed); True per new key."""
        ...

    def set_aside_webhooks(self, limit: int = 100) -> list[SetAsideRow]:
        """Failed inbox rows, oldest first, without their payload."""
        ...

    def skip_webhooks(self, keys: Sequence[str], now: datetime, audit: CountAuditBuilder) -> int:
        """Give up failed inbox rows (an operator's decision): skipped, payload scrubbed.

        Audited in the same transaction; ``audit`` is given how many were skipped.
        """
        ...

    def claim_webhooks(
        self, owner: str, limit: int, now: datetime, lease: timedelta
    ) -> list[tuple[str, dict[str, Any]]]:
        """Lease pending webhook events, oldest first."""
        ...

    def release_webhooks(self, owner: str, keys: Sequence[str]) -> int:
        """Give leased webhook events back."""
        ...

    def finish_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Mark webhook events processed and scrub their payload."""
        ...

    def fail_webhooks(self, keys: Sequence[str], now: datetime) -> int:
        """Set webhook events aside as failed (payload kept) for an operator."""
        ...

    def replay_webhooks(self, audit: CountAuditBuilder) -> int:
        """Failed webhook events back to pending; audited in the same transaction."""
        ...

    def webhook_states(self) -> dict[str, int]:
        """Inbox rows by state."""
        ...


class SignatureWatch(Protocol):
    """Refused webhook signatures in a row, shared by every server (``rules.signature_streak``).

    ``store_webhooks`` ends a streak: a stored batch had a good signature.
    """

    def record_signature_refusal(
        self, reason: str, now: datetime, threshold: int
    ) -> SignatureStreak:
        """One more refusal in a row (a refusal code, never a value); the streak now."""
        ...

    def signature_streak(self) -> SignatureStreak:
        """The current streak (0 refusals when none)."""
        ...


class HubSpotLink(Protocol):
    """Whether the HubSpot link is down (``sync.rules.link``), shared by every process.

    A worker that meets a ``LinkDown`` marks it down; every worker then
    pauses HubSpot calls, ``/readyz`` fails and ``hubsync status`` says why,
    until a probe succeeds and a worker marks it up.
    """

    def mark_hubspot_link_down(self, state: LinkState) -> bool:
        """Mark it down (keeping the first ``since``); True when it was up."""
        ...

    def mark_hubspot_link_up(self) -> bool:
        """Mark it up; True when it was down."""
        ...

    def hubspot_link(self) -> LinkState | None:
        """Why it is down and since when, or None while it is up."""
        ...


class EchoMarks(Protocol):
    """Digests of what hubsync wrote to HubSpot, so its own changes are not sent back."""

    def remember_writes(
        self, marks: Sequence[tuple[str, str, str]], now: datetime, ttl: timedelta
    ) -> None:
        """Record (contact id, property, value digest) hubsync wrote to HubSpot."""
        ...

    def written_recently(
        self, marks: Sequence[tuple[str, str, str]], now: datetime
    ) -> set[tuple[str, str, str]]:
        """Which of these writes hubsync made within their window, in one read."""
        ...


class SharedState(Protocol):
    """What every worker on the ledger shares: counters, rate buckets and periodic turns."""

    def take_turn(self, name: str, every: timedelta, now: datetime) -> bool:
        """True for exactly one caller per ``every``: a periodic job run once for all workers."""
        ...

    def add_counts(self, counts: dict[str, int], now: datetime) -> None:
        """Add to shared named counters."""
        ...

    def counts(self) -> dict[str, int]:
        """Every shared counter's total."""
        ...

    def set_counts(self, values: dict[str, int], now: datetime) -> None:
        """Set named shared values (not added): a walk's position, an estimate."""
        ...

    def walk_subjects(self, name: str, share: float, most: int, now: datetime) -> SubjectWalk:
        """The next ``share`` of all subjects (at most ``most``) of a walk every worker shares."""
        ...

    def take_tokens(
        self, name: str, cost: float, capacity: float, refill_per_s: float, now: datetime
    ) -> float:
        """Take from a shared rate bucket; 0 or the seconds to wait."""
        ...

    def correct_bucket(
        self,
        name: str,
        now: datetime,
        *,
        tokens: float | None = None,
        blocked_until: datetime | None = None,
    ) -> None:
        """Correct a rate bucket from what HubSpot reported."""
        ...

    def admit_call(self, name: str, window: RollingWindow, now: datetime) -> Admission:
        """Admit (and record) one call into a shared rolling window, or name the wait."""
        ...

    def block_window(self, name: str, window: RollingWindow, now: datetime) -> datetime:
        """Block a rolling window HubSpot reports exhausted until it frees a slot; returns when."""
        ...

    def rate_bucket(self, name: str) -> RateBucket | None:
        """A rate bucket as last written, or None before its first use."""
        ...


class AuditLog(Protocol):
    """The hash-chained audit log: append, read, verify."""

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        """Append rows to the audit chain."""
        ...

    def audit_rows(self, since: datetime | None = None) -> Iterator[AuditRow]:
        """Audit rows in order."""
        ...

    def verify_audit(self) -> VerifyResult:
        """Check the audit chain."""
        ...


class Ledger(
    Schema,
    EventQueue,
    EventAdmin,
    FieldHistory,
    SubjectMap,
    Suppressions,
    WebhookInbox,
    EchoMarks,
    SharedState,
    AuditLog,
    SignatureWatch,
    HubSpotLink,
    Protocol,
):
    """Every role at once: the durable queue and memory of each subject (``sync.ledger``).

    A consumer asks for the roles it uses (``SharedState`` for the rate
    budget, ``EventQueue`` and ``AuditLog`` for the worker...); the SQL
    ledger plays them all over one connection. Every method that depends on
    time takes ``now``; the ledger never reads a clock.
    """


class MappedProperty(Protocol):
    """One register field and the HubSpot property it maps to (``mappings.FieldMapping``)."""

    @property
    def field(self) -> str:
        """The register's field name."""
        ...

    @property
    def authority(self) -> Authority:
        """``register``, ``hubspot`` or ``both``."""
        ...


class Fields(Protocol):
    """The field mapping the core applies (``mappings.FieldMap`` implements it)."""

    def by_property(self, hubspot_property: str) -> MappedProperty | None:
        """The mapping of a HubSpot property, or None when it is not mapped."""
        ...

    def unknown(self, field_names: Iterable[str]) -> list[str]:
        """Register field names the mapping does not know."""
        ...

    def sent_to_hubspot(self, field_names: Iterable[str]) -> list[str]:
        """The names among these whose register value goes to HubSpot (authority allows)."""
        ...

    def authority_of(self, field_name: str) -> Authority | None:
        """The authority of a register field (``sync.rules.authority``); None: not mapped."""
        ...

    def categories(self, field_names: Iterable[str]) -> tuple[str, ...]:
        """Data categories of the named fields."""
        ...

    def to_hubspot(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Register changes as HubSpot properties."""
        ...


class HubSpot(Protocol):
    """What the worker needs from HubSpot; ``HubSpotClient`` speaks to the real API.

    Every method raises ``SyncError`` subclasses only: ``RetryableError``
    (``RateLimited``), ``PermanentError`` or ``SubjectAbsent``. Batch methods
    return one outcome per input (``None`` for success) so a 207 maps back to
    each event.
    """

    def hosting_location(self) -> str:
        """The account's ``dataHostingLocation`` (account info)."""
        ...

    def get_contact(
        self,
        key: str,
        *,
        by_email: bool = False,
        properties: Sequence[str] = (),
        archived: bool = False,
    ) -> HubSpotContact | None:
        """One contact by id or by email; None when HubSpot has none.

        ``archived``: look among the archived (restorable) contacts instead;
        a GDPR-deleted contact is in neither.
        """
        ...

    def read_contacts(
        self, ids: Sequence[str], properties: Sequence[str] = ()
    ) -> list[HubSpotContact]:
        """Contacts by id in one batch read (those that exist)."""
        ...

    def list_contacts(
        self, after: str | None, properties: Sequence[str]
    ) -> tuple[list[HubSpotContact], str | None]:
        """One page of every contact (100), in HubSpot's order, and the cursor of the next.

        Each with the named properties, its merged ids and ``restricted``
        (hubsync's restriction property); the cursor is None after the last page.
        """
        ...

    def resolve_contacts(self, ids: Sequence[str]) -> dict[str, str]:
        """Each id HubSpot still finds -> the id of its record now (another one after a merge).

        Ids it does not find are left out: deleted, or an old id of a merged
        contact that its reads do not resolve (a lookup by email may then
        find the record). Batched, 100 ids a call.
        """
        ...

    def update_contacts(self, updates: Mapping[str, Mapping[str, str]]) -> ContactWrites:
        """Batch update of properties by contact id: an outcome per id, and merges seen."""
        ...

    def gdpr_delete(self, key: str, *, by_email: bool = False) -> None:
        """Permanently delete a contact (by id, or by email, which also blocklists it)."""
        ...

    def unsubscribe_all(self, emails: Sequence[str]) -> dict[str, SyncError | None]:
        """Unsubscribe each address from all email, in every configured brand; an outcome each."""
        ...

    def set_subscriptions(
        self,
        email: str,
        subscription_ids: Sequence[str],
        *,
        subscribed: bool,
        legal_basis: str | None = None,
        explanation: str | None = None,
    ) -> None:
        """Subscribe or unsubscribe one address to the named subscriptions."""
        ...

    def set_restricted(self, contact_ids: Sequence[str], restricted: bool) -> ContactWrites:
        """Mark (or unmark) contacts as restricted (Art. 18); an outcome per id, and merges seen."""
        ...

    def restricted(self, contact_id: str) -> bool | None:
        """Whether a contact is marked restricted; None when HubSpot has no such contact."""
        ...

    def subscription_statuses(self, email: str) -> SubscriptionStatuses:
        """One address's subscription statuses and whether it opted out of all email."""
        ...

    def subscription_statuses_many(
        self, emails: Sequence[str]
    ) -> dict[str, SubscriptionStatuses | SyncError]:
        """Many addresses' statuses in as few calls as HubSpot allows; an outcome per address."""
        ...

    def status_read_cost(self, count: int) -> int:
        """How many calls ``subscription_statuses_many`` makes for ``count`` addresses."""
        ...

    def read_full_contact(self, contact_id: str) -> FullContact | None:
        """Every property of a contact with its history, and its associated object ids."""
        ...


class Register(Protocol):
    """The controller's register, as the core sees it (``connectors.register``).

    ``HttpRegister`` speaks to a register's HTTP endpoint, ``SqlRegister`` to
    its tables, ``FakeRegister`` keeps it in memory; one contract suite checks
    all three. Every method raises ``SyncError`` subclasses only, with
    messages that carry ids, kinds, field names and statuses, never values.
    """

    def apply(self, events: Sequence[StoredEvent]) -> dict[int, SyncError | None]:
        """Apply register-bound events; an outcome per event ``seq`` (None: applied).

        Idempotent: the same event applied twice does no harm. Per event:
        ``SubjectAbsent`` when the register has no such subject (or it is
        erased and the event would touch it again), ``PermanentError`` for an
        event the register cannot apply (unknown field, wrong direction).
        Raises ``SyncError`` when the whole call failed (register unreachable).
        """
        ...

    def notify(self, notice: RegisterNotice) -> None:
        """Tell the register's operators something that is not a right; idempotent by id."""
        ...

    def record(self, subject_id: str) -> dict[str, Any] | None:
        """The register's record of a subject (for access and export); None when unknown."""
        ...

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """Subjects (not erased) with this email, compared case-insensitively.

        How a HubSpot contact hubsync never linked finds its subject.
        """
        ...

    def subjects_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RegisterSubject], str | None]:
        """Up to ``limit`` subjects in id order after ``after``, erased ones included.

        The cursor of the next page, None after the last. How reconciliation
        reads the whole register; values stay in memory, never logged.
        """
        ...

    def poll_outbox(self, limit: int) -> list[tuple[str, Envelope]]:
        """Register-side events not yet acknowledged, oldest first, with their outbox ids.

        Only valid events (``sync.rules.input``, the rules of ``POST
        /v1/events``): a row that is not one is read past, so it never holds
        back the rows behind it, and ``outbox_problems`` lists it.
        """
        ...

    def outbox_problems(self, limit: int) -> list[OutboxProblem]:
        """Unacknowledged outbox rows that are not valid events, oldest first (at most ``limit``).

        They wait in the outbox until corrected there or skipped by an
        operator (``acknowledge``); an implementation may bound how far it
        reads and says so.
        """
        ...

    def acknowledge(self, ids: Sequence[str]) -> None:
        """Mark outbox entries as taken (after hubsync stored them); idempotent."""
        ...

    def readiness(self) -> RegisterReadiness:
        """Whether the register is set up: each missing table or setting named; never raises.

        When an operation fails for the same cause it raises ``RegisterNotSetUp``.
        """
        ...

    def close(self) -> None:
        """Release connections and sessions."""
        ...
