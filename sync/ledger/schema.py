"""Schema versions of the ledger, one list of statements per version.

Statements are written once for both backends; ``{serial}``, ``{float}`` and
``{bigint}`` become each dialect's type. A ledger created fresh gets every
version at once; an older one is brought forward by ``hubsync db upgrade``.
Never edit a released version: add a new one.
"""

from __future__ import annotations

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE events (
            seq {serial} PRIMARY KEY,
            origin TEXT NOT NULL,
            event_id TEXT NOT NULL,
            direction TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            occurred_at {float} NOT NULL,
            received_at {float} NOT NULL,
            due_at {float} NOT NULL,
            next_attempt_at {float} NOT NULL,
            field_names TEXT NOT NULL,
            payload TEXT,
            lease_owner TEXT,
            lease_until {float},
            last_error TEXT,
            note TEXT,
            finished_at {float},
            scrubbed_at {float},
            due_extended_days INTEGER NOT NULL DEFAULT 0,
            UNIQUE (origin, event_id)
        )""",
        "CREATE INDEX events_ready ON events (state, next_attempt_at, seq)",
        "CREATE INDEX events_subject ON events (subject_id, state, occurred_at, seq)",
        "CREATE INDEX events_event_id ON events (event_id)",
        "CREATE INDEX events_finished ON events (finished_at)",
        """CREATE TABLE subjects (
            subject_id TEXT PRIMARY KEY,
            email TEXT,
            erasure TEXT,
            erasure_at {float},
            updated_at {float} NOT NULL
        )""",
        """CREATE TABLE subject_contacts (
            subject_id TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            linked_at {float} NOT NULL,
            PRIMARY KEY (subject_id, contact_id)
        )""",
        "CREATE INDEX subject_contacts_contact ON subject_contacts (contact_id)",
        """CREATE TABLE suppression (
            digest TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            added_at {float} NOT NULL,
            lifted_at {float},
            lift_reason TEXT
        )""",
        """CREATE TABLE webhook_receipts (
            receipt_key TEXT PRIMARY KEY,
            received_at {float} NOT NULL,
            expires_at {float} NOT NULL
        )""",
        "CREATE INDEX webhook_receipts_expiry ON webhook_receipts (expires_at)",
        """CREATE TABLE audit_log (
            seq {bigint} PRIMARY KEY,
            at {float} NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            direction TEXT NOT NULL,
            system TEXT NOT NULL,
            subject_pseudonym TEXT,
            kind TEXT,
            event_id TEXT,
            outcome TEXT NOT NULL,
            field_names TEXT NOT NULL,
            data_categories TEXT NOT NULL,
            http_status INTEGER,
            correlation_id TEXT,
            attempt INTEGER,
            detail TEXT,
            prev_hash TEXT NOT NULL,
            row_hash TEXT NOT NULL
        )""",
        """CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY,
            seq {bigint} NOT NULL,
            row_hash TEXT NOT NULL
        )""",
    ],
    2: [
        # Rate-limit budgets shared by every worker on the ledger: one token
        # bucket per name (HubSpot's 10-second window, its daily limit, search).
        """CREATE TABLE rate_buckets (
            name TEXT PRIMARY KEY,
            tokens {float} NOT NULL,
            updated_at {float} NOT NULL,
            blocked_until {float} NOT NULL DEFAULT 0
        )""",
    ],
    3: [
        # HubSpot webhook events, stored as received before the 204 and read
        # later by whoever turns them into register-bound events. The receipt
        # key (portal:subscription:event id) drops redeliveries; the payload
        # holds personal data and is scrubbed once the event is processed.
        """CREATE TABLE hubspot_inbox (
            seq {serial} PRIMARY KEY,
            receipt_key TEXT NOT NULL UNIQUE,
            received_at {float} NOT NULL,
            expires_at {float} NOT NULL,
            payload TEXT,
            state TEXT NOT NULL,
            processed_at {float}
        )""",
        "CREATE INDEX hubspot_inbox_state ON hubspot_inbox (state, seq)",
        "CREATE INDEX hubspot_inbox_expiry ON hubspot_inbox (expires_at)",
    ],
    4: [
        # What hubsync itself wrote to HubSpot recently (a keyed digest of each
        # value, never the value): the property change coming back as a webhook
        # is an echo and must not flow back to the register.
        """CREATE TABLE echo_marks (
            contact_id TEXT NOT NULL,
            property TEXT NOT NULL,
            value_digest TEXT NOT NULL,
            expires_at {float} NOT NULL,
            PRIMARY KEY (contact_id, property, value_digest)
        )""",
        "CREATE INDEX echo_marks_expiry ON echo_marks (expires_at)",
        # Counters every process adds to and `hubsync status` and /metrics read
        # (HTTP 429 answers, blocked resurrections, refused webhook signatures).
        """CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value {bigint} NOT NULL,
            updated_at {float} NOT NULL
        )""",
        # Finding the subject of a HubSpot contact hubsync has not linked yet.
        "CREATE INDEX subjects_email ON subjects (lower(email))",
        # Inbox rows are leased like events, so several workers share the inbox.
        "ALTER TABLE hubspot_inbox ADD COLUMN lease_owner TEXT",
        "ALTER TABLE hubspot_inbox ADD COLUMN lease_until {float}",
    ],
    5: [
        # Why an inbox row was set aside (a malformed item of a signed batch):
        # a field name and what is wrong with it, never a value.
        "ALTER TABLE hubspot_inbox ADD COLUMN problem TEXT",
    ],
    6: [
        # Receipts have lived in hubspot_inbox since version 3; nothing reads
        # or writes this table any more.
        "DROP TABLE webhook_receipts",
    ],
    7: [
        # A turn per period shared by every worker (the subscription check):
        # when it was last taken. It replaces a rate bucket used as a lock.
        """CREATE TABLE turns (
            name TEXT PRIMARY KEY,
            taken_at {float} NOT NULL
        )""",
        "DELETE FROM rate_buckets WHERE name = 'subscription_check'",
    ],
    8: [
        # Refused signatures in a row, per endpoint ("webhook"), shared by every
        # server: when public_url or a proxy is wrong, every batch is refused
        # and may be lost for good, so /readyz and `hubsync status` say so once
        # ``refusals`` reaches ``threshold`` (the refusing server's setting). A
        # good signature sets ``refusals`` back to 0. Codes and times only.
        """CREATE TABLE signature_streaks (
            name TEXT PRIMARY KEY,
            refusals INTEGER NOT NULL,
            first_at {float},
            last_at {float},
            last_reason TEXT,
            threshold INTEGER NOT NULL
        )""",
    ],
    9: [
        # Whether the HubSpot link is down (sync.rules.link): one row while
        # HubSpot refuses the credential (a 401, a 403 MISSING_SCOPES), none
        # while it is up, read by every worker, /readyz and `hubsync status`.
        # A reason, a status and scope names only: no token, nothing personal.
        """CREATE TABLE hubspot_link (
            name TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            since {float} NOT NULL,
            http_status INTEGER,
            scopes TEXT NOT NULL
        )""",
    ],
    10: [
        # HubSpot's rolling 10-second window as a budget every worker shares
        # (sync.rules.rate_window): one row per call admitted, with its time,
        # pruned as it leaves the window. It replaces the token bucket
        # "hubspot:burst", which could never spend the whole window.
        """CREATE TABLE rate_calls (
            seq {serial} PRIMARY KEY,
            name TEXT NOT NULL,
            at {float} NOT NULL
        )""",
        "CREATE INDEX rate_calls_window ON rate_calls (name, at)",
        "DELETE FROM rate_buckets WHERE name = 'hubspot:burst'",
    ],
}

LATEST_VERSION = max(MIGRATIONS)

SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER NOT NULL, applied_at {float} NOT NULL)"
)
