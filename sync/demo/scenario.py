"""The demo's scenario: every right, in both directions, on a whole running system.

``sync.demo.run`` starts the parts (a temporary SQLite ledger, the
sandbox, the intake server, the worker, the demo SQL register with a few
dozen fictional people); this module plays the scenario on them and checks
each effect where it should show: in HubSpot (read back through the same
client the worker uses), in the register, in the ledger and its audit log.

Every step goes the way it would in production: register changes through
the register's outbox, HubSpot changes as the sandbox's users, forms and
recipients make them, arriving as signed webhooks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from sync.model import Envelope, EventKind, EventState, NoticeKind, RegisterNotice
from sync.operator import Operator, new_envelope
from sync.ports import HubSpot
from sync.worker import Worker

PEOPLE: tuple[tuple[str, str], ...] = (
    ("Ada", "Example"), ("Bo", "Sample"), ("Cleo", "Placeholder"), ("Dan", "Dummy"),
    ("Eve", "Testperson"), ("Finn", "Fictive"), ("Gus", "Madeup"), ("Hana", "Notreal"),
    ("Ivo", "Specimen"), ("Jo", "Mockup"), ("Kai", "Prototype"), ("Lea", "Standin"),
    ("Mo", "Exemplar"), ("Nia", "Imaginary"), ("Oli", "Invented"), ("Pia", "Fabricated"),
    ("Quin", "Pretend"), ("Rae", "Nominal"), ("Sol", "Template"), ("Tia", "Surrogate"),
    ("Uma", "Proxy"), ("Vic", "Avatar"), ("Wren", "Persona"), ("Xan", "Fixture"),
)  # fmt: skip
"""Clearly fictional people; their addresses are under ``example.org``."""


class DemoRegister(Protocol):
    """The demo register (``SqlRegister``): its application's side and what it holds."""

    def add_customer(self, subject_id: str, **fields: Any) -> None:
        """Create a customer."""
        ...

    def record_change(self, envelope: Envelope) -> str:
        """Change a customer and queue the change for hubsync (the outbox)."""
        ...

    def record(self, subject_id: str) -> dict[str, Any] | None:
        """A customer's row."""
        ...

    def list_notices(self) -> list[RegisterNotice]:
        """Notices hubsync left for the register's operators."""
        ...


class DemoHubSpot(Protocol):
    """What a HubSpot user, form or recipient does (the sandbox's control API)."""

    def act(self, action: str, **body: Any) -> dict[str, Any]:
        """One action; the answer names the contact ids involved."""
        ...

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """A live contact as the sandbox holds it."""
        ...

    def webhooks_idle(self) -> bool:
        """Whether every webhook has been delivered."""
        ...


@dataclass(frozen=True)
class Check:
    """One effect the demo looked for, and whether it was there."""

    right: str
    direction: str
    subject: str
    where: str
    what: str
    ok: bool


@dataclass
class Person:
    """A fictional customer, in the register and in HubSpot."""

    subject: str
    first_name: str
    last_name: str
    email: str
    contact_id: str = ""


