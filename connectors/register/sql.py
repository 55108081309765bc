"""``SqlRegister``: a register kept in SQL tables, on SQLite or PostgreSQL.

Three tables, their names from settings (checked and quoted):

- ``customers``: ``id, email, first_name, last_name, phone, company,
  marketing_opt_out, restricted, erased_at, updated_at``. hubsync applies
  register-bound events to it (``connectors.register.effects`` decides how).
- ``dsr_outbox``: ``id, event_id, kind, subject_id, payload, created_at,
  acknowledged_at``. The register's application writes a row in the same
  transaction as its own change (the transactional outbox pattern,
  ``record_change``); hubsync polls the unacknowledged rows in id order and
  acknowledges them once they are in its ledger.
- ``dsr_notices``: notices for the register's operators (archives, merge
  conflicts, blocked resurrections, erasure requests to act on).

Each event is applied in its own short transaction, so one failure does not
undo the others. ``create_schema`` builds the tables (the demo register, and
``hubsync register init`` for a trial). ``readiness`` probes each table and
names the missing ones with their setting; an operation that meets a
missing table raises ``RegisterNotSetUp`` naming them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.register import effects
from connectors.register.effects import ErasureMode
from connectors.register.sqldb import Cursor, MissingTable, RegisterDatabase, identifier
from connectors.register.wire import envelope_to_json, register_envelope
from sync.errors import RegisterNotSetUp, SyncError
from sync.intake.envelope_json import envelope_from_json
from sync.model import (
    Envelope,
    EventKind,
    NoticeKind,
    Origin,
    OutboxProblem,
    RegisterNotice,
    RegisterReadiness,
    RegisterSubject,
    StoredEvent,
    SubjectId,
)
from sync.timefmt import iso_utc

log = structlog.get_logger("hubsync.register")

OUTBOX_PAGES = 10  # reads per poll at most, to get past rows that are not valid events
PROBLEM_SCAN_PAGE = 500  # rows per read when listing the rows that are not valid events
PROBLEM_SCAN_PAGES = 20  # reads at most: the first 10,000 unacknowledged rows
PAYLOAD_FIELDS = (
    "occurred_at", "email", "changes", "subscription_ids", "legal_basis", "reference",
)  # fmt: skip

NOT_SET_UP = "the register is not set up: "


class SqlRegister:
    """The register port over a customers table, an outbox and a notices table."""

    def __init__(
        self,
        url: str,
        *,
        customers_table: str = "customers",
        outbox_table: str = "dsr_outbox",
        notices_table: str = "dsr_notices",
        on_hubspot_erasure: ErasureMode = "notify",
        schema: str | None = None,
        timeout_s: float = 10.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = RegisterDatabase(url, schema=schema, timeout_s=timeout_s)
        self._customers = identifier(customers_table, "register.customers_table")
        self._outbox = identifier(outbox_table, "register.outbox_table")
        self._notices = identifier(notices_table, "register.notices_table")
        self._outbox_index = identifier(f"{outbox_table}_waiting", "register.outbox_table")
        self.tables = {
            "customers_table": customers_table,
            "outbox_table": outbox_table,
            "notices_table": notices_table,
        }
        """Each table's name by the ``[register]`` setting that names it."""
        self._schema = schema
        self.on_hubspot_erasure: ErasureMode = on_hubspot_erasure
        self._now = now
        self._reported_invalid: set[str] = set()  # outbox ids already logged as invalid
        self.db.describe_missing = lambda: self.readiness().problems

    # -- readiness ----------------------------------------------------------

    def readiness(self) -> RegisterReadiness:
        """Whether the three tables can be read; each missing one named with its setting.

        One probe per table (``SELECT ... WHERE 1 = 0``), each in its own
        transaction so that on PostgreSQL one missing table does not hide the
        next. A database that cannot be opened or reached is one problem.
        """
        problems: list[str] = []
        where = f" in schema {self._schema}" if self._schema else ""
        for setting, name in self.tables.items():
            try:
                with self.db.transaction(explain=False) as cur:
                    cur.execute(f"SELECT 1 FROM {identifier(name, setting)} WHERE 1 = 0")
            except MissingTable:
                problems.append(f"table {name} is missing{where} ([register] {setting})")
            except RegisterNotSetUp as error:  # the database itself
                return RegisterReadiness((str(error).removeprefix(NOT_SET_UP),))
            except SyncError as error:
                problems.append(f"table {name} cannot be read ({error.code})")
        return RegisterReadiness(tuple(problems))

    # -- schema -------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the three tables (and the schema, on PostgreSQL) unless they exist.

        On SQLite the database file is created too (and its directory).
        """
        d = self.db.dialect
        with self.db.transaction(create=True) as cur:
            if self._schema and d.name == "postgres":
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(self._schema, 'schema')}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self._customers} ("
                "id TEXT PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT, "
                "phone TEXT, company TEXT, "
                "marketing_opt_out BOOLEAN NOT NULL DEFAULT FALSE, "
                "restricted BOOLEAN NOT NULL DEFAULT FALSE, "
                f"erased_at {d.timestamp}, updated_at {d.timestamp} NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self._outbox} ("
                f"id {d.serial}, event_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
                f"subject_id TEXT NOT NULL, payload {d.json} NOT NULL, "
                f"created_at {d.timestamp} NOT NULL, acknowledged_at {d.timestamp})"
            )
            cur.execute(
                f"CREATE INDEX IF NOT EXISTS {self._outbox_index} "
                f"ON {self._outbox} (id) WHERE acknowledged_at IS NULL"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self._notices} ("
                f"notice_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject_ids {d.json} NOT NULL, "
                f"contact_ids {d.json} NOT NULL, occurred_at {d.timestamp} NOT NULL, "
                f"recorded_at {d.timestamp} NOT NULL)"
            )

    # -- the register's own side (what its application does) ---------------

    def add_customer(self, subject_id: str, **fields: Any) -> None:
        """Create or replace a customer (``email``, ``first_name``, ... as keyword arguments)."""
        unknown = set(fields) - set(effects.PERSONAL_COLUMNS) - set(effects.FLAG_COLUMNS)
        if unknown:
            raise ValueError(f"unknown customer fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {"marketing_opt_out": False, "restricted": False, **fields}
        columns = ["id", *values, "updated_at"]
        params = [subject_id, *values.values(), self.db.time_param(self._now())]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        with self.db.transaction() as cur:
            cur.execute(
                self.db.sql(
                    f"INSERT INTO {self._customers} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' for _ in columns)}) "
                    f"ON CONFLICT (id) DO UPDATE SET {updates}, erased_at = NULL"
                ),
                params,
            )

    def record_change(self, envelope: Envelope) -> str:
        """Apply a change made in the register and queue it for hubsync, in one transaction.

        What the register's application does (the transactional outbox
        pattern): the customer row and the outbox row commit together.
        Returns the outbox id. An ``access`` request changes nothing and is only queued.
        """
        # An access request changes nothing: it is only queued for hubsync to answer.
        change = (
            None
            if envelope.kind is EventKind.ACCESS
            else effects.change_for(envelope, Origin.REGISTER, "apply")
        )
        now = self._now()
        with self.db.transaction() as cur:
            if change is not None and self._state(cur, envelope.subject_id) == "present":
                self._change(cur, envelope.subject_id, change, now)
            return self._insert_outbox(cur, envelope, now)

    def write_outbox(self, envelope: Envelope) -> str:
        """Only the outbox row, as a faulty application might write it; returns its id."""
        with self.db.transaction() as cur:
            return self._insert_outbox(cur, envelope, self._now())

    def _insert_outbox(self, cur: Cursor, envelope: Envelope, now: datetime) -> str:
        row = cur.execute(
            self.db.sql(
                f"INSERT INTO {self._outbox} (event_id, kind, subject_id, payload, created_at) "
                f"VALUES (?, ?, ?, CAST(? AS {self.db.dialect.json}), ?) RETURNING id"
            ),
            (
                envelope.event_id,
                envelope.kind.value,
                envelope.subject_id,
                json.dumps(envelope_to_json(envelope)),
                self.db.time_param(now),
            ),
        ).fetchone()
        return str(row[0])

    # -- the port -----------------------------------------------------------

    def apply(self, events: Sequence[StoredEvent]) -> dict[int, SyncError | None]:
        """Apply register-bound events, each in its own transaction; an outcome per seq."""
        outcomes: dict[int, SyncError | None] = {}
        for event in events:
            try:
                self._apply_one(register_envelope(event), event.origin)
                outcomes[event.seq] = None
            except SyncError as error:
                outcomes[event.seq] = error
                log.info(
                    "register_event_not_applied",
                    event_id=event.event_id,
                    kind=event.kind.value,
                    error_code=error.code,
                )
        return outcomes

    def notify(self, notice: RegisterNotice) -> None:
        """Insert a notice row; the same notice id twice is kept once."""
        with self.db.transaction() as cur:
            self._insert_notice(cur, notice, self._now())

    def record(self, subject_id: str) -> dict[str, Any] | None:
        """The customer's row as a dict (timestamps as ISO strings); None when unknown."""
        with self.db.transaction() as cur:
            row = cur.execute(
                self.db.sql(
                    f"SELECT {', '.join(effects.RECORD_COLUMNS)} FROM {self._customers} "
                    "WHERE id = ?"
                ),
                (subject_id,),
            ).fetchone()
        if row is None:
            return None
        record = dict(zip(effects.RECORD_COLUMNS, row, strict=True))
        for flag in effects.FLAG_COLUMNS:
            record[flag] = bool(record[flag])
        for name in ("erased_at", "updated_at"):
            stamp = self.db.time_value(record[name])
            record[name] = iso_utc(stamp)
        return record

    def subjects_for_email(self, email: str) -> list[SubjectId]:
        """Customers (not erased) with this email, whatever its case."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                self.db.sql(
                    f"SELECT id FROM {self._customers} WHERE lower(email) = lower(?) "
                    "AND erased_at IS NULL ORDER BY id"
                ),
                (email.strip(),),
            ).fetchall()
        return [SubjectId(r[0]) for r in rows]

    def subjects_page(
        self, after: str | None, limit: int
    ) -> tuple[list[RegisterSubject], str | None]:
        """Customers in id order after ``after`` (erased ones included), and the next cursor.

        One read of ``limit + 1`` rows: the extra one only says a page follows.
        """
        columns = ", ".join(effects.RECORD_COLUMNS)
        where, params = ("WHERE id > ? ", [after]) if after is not None else ("", [])
        with self.db.transaction() as cur:
            rows = cur.execute(
                self.db.sql(f"SELECT {columns} FROM {self._customers} {where}ORDER BY id LIMIT ?"),
                (*params, max(0, limit) + 1),
            ).fetchall()
        page = [
            effects.subject_of(dict(zip(effects.RECORD_COLUMNS, row, strict=True)))
            for row in rows[: max(0, limit)]
        ]
        return page, (page[-1].subject_id if len(rows) > len(page) and page else None)

    def poll_outbox(self, limit: int) -> list[tuple[str, Envelope]]:
        """Unacknowledged outbox rows in id order, as envelopes (at most ``limit``).

        A row that is not a valid event (``sync.intake.envelope_json``'s rules, the
        same as ``POST /v1/events``) is logged once, by outbox id and the
        problems by field name, and left unacknowledged for an operator
        (``outbox_problems``): never stored, never skipped in silence.
        Reading goes on past such rows (``OUTBOX_PAGES`` reads at most), so
        they never hold back the valid ones behind them.
        """
        polled: list[tuple[str, Envelope]] = []
        for outbox_id, _written, envelope, found in self._waiting(limit, OUTBOX_PAGES):
            if envelope is not None:
                polled.append((outbox_id, envelope))
                if len(polled) >= limit:
                    break
            elif outbox_id not in self._reported_invalid:
                self._reported_invalid.add(outbox_id)
                log.warning("outbox_row_invalid", outbox_id=outbox_id, problems=found)
        return polled

    def outbox_problems(self, limit: int) -> list[OutboxProblem]:
        """Unacknowledged rows that are not valid events, in id order (at most ``limit``).

        Reads at most ``PROBLEM_SCAN_PAGES`` pages of ``PROBLEM_SCAN_PAGE``
        unacknowledged rows, so an outbox with a large backlog answers at once.
        """
        found: list[OutboxProblem] = []
        for outbox_id, written, envelope, problems in self._waiting(
            PROBLEM_SCAN_PAGE, PROBLEM_SCAN_PAGES
        ):
            if envelope is None:
                found.append(OutboxProblem(outbox_id, written, tuple(problems)))
                if len(found) >= limit:
                    break
        return found

    def _waiting(
        self, page: int, pages: int
    ) -> Iterator[tuple[str, datetime | None, Envelope | None, list[str]]]:
        """Unacknowledged rows in id order, ``page`` per read, ``pages`` reads at most.

        Each as (outbox id, when written, the envelope or None, its problems).
        """
        after = -1
        for _ in range(pages):
            with self.db.transaction() as cur:
                rows = cur.execute(
                    self.db.sql(
                        "SELECT id, event_id, kind, subject_id, payload, created_at "
                        f"FROM {self._outbox} WHERE acknowledged_at IS NULL AND id > ? "
                        "ORDER BY id LIMIT ?"
                    ),
                    (after, max(0, page)),
                ).fetchall()
            for row in rows:
                envelope, problems = self._outbox_envelope(row)
                yield str(row[0]), self._written_at(row[5]), envelope, problems
            if len(rows) < page:
                return
            after = int(rows[-1][0])

    def acknowledge(self, ids: Sequence[str]) -> None:
        """Mark outbox rows as taken; ids already acknowledged or unknown are ignored."""
        numbers = [int(i) for i in ids if i.isascii() and i.isdigit()]
        if not numbers:
            return
        marks = ", ".join("?" for _ in numbers)
        with self.db.transaction() as cur:
            cur.execute(
                self.db.sql(
                    f"UPDATE {self._outbox} SET acknowledged_at = ? "
                    f"WHERE acknowledged_at IS NULL AND id IN ({marks})"
                ),
                (self.db.time_param(self._now()), *numbers),
            )

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    # -- inside -------------------------------------------------------------

    def _apply_one(self, envelope: Envelope, origin: Origin) -> None:
        now = self._now()
        with self.db.transaction() as cur:
            state = self._state(cur, envelope.subject_id)
            change = effects.plan(envelope, origin, self.on_hubspot_erasure, state)
            if change is None:
                return
            if change.notice is not None:
                self._insert_notice(cur, change.notice, now)
            else:
                self._change(cur, envelope.subject_id, change, now)

    def _state(self, cur: Cursor, subject_id: str) -> effects.SubjectState:
        row = cur.execute(
            self.db.sql(f"SELECT erased_at FROM {self._customers} WHERE id = ?"), (subject_id,)
        ).fetchone()
        if row is None:
            return "absent"
        return "erased" if row[0] is not None else "present"

    def _change(self, cur: Cursor, subject_id: str, change: effects.Change, now: datetime) -> None:
        # Column names come from effects' fixed lists only, never from the event.
        sets = [f"{column} = ?" for column in change.values]
        params: list[Any] = list(change.values.values())
        if change.erase:
            sets += [f"{column} = NULL" for column in effects.PERSONAL_COLUMNS]
            sets.append("erased_at = COALESCE(erased_at, ?)")
            params.append(self.db.time_param(now))
        sets.append("updated_at = ?")
        params += [self.db.time_param(now), subject_id]
        cur.execute(
            self.db.sql(f"UPDATE {self._customers} SET {', '.join(sets)} WHERE id = ?"), params
        )
        if change.erase:
            # The outbox's already-delivered rows of this subject hold personal data too.
            cur.execute(
                self.db.sql(
                    f"UPDATE {self._outbox} SET payload = CAST(? AS {self.db.dialect.json}) "
                    "WHERE subject_id = ? AND acknowledged_at IS NOT NULL"
                ),
                ("{}", subject_id),
            )

    def _insert_notice(self, cur: Cursor, notice: RegisterNotice, now: datetime) -> None:
        json_type = self.db.dialect.json
        cur.execute(
            self.db.sql(
                f"INSERT INTO {self._notices} "
                "(notice_id, kind, subject_ids, contact_ids, occurred_at, recorded_at) "
                f"VALUES (?, ?, CAST(? AS {json_type}), CAST(? AS {json_type}), ?, ?) "
                "ON CONFLICT (notice_id) DO NOTHING"
            ),
            (
                notice.notice_id,
                notice.kind.value,
                json.dumps(list(notice.subject_ids)),
                json.dumps(list(notice.contact_ids)),
                self.db.time_param(notice.occurred_at),
                self.db.time_param(now),
            ),
        )

    def _written_at(self, value: Any) -> datetime | None:
        """When an outbox row was written; None when the register stored no usable time."""
        try:
            return self.db.time_value(value)
        except ValueError:
            return None

    def _outbox_envelope(self, row: Sequence[Any]) -> tuple[Envelope | None, list[str]]:
        """The row as an envelope, or None and its problems (by field name, no value)."""
        _id, event_id, kind, subject_id, payload, created_at = row
        try:
            data = json.loads(payload) if isinstance(payload, str | bytes) else payload
        except (ValueError, RecursionError):
            return None, ["payload: not valid JSON"]
        if not isinstance(data, dict):
            return None, ["payload: must be a JSON object"]
        document = {name: data.get(name) for name in PAYLOAD_FIELDS}
        document.update(event_id=event_id, kind=kind, subject_id=subject_id)
        if document["occurred_at"] is None:
            stamp = self.db.time_value(created_at)
            document["occurred_at"] = iso_utc(stamp)
        return envelope_from_json(document)

    def list_notices(self) -> list[RegisterNotice]:
        """Every notice recorded, oldest first (for the demo and tests)."""
        with self.db.transaction() as cur:
            rows = cur.execute(
                "SELECT notice_id, kind, subject_ids, contact_ids, occurred_at "
                f"FROM {self._notices} ORDER BY recorded_at, notice_id"
            ).fetchall()
        found = []
        for notice_id, kind, subjects, contacts, occurred in rows:
            subject_ids = json.loads(subjects) if isinstance(subjects, str) else subjects
            contact_ids = json.loads(contacts) if isinstance(contacts, str) else contacts
            stamp = self.db.time_value(occurred)
            found.append(
                RegisterNotice(
                    notice_id=notice_id,
                    kind=NoticeKind(kind),
                    occurred_at=stamp if stamp is not None else self._now(),
                    subject_ids=tuple(subject_ids),
                    contact_ids=tuple(contact_ids),
                )
            )
        return found
