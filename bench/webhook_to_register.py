"""HubSpot to register: webhook events in the inbox turned into register-bound events.

Scenarios ``webhook_to_register_sqlite`` and ``webhook_to_register_postgres``.
Untimed: 1,000 register subjects linked to their HubSpot contacts, and N
``contact.propertyChange`` events of a mapped, shared field (``firstname``,
made in HubSpot's UI) stored in the ledger's inbox as the intake stores them.
Timed: ``sync.worker.webhook_round`` (over ``HubSpotInbound``) until the
inbox is empty, i.e. leasing, reading echo marks and the subject map, storing
one register rectification per event, finishing the inbox rows. Every event must end as
one register-bound event in the ledger.

No HubSpot call is made for linked contacts, so HubSpot's rate limit does not
bound this. ``ceiling_per_s`` is the intake's goal (5,000 events/s, issue 5):
at ``ratio`` >= 1 the worker keeps up with what the intake accepts.
"""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from report import (
    T0,
    PostgresUnavailable,
    Result,
    Stopwatch,
    fresh_ledger,
    note,
    parser,
    selected_backends,
)

from connectors.hubspot.webhook_payloads import change_from_item
from connectors.register.sql import SqlRegister
from mappings import load_mapping
from sync.audit import Pseudonymizer
from sync.clock import FixedClock
from sync.handlers.from_hubspot import HubSpotInbound
from sync.ledger.sql import SqlLedger
from sync.model import Direction
from sync.worker import webhook_round

DESCRIPTION = __doc__.splitlines()[0]
DEFAULT_EVENTS = {"sqlite": 20_000, "postgres": 20_000}
GOAL_PER_S = 5_000.0
SUBJECTS = 1_000
FIRST_CONTACT = 1_000


class NoHubSpot:
    """Stands where the HubSpot client would: linked contacts never need it."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the scenario called HubSpot ({name})")


def webhook(k: int, occurred_ms: int) -> dict[str, object]:
    """The k-th event: a HubSpot user renames contact k mod 1,000."""
    return {
        "eventId": k,
        "subscriptionId": 200001,
        "portalId": 62515,
        "occurredAt": occurred_ms,
        "subscriptionType": "contact.propertyChange",
        "objectId": FIRST_CONTACT + k % SUBJECTS,
        "propertyName": "firstname",
        "propertyValue": f"Name {k}",
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }


def load(ledger: SqlLedger, events: int) -> None:
    """Linked subjects and ``events`` stored webhook events (untimed)."""
    for i in range(SUBJECTS):
        ledger.remember_subject(
            f"C-{i}", T0, email=f"p{i}@example.org", contact_ids=[str(FIRST_CONTACT + i)]
        )
    occurred_ms = int(T0.timestamp() * 1000)
    items = [(f"62515:200001:{k}", webhook(k, occurred_ms + k)) for k in range(events)]
    for start in range(0, events, 1_000):
        ledger.store_webhooks(items[start : start + 1_000], T0, timedelta(days=1))


def scenario(backend: str, events: int, postgres_url: str) -> Result:
    """One backend's run."""
    name = f"webhook_to_register_{backend}"
    with fresh_ledger(backend, postgres_url) as ledger, tempfile.TemporaryDirectory() as tmp:
        note(f"{name}: {SUBJECTS:,} linked subjects, {events:,} webhook events in the inbox")
        load(ledger, events)
        register = SqlRegister(f"sqlite:///{Path(tmp) / 'register.db'}")
        clock = FixedClock(T0 + timedelta(seconds=1))
        inbound = HubSpotInbound(
            ledger=ledger,
            hubspot=NoHubSpot(),  # type: ignore[arg-type]
            register=register,
            fields=load_mapping(),
            pseudonymizer=Pseudonymizer(b"bench-pseudonym-key-0123"),
            clock=clock,
            parse=functools.partial(change_from_item, app_id=54321),
            owner="bench",
        )
        watch = Stopwatch()
        rounds = 0
        with watch:
            while webhook_round(inbound):
                rounds += 1
        register.close()
        made = ledger.list_events(limit=None)
        to_register = sum(e.direction is Direction.TO_REGISTER for e in made)
        if to_register != events or ledger.webhook_states().get("pending", 0):
            raise SystemExit(f"{name}: {to_register} register events for {events} webhooks")
        note(f"{name}: {rounds} rounds of 100")
        return Result(name, events, watch.seconds, GOAL_PER_S)


def main() -> int:
    """Run the selected scenarios; one JSON line each on stdout."""
    args = parser(DESCRIPTION, DEFAULT_EVENTS).parse_args()
    code = 0
    for backend in selected_backends(args.backend):
        events = args.events if args.events is not None else DEFAULT_EVENTS[backend]
        try:
            print(json.dumps(scenario(backend, events, args.postgres_url).as_dict()), flush=True)
        except PostgresUnavailable as exc:
            note(f"PostgreSQL is unreachable ({exc}); skipping webhook_to_register_postgres")
            code = 1 if args.require_postgres else code
    return code


if __name__ == "__main__":
    sys.exit(main())
