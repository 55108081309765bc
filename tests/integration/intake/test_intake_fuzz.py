"""Fuzzing every way in, over HTTP, on SQLite and PostgreSQL side by side.

Hypothesis generates register events, webhook batches, event lookups and
register outbox rows, near-valid and hostile (lone surrogates, NUL and other
control characters, over-long values, patterns built to backtrack), and
sends each input to two intake servers, one over a SQLite ledger and one
over a PostgreSQL ledger. For every input:

- no answer is a 5xx, and every answer comes within 2 s;
- both backends give the same status (the outbox: the same verdict);
- a refused request leaves nothing behind: no event, no inbox row, no audit row.

``make test`` runs the default profile (a bounded number of examples, see
``tests/conftest.py``); ``pytest tests/integration/intake/test_intake_fuzz.py
--hypothesis-profile=long`` runs at least 1,000 examples per test.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from connectors.register.sql import SqlRegister
from sync.audit import Pseudonymizer
from sync.clock import FixedClock
from sync.handlers.outbox import RegisterOutbox
from sync.ledger.postgres import PostgresLedger
from sync.ledger.sql import SqlLedger
from sync.ledger.sqlite import SqliteLedger
from tests.conftest import T0, postgres_url_or_skip
from tests.integration.intake.conftest import Harness, served

ANSWER_WITHIN_S = 2.0

# -- strategies -----------------------------------------------------------------

HOSTILE = ["\x00", "\ud800", "\udfff", "\x07", "\x1b", "\u202e", "\ufeff", "\u2028", " ", "\n"]
hostile_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.one_of(st.characters(), st.sampled_from(HOSTILE)), max_size=12),
    st.sampled_from(
        ["", " ", "C-1 ", "a@b.se", "anna@example.se", "a@" + "." * 3000 + " ", "x" * 201,
         "x" * 250 + "@e.se", "a" * 65 + "@e.se", "first_name", "2026-11-27T10:00:00Z"]
    ),
)  # fmt: skip
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(), hostile_text,
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)
times = st.one_of(
    st.sampled_from(
        ["2026-11-27T10:00:00Z", "2026-11-27T10:00:00", "0001-01-01T00:00:00+14:00",
         "9999-12-31T23:59:59-10:00", "2026-11-27T10:00:00" + "0" * 80 + "Z", "x", ""]
    ),
    hostile_text,
)  # fmt: skip
KINDS = ["erasure", "rectification", "access", "marketing_opt_out", "marketing_opt_in", "x"]
ENVELOPE_OPTIONAL = ["email", "changes", "subscription_ids", "legal_basis", "reference", "unknown"]
near_envelope = st.fixed_dictionaries(
    {
        "event_id": hostile_text,
        "subject_id": hostile_text,
        "kind": st.sampled_from(KINDS),
        "occurred_at": times,
    },
    optional={
        "email": hostile_text,
        "changes": st.dictionaries(hostile_text, scalars, max_size=3) | json_values,
        "subscription_ids": st.lists(hostile_text, max_size=3) | json_values,
        "legal_basis": hostile_text,
        "reference": hostile_text,
        "unknown": json_values,
    },
)
ids = st.one_of(st.integers(min_value=0, max_value=5), st.integers(min_value=-3, max_value=2**65))
WEBHOOK_TEXT = ["propertyName", "propertyValue", "changeSource", "sourceId", "objectTypeId"]
WEBHOOK_IDS = ["appId", "attemptNumber", "objectId", "primaryObjectId", "newObjectId"]
near_webhook = st.fixed_dictionaries(
    {"eventId": ids, "subscriptionId": ids, "portalId": ids, "occurredAt": ids,
     "subscriptionType": st.sampled_from(["contact.creation", "contact.privacyDeletion",
                                          "object.propertyChange", "", "x.y"]) | hostile_text},
    optional={
        **dict.fromkeys(WEBHOOK_TEXT, hostile_text | json_values),
        **dict.fromkeys(WEBHOOK_IDS, ids | json_values),
        "mergedObjectIds": st.lists(ids, max_size=3) | json_values,
    },
)  # fmt: skip


def encoded(document: Any, raw: bool) -> bytes:
    """JSON text; ``raw`` writes lone surrogates as their bytes instead of ``\\ud800``."""
    if raw:
        return json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return json.dumps(document).encode()


def strict_json(body: bytes) -> bool:
    """Whether ``body`` is JSON as RFC 8259 has it (json.dumps writes NaN and Infinity too)."""

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        json.loads(body, parse_constant=refuse)
    except ValueError:
        return False
    return True


def header_values(size: int) -> st.SearchStrategy[str]:
    """Printable header values (what an HTTP client can send at all)."""
    printable = st.characters(min_codepoint=32, max_codepoint=126)
    return st.text(alphabet=printable, max_size=size).map(str.strip) | st.sampled_from(
        ["t=1,v1=00", "t=" + "9" * 5000 + ",v1=ab", "t=1795780800,v1=" + "0" * 64]
    )


# -- two servers, one per backend -------------------------------------------------


@dataclass
class Side:
    """One backend: its served intake and a register whose outbox feeds its ledger."""

    name: str
    harness: Harness
    register: SqlRegister
    outbox: RegisterOutbox

    @property
    def ledger(self) -> SqlLedger:
        return self.harness.ledger

    def stored(self) -> tuple[int, dict[str, int], int]:
        """Everything a request could leave behind: events, inbox rows by state, audit rows."""
        ledger = self.ledger
        return (
            len(ledger.list_events(limit=None)),
            ledger.webhook_states(),
            len(list(ledger.audit_rows())),
        )


def _side(
    name: str, ledger: SqlLedger, register_url: str, stack: Any, schema: str | None = None
) -> Side:
    ledger.open(T0)
    clock = FixedClock(T0)
    harness = stack.enter_context(served(ledger, clock))
    register = SqlRegister(register_url, now=clock.now, schema=schema)
    register.create_schema()
    outbox = RegisterOutbox(
        register=register, ledger=ledger, pseudonymizer=Pseudonymizer(b"fuzz-key-0123456789"),
        clock=clock,
    )  # fmt: skip
    return Side(name, harness, register, outbox)


@pytest.fixture(scope="module")
def sides() -> Iterator[list[Side]]:
    """The intake over SQLite and over PostgreSQL (a schema of its own), with registers."""
    url = postgres_url_or_skip()
    schema = f"hubsync_fuzz_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        built = [
            _side("sqlite", SqliteLedger(Path(tmp) / "l.db"), f"sqlite:///{tmp}/r.db", stack),
            _side("postgres", PostgresLedger(url, schema=schema), url, stack, schema),
        ]
        yield built
        stack.close()
        for side in built:
            side.register.close()
            side.ledger.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def each_side(sides: list[Side], send: Any) -> list[Any]:
    """Send to both sides; check each answer's time and status; the same status from both."""
    answers = []
    for side in sides:
        before = side.stored()
        answer, seconds = timed(lambda side=side: send(side.harness))
        assert answer.status_code < 500, (side.name, answer.text[:300])
        assert seconds < ANSWER_WITHIN_S, (side.name, seconds)
        if answer.status_code >= 400:
            assert side.stored() == before, side.name
        answers.append(answer)
    statuses = [a.status_code for a in answers]
    assert len(set(statuses)) == 1, dict(zip([s.name for s in sides], statuses, strict=True))
    return answers