@dataclass
class Demo:
    """The scenario, over running parts."""

    operator: Operator
    worker: Worker
    register: DemoRegister
    sandbox: DemoHubSpot
    hubspot: HubSpot
    export_dir: Path
    console: Console
    checks: list[Check] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)

    # -- running -------------------------------------------------------------

    def run(self) -> list[Check]:
        """Play every step with a progress display; returns the checks."""
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Seed the register and HubSpot with 24 fictional people", self.seed),
            ("Register -> HubSpot: erasure", self.erasure),
            ("Register -> HubSpot: rectification", self.rectification),
            ("Register -> HubSpot: marketing opt-out", self.opt_out),
            ("Register -> HubSpot: restriction", self.restriction),
            ("Register -> HubSpot: restriction lifted", self.restriction_lifted),
            ("Register -> HubSpot: access (export)", self.access),
            ("HubSpot -> register: a correction in a form", self.form_correction),
            ("HubSpot -> register: an unsubscribe", self.unsubscribe),
            ("HubSpot -> register: an admin's GDPR delete", self.gdpr_delete),
            ("HubSpot -> register: a merge of two people", self.merge),
            ("HubSpot -> register: an archive", self.archive),
            ("HubSpot: an erased person re-created by a form", self.resurrection),
            ("Ledger: nothing failed, the audit chain holds", self.ledger_checks),
        ]
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[n]}"))
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task("hubsync demo", total=len(steps), n="")
            for i, (title, step) in enumerate(steps, 1):
                progress.update(task, description=title, n=f"{i}/{len(steps)}")
                step()
                progress.advance(task)
            progress.update(task, description="done")
        return self.checks

    def settle(self) -> None:
        """Until every webhook is delivered and the worker has nothing left, both ways."""
        settle(self.sandbox, self.worker)

    def check(
        self, right: str, direction: str, person: Person | None, where: str, what: str, ok: bool
    ) -> None:
        """Record one check."""
        subject = person.subject if person else "-"
        self.checks.append(Check(right, direction, subject, where, what, ok))

    def change(self, kind: EventKind, person: Person, event_id: str, **fields: Any) -> str:
        """The register's application records a change (and its outbox row)."""
        envelope = new_envelope(kind, person.subject, datetime.now(UTC), event_id, **fields)
        self.register.record_change(envelope)
        return event_id

    def event_state(self, event_id: str) -> EventState | None:
        found = self.operator.ledger.find(event_id)
        return found[0].state if found else None

    # -- the steps -----------------------------------------------------------

    def seed(self) -> None:
        """24 customers in the register, their contacts in HubSpot, linked by their email."""
        for n, (first, last) in enumerate(PEOPLE, 1):
            email = f"{first}.{last}@example.org".lower()
            person = Person(f"C-{1000 + n}", first, last, email)
            self.register.add_customer(
                person.subject, email=email, first_name=first, last_name=last
            )
            answer = self.sandbox.act(
                "create", properties={"email": email, "firstname": first, "lastname": last}
            )
            person.contact_id = str(answer["contact_id"])
            self.people.append(person)
        # HubSpot's creation webhooks reach hubsync, which finds each new
        # contact's subject by email in the register and links them.
        self.settle()
        linked = sum(
            1
            for p in self.people
            if (r := self.operator.ledger.subject(p.subject)) and p.contact_id in r.contact_ids
        )
        self.check(
            "-",
            "HubSpot -> hubsync",
            None,
            "ledger",
            f"{linked}/{len(self.people)} new contacts linked to their subject by email",
            linked == len(self.people),
        )

    def erasure(self) -> None:
        person = self.people[0]
        event = self.change(EventKind.ERASURE, person, "demo-erasure")
        self.settle()
        gone = self.hubspot.get_contact(person.email, by_email=True) is None
        self.check(
            "erasure",
            "register -> HubSpot",
            person,
            "HubSpot",
            "contact deleted (GDPR delete, verified by a read)",
            gone,
        )
        record = self.operator.ledger.subject(person.subject)
        forgotten = record is not None and record.erasure == "erased" and record.email is None
        digest = self.operator.pseudonymizer.email(person.email)
        self.check(
            "erasure",
            "register -> HubSpot",
            person,
            "ledger",
            "event done, email forgotten and on the suppression list",
            self.event_state(event) is EventState.DONE
            and forgotten
            and self.operator.ledger.is_suppressed(digest),
        )

    def rectification(self) -> None:
        person = self.people[1]
        self.change(
            EventKind.RECTIFICATION, person, "demo-rectification", changes={"last_name": "Renamed"}
        )
        self.settle()
        found = self.hubspot.get_contact(person.contact_id, properties=["lastname"])
        ok = found is not None and found.properties.get("lastname") == "Renamed"
        self.check(
            "rectification",
            "register -> HubSpot",
            person,
            "HubSpot",
            "lastname updated on the existing contact",
            ok,
        )

    def opt_out(self) -> None:
        person = self.people[2]
        self.change(EventKind.MARKETING_OPT_OUT, person, "demo-opt-out")
        self.settle()
        ok = self.hubspot.subscription_statuses(person.email).unsubscribed_from_all
        self.check(
            "marketing_opt_out",
            "register -> HubSpot",
            person,
            "HubSpot",
            "unsubscribed from all email",
            ok,
        )

    def restriction(self) -> None:
        person = self.people[3]
        self.change(EventKind.RESTRICTION, person, "demo-restriction")
        self.settle()
        flagged = self.hubspot.restricted(person.contact_id) is True
        unsubscribed = self.hubspot.subscription_statuses(person.email).unsubscribed_from_all
        self.check(
            "restriction",
            "register -> HubSpot",
            person,
            "HubSpot",
            "restriction property set and unsubscribed",
            flagged and unsubscribed,
        )

    def restriction_lifted(self) -> None:
        person = self.people[4]
        self.change(EventKind.RESTRICTION, person, "demo-restriction-2")
        self.settle()
        self.change(EventKind.RESTRICTION_LIFTED, person, "demo-restriction-lifted")
        self.settle()
        cleared = self.hubspot.restricted(person.contact_id) is False
        self.check(
            "restriction_lifted",
            "register -> HubSpot",
            person,
            "HubSpot",
            "restriction property cleared, nothing re-subscribed",
            cleared,
        )

    def access(self) -> None:
        person = self.people[5]
        event = self.change(EventKind.ACCESS, person, "demo-access")
        self.settle()
        path = self.export_dir / f"{event}.json"
        ok = False
        if path.exists():
            document = json.loads(path.read_text())
            contacts = document.get("hubspot", {}).get("contacts", [])
            ok = bool(contacts) and document.get("register") is not None
        self.check(
            "access",
            "register -> HubSpot",
            person,
            "export",
            f"document with HubSpot properties and the register record ({path.name})",
            ok,
        )

    def form_correction(self) -> None:
        person = self.people[6]
        self.sandbox.act(
            "form_submission", email=person.email, properties={"firstname": "Corrected"}
        )
        self.settle()
        ok = (self.register.record(person.subject) or {}).get("first_name") == "Corrected"
        self.check(
            "rectification",
            "HubSpot -> register",
            person,
            "register",
            "first_name corrected from the form",
            ok,
        )

    def unsubscribe(self) -> None:
        person = self.people[7]
        self.sandbox.act("unsubscribe", email=person.email)
        self.settle()
        ok = bool((self.register.record(person.subject) or {}).get("marketing_opt_out"))
        self.check(
            "marketing_opt_out", "HubSpot -> register", person, "register", "opt-out recorded", ok
        )

    def gdpr_delete(self) -> None:
        person = self.people[8]
        self.sandbox.act("gdpr_delete", contact_id=person.contact_id)
        self.settle()
        record = self.register.record(person.subject) or {}
        ok = record.get("erased_at") is not None and record.get("email") is None
        self.check(
            "erasure",
            "HubSpot -> register",
            person,
            "register",
            "record erased (on_hubspot_erasure = apply), suppressed",
            ok,
        )

    def merge(self) -> None:
        first, second = self.people[9], self.people[10]
        merged = str(
            self.sandbox.act("merge", primary_id=first.contact_id, secondary_id=second.contact_id)[
                "contact_id"
            ]
        )
        self.settle()
        rekeyed = all(
            (r := self.operator.ledger.subject(p.subject)) is not None and merged in r.contact_ids
            for p in (first, second)
        )
        self.check(
            "-",
            "HubSpot -> register",
            first,
            "ledger",
            f"both subjects re-keyed to the merged contact {merged}",
            rekeyed,
        )
        conflict = self._notice(NoticeKind.MERGE_CONFLICT, first.subject, second.subject)
        self.check(
            "-",
            "HubSpot -> register",
            first,
            "register",
            "merge_conflict notice for an operator",
            conflict,
        )

    def archive(self) -> None:
        person = self.people[11]
        self.sandbox.act("archive", contact_id=person.contact_id)
        self.settle()
        noticed = self._notice(NoticeKind.CONTACT_ARCHIVED, person.subject)
        kept = (self.register.record(person.subject) or {}).get("erased_at") is None
        self.check(
            "-",
            "HubSpot -> register",
            person,
            "register",
            "contact_archived notice, record kept (an archive is not an erasure)",
            noticed and kept,
        )

    def resurrection(self) -> None:
        person = self.people[0]  # erased in the first step
        answer = self.sandbox.act(
            "form_submission", email=person.email, properties={"firstname": person.first_name}
        )
        self.settle()
        gone = self.sandbox.contact(str(answer["contact_id"])) is None
        audited = any(
            r.entry.action == "resurrection_blocked" for r in self.operator.ledger.audit_rows()
        )
        self.check(
            "erasure",
            "HubSpot -> hubsync",
            person,
            "HubSpot",
            "re-created contact erased again",
            gone,
        )
        self.check(
            "erasure",
            "HubSpot -> hubsync",
            person,
            "audit + register",
            "resurrection_blocked audited and noticed",
            audited and self._notice(NoticeKind.RESURRECTION_BLOCKED),
        )

    def ledger_checks(self) -> None:
        failed = len(self.operator.ledger.list_events(state=EventState.FAILED, limit=None))
        self.check("-", "-", None, "ledger", f"{failed} failed events", failed == 0)
        verdict = self.operator.ledger.verify_audit()
        self.check(
            "-", "-", None, "audit log", f"hash chain verified over {verdict.rows} rows", verdict.ok
        )

    def _notice(self, kind: NoticeKind, *subjects: str) -> bool:
        for notice in self.register.list_notices():
            if notice.kind is kind and set(subjects) <= set(notice.subject_ids):
                return True
        return False


def settle(sandbox: DemoHubSpot, worker: Worker, timeout_s: float = 60.0) -> None:
    """Until every webhook is delivered and the worker has nothing left, both ways.

    Quiet means three worker rounds in a row found nothing while no webhook
    was on its way: what one direction does can cause work in the other.
    """
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while time.monotonic() < deadline:
        if not sandbox.webhooks_idle():
            quiet = 0
            time.sleep(0.02)
            continue
        quiet = quiet + 1 if worker.run_until_idle() == 0 else 0
        if quiet >= 3:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the system did not settle within {timeout_s:.0f} s")


def render(checks: Sequence[Check], console: Console) -> None:
    """The table of what happened where."""
    table = Table(title="hubsync demo: what happened where")
    for column in ("right", "direction", "subject", "where", "what", "ok"):
        table.add_column(column)
    for c in checks:
        mark = "[green]yes[/]" if c.ok else "[red]NO[/]"
        table.add_row(c.right, c.direction, c.subject, c.where, c.what, mark)
    console.print(table)
    held = sum(c.ok for c in checks)
    colour = "green" if held == len(checks) else "red"
    console.print(f"[{colour}]{held} of {len(checks)} checks held[/]")
