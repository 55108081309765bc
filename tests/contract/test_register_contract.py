"""One contract for every register: FakeRegister, SqlRegister on SQLite and on
PostgreSQL, and HttpRegister against the reference register served over HTTP.

Each test states one behaviour of ``sync.ports.Register``. The PostgreSQL
case uses the shared ``postgres_schema`` fixture (skipped locally without a
server, a failure in CI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.register.effects import ErasureMode
from connectors.register.fake import FakeRegister
from connectors.register.http import HttpRegister
from connectors.register.sql import SqlRegister
from sync.clock import FixedClock
from sync.errors import MappingError, PermanentError, SubjectAbsent
from sync.model import (
    Direction,
    EventKind,
    HubSpotContactId,
    NoticeKind,
    Origin,
    RegisterNotice,
    RegisterReadiness,
    SubjectId,
)
from sync.ports import Register
from tests.conftest import T0
from tests.integration.register.events import register_side, stored
from tests.integration.register.reference import serving

SECRET = "contract-register-secret"
ANNA = {"email": "anna@example.se", "first_name": "Anna", "last_name": "Berg", "phone": "+46701"}
PERSONAL = ("email", "first_name", "last_name", "phone", "company")


@dataclass
class Harness:
    """A register under test, with the register-side hooks its backend offers."""

    port: Register
    add_customer: Callable[..., None]
    notices: Callable[[], list[RegisterNotice]]
    record_change: Callable[..., str] | None  # None: the register pushes (HTTP)
    write_outbox: Callable[..., str] | None = None  # only the outbox row (a faulty writer)


Factory = Callable[..., Harness]


@pytest.fixture(params=["fake", "sqlite", "postgres", "http"])
def build(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """Builds a fresh register of the parametrised kind; closes what it built."""
    clock = FixedClock(T0)
    built: list[str] = []
    with ExitStack() as stack:

        def factory(on_hubspot_erasure: ErasureMode = "apply") -> Harness:
            if request.param in ("fake", "http"):
                fake = FakeRegister(on_hubspot_erasure=on_hubspot_erasure, now=clock.now)
                if request.param == "fake":
                    return Harness(
                        fake,
                        fake.add_customer,
                        fake.list_notices,
                        fake.record_change,
                        fake.write_outbox,
                    )
                server = stack.enter_context(serving(SECRET, fake))
                http = HttpRegister(url=server.url, secret=SECRET, timeout_s=5)
                stack.callback(http.close)
                return Harness(http, fake.add_customer, fake.list_notices, None)
            if request.param == "sqlite":
                built.append(request.param)
                sql = SqlRegister(
                    f"sqlite:///{tmp_path / f'register-{len(built)}.db'}",
                    on_hubspot_erasure=on_hubspot_erasure,
                    now=clock.now,
                )
            else:
                url, schema = request.getfixturevalue("postgres_schema")
                sql = SqlRegister(
                    url, schema=schema, on_hubspot_erasure=on_hubspot_erasure, now=clock.now
                )
            stack.callback(sql.close)
            sql.create_schema()
            return Harness(
                sql, sql.add_customer, sql.list_notices, sql.record_change, sql.write_outbox
            )

        yield factory


@pytest.fixture
def register(build: Factory) -> Harness:
    """A register that applies erasures from HubSpot, with Anna (C-1) in it."""
    harness = build("apply")
    harness.add_customer("C-1", **ANNA)
    return harness


def record_of(harness: Harness, subject_id: str = "C-1") -> dict[str, Any]:
    found = harness.port.record(subject_id)
    assert found is not None
    return found


# -- apply, kind by kind ------------------------------------------------------


def test_erasure_blanks_every_personal_field_and_marks_the_subject_erased(
    register: Harness,
) -> None:
    outcomes = register.port.apply([stored(1, EventKind.ERASURE, "C-1")])

    assert outcomes == {1: None}
    record = record_of(register)
    assert all(record[name] is None for name in PERSONAL)
    assert record["erased_at"] == "2026-11-27T10:00:00Z"
    assert record["id"] == "C-1"


def test_erasure_from_hubspot_only_records_a_notice_when_the_register_is_told_to_notify(
    build: Factory,
) -> None:
    harness = build("notify")
    harness.add_customer("C-1", **ANNA)

    assert harness.port.apply([stored(1, EventKind.ERASURE, "C-1", event_id="hs-del-1")]) == {
        1: None
    }
    assert harness.port.apply([stored(2, EventKind.ERASURE, "C-1", event_id="hs-del-1")]) == {
        2: None
    }

    record = record_of(harness)
    assert record["email"] == ANNA["email"]
    assert record["erased_at"] is None
    notices = harness.notices()
    assert [(n.kind, n.subject_ids) for n in notices] == [(NoticeKind.ERASURE_REQUESTED, ("C-1",))]


def test_rectification_sets_only_the_named_fields(register: Harness) -> None:
    changes = {"first_name": "Annie", "phone": None}
    outcomes = register.port.apply([stored(1, EventKind.RECTIFICATION, "C-1", changes=changes)])

    assert outcomes == {1: None}
    record = record_of(register)
    assert (record["first_name"], record["phone"]) == ("Annie", None)
    assert (record["email"], record["last_name"]) == (ANNA["email"], ANNA["last_name"])


def test_rectification_of_a_field_the_register_lacks_is_permanent_and_changes_nothing(
    register: Harness,
) -> None:
    changes = {"first_name": "Annie", "shoe_size": "38"}
    outcomes = register.port.apply([stored(1, EventKind.RECTIFICATION, "C-1", changes=changes)])

    error = outcomes[1]
    assert isinstance(error, PermanentError)
    assert error.code == "unknown_field"
    assert "shoe_size" in str(error)
    assert "38" not in str(error)
    if isinstance(register.port, FakeRegister | SqlRegister):
        assert isinstance(error, MappingError)
    assert record_of(register)["first_name"] == "Anna"


def test_opt_out_and_opt_in_set_the_marketing_flag(register: Harness) -> None:
    assert register.port.apply([stored(1, EventKind.MARKETING_OPT_OUT, "C-1")]) == {1: None}
    assert record_of(register)["marketing_opt_out"] is True

    opt_in = stored(2, EventKind.MARKETING_OPT_IN, "C-1", legal_basis="consent")
    assert register.port.apply([opt_in]) == {2: None}
    assert record_of(register)["marketing_opt_out"] is False


def test_opt_in_without_a_legal_basis_is_refused(register: Harness) -> None:
    register.port.apply([stored(1, EventKind.MARKETING_OPT_OUT, "C-1")])
    outcomes = register.port.apply([stored(2, EventKind.MARKETING_OPT_IN, "C-1")])

    error = outcomes[2]
    assert isinstance(error, PermanentError)
    assert error.code == "missing_legal_basis"
    assert record_of(register)["marketing_opt_out"] is True


def test_restriction_and_its_lifting_set_the_restricted_flag(register: Harness) -> None:
    assert register.port.apply([stored(1, EventKind.RESTRICTION, "C-1")]) == {1: None}
    assert record_of(register)["restricted"] is True

    assert register.port.apply([stored(2, EventKind.RESTRICTION_LIFTED, "C-1")]) == {2: None}
    assert record_of(register)["restricted"] is False


def test_access_is_not_something_applied_to_the_register(register: Harness) -> None:
    error = register.port.apply([stored(1, EventKind.ACCESS, "C-1")])[1]

    assert isinstance(error, PermanentError)
    assert error.code == "kind_not_applicable"


def test_an_event_bound_for_hubspot_is_refused(register: Harness) -> None:
    event = stored(1, EventKind.MARKETING_OPT_OUT, "C-1", direction=Direction.TO_HUBSPOT)

    error = register.port.apply([event])[1]

    assert isinstance(error, PermanentError)
    assert error.code == "not_register_bound"
    assert record_of(register)["marketing_opt_out"] is False


def test_a_scrubbed_erasure_still_applies_but_a_scrubbed_rectification_cannot(
    register: Harness,
) -> None:
    rectification = stored(1, EventKind.RECTIFICATION, "C-1", changes={"x": 1}, scrubbed=True)
    erasure = stored(2, EventKind.ERASURE, "C-1", scrubbed=True)

    outcomes = register.port.apply([rectification, erasure])

    assert isinstance(outcomes[1], PermanentError)
    assert outcomes[1].code == "payload_scrubbed"
    assert outcomes[2] is None
    assert record_of(register)["erased_at"] is not None


# -- idempotency, absence, erased subjects --------------------------------------


def test_applying_the_same_events_twice_leaves_the_same_record(register: Harness) -> None:
    events = [
        stored(1, EventKind.RECTIFICATION, "C-1", changes={"company": "Berg AB"}),
        stored(2, EventKind.MARKETING_OPT_OUT, "C-1"),
        stored(3, EventKind.RESTRICTION, "C-1"),
    ]
    assert register.port.apply(events) == {1: None, 2: None, 3: None}
    once = record_of(register)

    assert register.port.apply(events) == {1: None, 2: None, 3: None}
    assert record_of(register) == once

    erasure = [stored(4, EventKind.ERASURE, "C-1")]
    assert register.port.apply(erasure) == {4: None}
    erased = record_of(register)
    assert register.port.apply(erasure) == {4: None}
    assert record_of(register) == erased


def test_an_unknown_subject_is_absent_for_its_own_events_only(register: Harness) -> None:
    events = [
        stored(1, EventKind.MARKETING_OPT_OUT, "C-404"),
        stored(2, EventKind.MARKETING_OPT_OUT, "C-1"),
        stored(3, EventKind.ERASURE, "C-405"),
    ]

    outcomes = register.port.apply(events)

    assert isinstance(outcomes[1], SubjectAbsent)
    assert outcomes[2] is None
    assert isinstance(outcomes[3], SubjectAbsent)
    assert "C-404" in str(outcomes[1])
    assert register.port.record("C-404") is None


def test_nothing_brings_personal_data_back_into_an_erased_record(register: Harness) -> None:
    register.port.apply([stored(1, EventKind.ERASURE, "C-1")])

    outcomes = register.port.apply(
        [
            stored(2, EventKind.RECTIFICATION, "C-1", changes={"first_name": "Anna"}),
            stored(3, EventKind.MARKETING_OPT_OUT, "C-1"),
            stored(4, EventKind.ERASURE, "C-1", event_id="hs-again"),
        ]
    )

    assert isinstance(outcomes[2], SubjectAbsent)
    assert outcomes[2].code == "subject_erased"
    assert isinstance(outcomes[3], SubjectAbsent)
    assert outcomes[4] is None
    assert record_of(register)["first_name"] is None


def test_errors_name_ids_and_fields_but_never_values(register: Harness) -> None:
    events = [
        stored(1, EventKind.RECTIFICATION, "C-1", changes={"nickname": "Annie-Secret"}),
        stored(2, EventKind.RECTIFICATION, "C-404", email="ghost@example.se",
               changes={"email": "ghost@example.se"}),
        stored(3, EventKind.MARKETING_OPT_IN, "C-1", email="anna@example.se"),
    ]  # fmt: skip

    outcomes = register.port.apply(events)

    texts = " ".join(str(error) for error in outcomes.values())
    assert all(error is not None for error in outcomes.values())
    for value in ("Annie-Secret", "ghost@example.se", "anna@example.se", "@"):
        assert value not in texts


# -- notices and records ------------------------------------------------------


def test_each_notice_is_recorded_once(register: Harness) -> None:
    archived = RegisterNotice(
        notice_id="archived-1",
        kind=NoticeKind.CONTACT_ARCHIVED,
        occurred_at=T0,
        subject_ids=(SubjectId("C-1"),),
        contact_ids=(HubSpotContactId("501"),),
    )
    conflict = RegisterNotice(
        notice_id="merge-7",
        kind=NoticeKind.MERGE_CONFLICT,
        occurred_at=T0,
        subject_ids=(SubjectId("C-1"), SubjectId("C-2")),
        contact_ids=(HubSpotContactId("501"),),
    )

    for notice in (archived, conflict, archived):
        register.port.notify(notice)

    assert sorted(register.notices(), key=lambda n: n.notice_id) == [archived, conflict]


def test_the_record_is_the_registers_fields_and_none_for_an_unknown_subject(
    register: Harness,
) -> None:
    record = record_of(register)

    assert {k: record[k] for k in ANNA} == ANNA
    assert (record["company"], record["marketing_opt_out"], record["restricted"]) == (
        None,
        False,
        False,
    )
    assert record["updated_at"] == "2026-11-27T10:00:00Z"
    assert register.port.record("C-404") is None
    assert register.port.record("C 1/../2?x") is None


# -- the outbox ---------------------------------------------------------------


def test_the_outbox_is_polled_in_order_and_acknowledged_entries_do_not_come_back(
    register: Harness,
) -> None:
    if register.record_change is None:
        assert register.port.poll_outbox(10) == []
        register.port.acknowledge(["1"])
        return
    ids = [
        register.record_change(
            register_side("reg-1", EventKind.RECTIFICATION, "C-1", changes={"company": "Berg AB"})
        ),
        register.record_change(register_side("reg-2", EventKind.MARKETING_OPT_OUT, "C-1")),
        register.record_change(
            register_side("reg-3", EventKind.ERASURE, "C-2", email="olle@example.se")
        ),
    ]

    polled = register.port.poll_outbox(2)
    assert [(outbox_id, env.event_id) for outbox_id, env in polled] == [
        (ids[0], "reg-1"),
        (ids[1], "reg-2"),
    ]
    assert polled[0][1].changes == {"company": "Berg AB"}
    assert polled[0][1].occurred_at == T0

    register.port.acknowledge([ids[0], ids[0], "999", "not-an-id"])
    assert [env.event_id for _, env in register.port.poll_outbox(10)] == ["reg-2", "reg-3"]
    assert register.port.poll_outbox(10)[1][1].email == "olle@example.se"

    register.port.acknowledge([ids[1], ids[2]])
    assert register.port.poll_outbox(10) == []


def test_outbox_rows_that_are_not_valid_events_are_read_past_and_listed_until_acknowledged(
    register: Harness,
) -> None:
    if register.write_outbox is None:
        assert register.port.outbox_problems(10) == []  # invalid pushes are refused with a 422
        return
    bad_subject = register.write_outbox(register_side("bad-1", EventKind.MARKETING_OPT_OUT, "C-1 "))
    no_changes = register.write_outbox(register_side("bad-2", EventKind.RECTIFICATION, "C-1"))
    good = register.write_outbox(register_side("good-1", EventKind.MARKETING_OPT_OUT, "C-1"))

    assert [(i, e.event_id) for i, e in register.port.poll_outbox(10)] == [(good, "good-1")]
    found = register.port.outbox_problems(10)
    assert [(p.outbox_id, p.written_at) for p in found] == [(bad_subject, T0), (no_changes, T0)]
    assert found[0].problems == ("subject_id: must not start or end with a space",)
    assert found[1].problems
    assert all(p.startswith("changes:") for p in found[1].problems)
    assert [p.outbox_id for p in register.port.outbox_problems(1)] == [bad_subject]

    register.port.acknowledge([bad_subject])
    assert [p.outbox_id for p in register.port.outbox_problems(10)] == [no_changes]
    assert [e.event_id for _, e in register.port.poll_outbox(10)] == ["good-1"]


# An HTTP register changes its own records and pushes to /v1/events: no outbox to test.
@pytest.mark.parametrize("build", ["fake", "sqlite", "postgres"], indirect=True)
def test_a_change_recorded_in_the_register_changes_the_customer_with_its_outbox_entry(
    register: Harness,
) -> None:
    assert register.record_change is not None
    register.record_change(register_side("reg-1", EventKind.MARKETING_OPT_OUT, "C-1"))

    assert record_of(register)["marketing_opt_out"] is True
    assert [env.kind for _, env in register.port.poll_outbox(10)] == [EventKind.MARKETING_OPT_OUT]


def test_origin_does_not_change_what_a_register_bound_rectification_does(
    register: Harness,
) -> None:
    event = stored(
        1, EventKind.RECTIFICATION, "C-1", origin=Origin.OPERATOR, changes={"last_name": "Ek"}
    )

    assert register.port.apply([event]) == {1: None}
    assert record_of(register)["last_name"] == "Ek"


def test_subjects_are_found_by_email_whatever_its_case_and_never_once_erased(
    register: Harness,
) -> None:
    register.add_customer("C-2", email="bo@example.se", first_name="Bo")
    register.add_customer("C-3", email="ANNA@example.se", first_name="Anna")

    assert register.port.subjects_for_email("Anna@Example.SE") == ["C-1", "C-3"]
    assert register.port.subjects_for_email("nobody@example.se") == []

    assert register.port.apply([stored(1, EventKind.ERASURE, "C-3")]) == {1: None}
    assert register.port.subjects_for_email("anna@example.se") == ["C-1"]


def test_a_register_that_is_set_up_says_it_is_ready(register: Harness) -> None:
    assert register.port.readiness() == RegisterReadiness()
    assert register.port.readiness().as_dict() == {"ready": True, "problems": []}


# -- readiness of the HTTP register against the reference register served over HTTP


def test_an_http_register_with_the_wrong_secret_is_not_ready_and_names_the_setting() -> None:
    with serving(SECRET, FakeRegister()) as server:
        wrong = HttpRegister(url=server.url, secret="not-the-register-secret", timeout_s=5)
        try:
            readiness = wrong.readiness()
        finally:
            wrong.close()

    assert readiness.problems == (
        "the register refused hubsync's signature (401); check [register] secret",
    )
    assert server.requests == [("GET", "/v1/subjects/hubsync-readiness-probe")]


def test_an_http_register_that_stopped_answering_is_not_ready() -> None:
    with serving(SECRET, FakeRegister()) as server:
        url = server.url
        http = HttpRegister(url=url, secret=SECRET, timeout_s=2)
        assert http.readiness().ready is True
    try:
        readiness = http.readiness()
    finally:
        http.close()

    assert readiness.problems == (
        "the register does not answer at [register] url (register_unreachable)",
    )
    assert url not in readiness.problems[0]


def test_subjects_page_reads_every_subject_once_in_id_order_erased_ones_included(
    register: Harness,
) -> None:
    for n in range(2, 6):
        register.add_customer(f"C-{n}", email=f"p{n}@example.se", marketing_opt_out=n == 3)
    seen: list[str] = []
    after: str | None = None
    while True:
        page, after = register.port.subjects_page(after, 2)
        assert len(page) <= 2
        seen += [s.subject_id for s in page]
        if after is None:
            break
    assert seen == ["C-1", "C-2", "C-3", "C-4", "C-5"]
    first, _ = register.port.subjects_page(None, 10)
    assert [s.subject_id for s in first if s.opted_out] == ["C-3"]
    assert first[0].fields["first_name"] == "Anna"
    assert not first[0].erased