# -- POST /v1/events ---------------------------------------------------------------


@given(
    document=st.one_of(
        near_envelope,
        st.fixed_dictionaries({"events": st.lists(near_envelope, max_size=4)}),
        json_values,
    ),
    raw=st.booleans(),
)
def test_signed_register_documents_of_any_shape(
    sides: list[Side], document: Any, raw: bool
) -> None:
    body = encoded(document, raw)
    [answer, _] = each_side(sides, lambda h: h.post_events(body))
    assert answer.status_code in (202, 400, 422), answer.text[:300]
    if answer.status_code == 422:
        assert answer.json()["problems"]
    if answer.status_code == 202:
        for side in sides:
            for result in answer.json()["events"]:
                assert side.ledger.find(result["event_id"])


@given(body=st.binary(max_size=300))
def test_signed_register_bodies_of_raw_bytes(sides: list[Side], body: bytes) -> None:
    [answer, _] = each_side(sides, lambda h: h.post_events(body))
    assert answer.status_code in (202, 400, 422)


@given(body=st.binary(max_size=200), header=header_values(120))
def test_forged_register_signatures_are_refused(
    sides: list[Side], body: bytes, header: str
) -> None:
    sent = {"X-Hubsync-Signature": header}
    [answer, _] = each_side(
        sides, lambda h: h.client.post("/v1/events", content=body, headers=sent)
    )
    assert answer.status_code == 401, answer.text


