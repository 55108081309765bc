"""The HubSpot link (``sync.rules.link``): which refusals put it down, when to probe, readiness.

The tables pin the rule a reader checks against HubSpot's documentation: a
401, or a 403 ``MISSING_SCOPES`` on a call, is the whole link; any other
403, and anything inside a batch answer, is the event's own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sync.rules.link import (
    FIRST_PROBE,
    LINK_UP,
    MAX_PROBE,
    MISSING_SCOPES,
    REASONS,
    UNAUTHORIZED,
    LinkState,
    link_down_reason,
    probe_every,
    readiness,
)

SINCE = datetime(2026, 12, 1, 9, tzinfo=UTC)
TOKEN_DOWN = LinkState(UNAUTHORIZED, SINCE, 401)
SCOPE_DOWN = LinkState(MISSING_SCOPES, SINCE, 403, ("crm.objects.contacts.write",))


@pytest.mark.parametrize(
    ("status", "category", "batch_item", "reason"),
    [
        (401, "INVALID_AUTHENTICATION", False, UNAUTHORIZED),  # a rotated or revoked token
        (401, "EXPIRED_AUTHENTICATION", False, UNAUTHORIZED),
        (401, None, False, UNAUTHORIZED),  # a proxy's bare 401 refuses the same token
        (403, "MISSING_SCOPES", False, MISSING_SCOPES),  # a scope removed from the app
        (403, None, False, None),  # a record or input this token may not touch
        (403, "USER_DOES_NOT_HAVE_PERMISSIONS", False, None),
        (403, "MISSING_SCOPES", True, None),  # inside a batch answer: that input only
        (401, "INVALID_AUTHENTICATION", True, None),
        (400, "VALIDATION_ERROR", False, None),
        (404, "OBJECT_NOT_FOUND", False, None),
        (429, "RATE_LIMITS", False, None),
        (503, None, False, None),
    ],
)
def test_which_refusals_put_the_link_down(
    status: int, category: str | None, batch_item: bool, reason: str | None
) -> None:
    assert link_down_reason(status, category, batch_item=batch_item) == reason


@pytest.mark.parametrize(
    ("down_for", "every"),
    [
        (timedelta(0), FIRST_PROBE),  # the first probe 5 s after going down
        (timedelta(seconds=8), FIRST_PROBE),
        (timedelta(seconds=20), timedelta(seconds=10)),  # half the time down: backing off
        (timedelta(seconds=80), timedelta(seconds=40)),
        (timedelta(minutes=10), MAX_PROBE),  # capped: 12 probes an hour
        (timedelta(days=2), MAX_PROBE),
    ],
)
def test_probes_back_off_with_the_time_down(down_for: timedelta, every: timedelta) -> None:
    assert probe_every(down_for) == every


@pytest.mark.parametrize(
    ("ok", "reason", "state", "expected_ok", "starts_with"),
    [
        (True, "hosted in eu1", None, True, "hosted in eu1"),  # up: the reason unchanged
        (False, "register: x", None, False, "register: x"),
        (True, "hosted in eu1", TOKEN_DOWN, False, "HubSpot link down since"),
        (False, "register: x", SCOPE_DOWN, False, "HubSpot link down since"),
    ],
)
def test_readiness_fails_while_the_link_is_down_and_says_why(
    ok: bool, reason: str, state: LinkState | None, expected_ok: bool, starts_with: str
) -> None:
    ready, why = readiness(ok, reason, state)
    assert ready is expected_ok
    assert why.startswith(starts_with)
    if state is not None and not ok:
        assert why.endswith(f"; {reason}")  # both reasons, the link's first


def test_the_reasons_name_the_cause_the_fix_and_that_nothing_is_dead_lettered() -> None:
    token = TOKEN_DOWN.describe()
    assert "(401)" in token
    assert "[hubspot] access_token" in token
    assert "none is dead-lettered" in token
    scopes = SCOPE_DOWN.describe()
    assert "(403)" in scopes
    assert "crm.objects.contacts.write" in scopes
    assert "2026-12-01T09:00:00+00:00" in scopes


def test_the_json_form_has_the_same_keys_up_and_down() -> None:
    down = SCOPE_DOWN.as_dict()
    assert set(down) == set(LINK_UP)
    assert down == {
        "down": True,
        "reason": MISSING_SCOPES,
        "since": "2026-12-01T09:00:00+00:00",
        "http_status": 403,
        "scopes": ["crm.objects.contacts.write"],
        "detail": SCOPE_DOWN.describe(),
    }
    assert LINK_UP["down"] is False
    assert set(REASONS) == {UNAUTHORIZED, MISSING_SCOPES}