# -- POST /webhooks/hubspot ---------------------------------------------------------


@given(items=st.lists(near_webhook, max_size=5), raw=st.booleans())
def test_signed_near_valid_webhook_batches(
    sides: list[Side], items: list[dict[str, Any]], raw: bool
) -> None:
    body = encoded(items, raw)
    before = [side.stored()[1] for side in sides]
    [answer, _] = each_side(sides, lambda h: h.post_webhooks(body))
    assert answer.status_code == 204, answer.text[:300]  # signed: stored, or set aside whole
    for side, states in zip(sides, before, strict=True):
        added = sum(side.stored()[1].values()) - sum(states.values())
        assert 0 <= added <= (len(items) if strict_json(body) else 1)


@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: encoded(v, False))))
def test_signed_webhook_bodies_of_any_shape(sides: list[Side], body: bytes) -> None:
    [answer, _] = each_side(sides, lambda h: h.post_webhooks(body))
    assert answer.status_code in (204, 400)


@given(
    body=st.binary(max_size=200),
    headers=st.dictionaries(
        st.sampled_from(
            ["x-hubspot-signature-v3", "x-hubspot-request-timestamp", "x-hubspot-signature",
             "x-hubspot-signature-version"]
        ),
        header_values(60),
    ),
)  # fmt: skip
def test_forged_webhook_headers_are_refused(
    sides: list[Side], body: bytes, headers: dict[str, str]
) -> None:
    [answer, _] = each_side(
        sides, lambda h: h.client.post("/webhooks/hubspot", content=body, headers=headers)
    )
    assert answer.status_code == 401, answer.text


# -- GET /v1/events/{event_id} ------------------------------------------------------


@given(event_id=hostile_text.filter(bool))
def test_event_lookups_of_any_id(sides: list[Side], event_id: str) -> None:
    path = "/v1/events/" + urllib.parse.quote(event_id, safe="", errors="surrogatepass")
    [answer, _] = each_side(sides, lambda h: h.client.get(path))
    assert answer.status_code in (200, 404, 405, 422), answer.text[:300]  # 405: a "/" in it


# -- the register's outbox -----------------------------------------------------------


@given(
    event_id=hostile_text,
    kind=st.sampled_from(KINDS) | hostile_text,
    subject_id=hostile_text,
    payload=st.one_of(
        near_envelope.map(lambda d: {k: v for k, v in d.items() if k not in ("kind",)}),
        json_values,
    ),
)
def test_outbox_rows_of_any_shape(
    sides: list[Side], event_id: str, kind: str, subject_id: str, payload: Any
) -> None:
    text = json.dumps(payload)
    inserted = [_insert_outbox_row(side, event_id, kind, subject_id, text) for side in sides]
    assume(all(inserted))  # a row the register's own database refuses never reaches hubsync
    verdicts = []
    for side in sides:
        before = side.stored()
        _, seconds = timed(side.outbox.run_once)
        assert seconds < ANSWER_WITHIN_S
        acknowledged = _acknowledged(side)
        _clear_outbox(side)
        if not acknowledged:
            assert side.stored() == before, side.name
        else:
            assert side.stored()[0] >= before[0]
        verdicts.append(acknowledged)
    assert verdicts[0] == verdicts[1], dict(zip([s.name for s in sides], verdicts, strict=True))


def _insert_outbox_row(side: Side, event_id: str, kind: str, subject_id: str, text: str) -> bool:
    db = side.register.db
    try:
        with db.transaction() as cur:
            cur.execute(
                db.sql(
                    "INSERT INTO dsr_outbox (event_id, kind, subject_id, payload, created_at) "
                    f"VALUES (?, ?, ?, CAST(? AS {db.dialect.json}), ?)"
                ),
                (event_id, kind, subject_id, text, db.time_param(T0)),
            )
    except Exception:  # the register's database refused the row (NUL, a surrogate)
        return False
    return True


def _acknowledged(side: Side) -> bool:
    db = side.register.db
    with db.transaction() as cur:
        row = cur.execute("SELECT acknowledged_at IS NOT NULL FROM dsr_outbox").fetchone()
    return bool(row[0])


def _clear_outbox(side: Side) -> None:
    with side.register.db.transaction() as cur:
        cur.execute("DELETE FROM dsr_outbox")
