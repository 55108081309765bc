"""Bearer auth and HubSpot's rate limits (ten-secondly rolling, daily, search secondly)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hubspot.crm.contacts import PublicObjectSearchRequest
from hubspot.crm.contacts.exceptions import ApiException, UnauthorizedException

from connectors.hubspot.sandbox.config import SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from tests.integration.sandbox.helpers import FakeClock, make_client

LIMIT = 20


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limited(clock: FakeClock) -> Iterator[RunningSandbox]:
    config = SandboxConfig(
        port=0,
        access_token="right-token",
        rate_limit_per_10s=LIMIT,
        daily_limit=1000,
        search_limit_per_s=4,
    )
    with running_sandbox(config, clock=clock) as running:
        yield running


def test_missing_or_wrong_token_is_401_with_hubspot_body(limited: RunningSandbox) -> None:
    no_token = requests.get(f"{limited.base_url}/crm/v3/objects/contacts", timeout=5)
    assert no_token.status_code == 401
    assert no_token.json()["category"] == "INVALID_AUTHENTICATION"
    assert "Authentication credentials not found" in no_token.json()["message"]
    with pytest.raises(UnauthorizedException) as err:
        make_client(limited, token="wrong-token").crm.contacts.basic_api.get_page()
    assert json.loads(err.value.body)["category"] == "INVALID_AUTHENTICATION"
    page = make_client(limited, token="right-token").crm.contacts.basic_api.get_page()
    assert page.results == []


def test_any_non_empty_token_is_accepted_without_access_token() -> None:
    with running_sandbox(SandboxConfig(port=0)) as running:
        assert make_client(running, token="anything").crm.contacts.basic_api.get_page()
        empty = requests.get(
            f"{running.base_url}/crm/v3/objects/contacts",
            headers={"Authorization": "Bearer "},
            timeout=5,
        )
        assert empty.status_code == 401


def test_burst_over_the_limit_gets_429_with_body_and_headers(limited: RunningSandbox) -> None:
    api = make_client(limited, token="right-token").crm.contacts.basic_api
    for expected_remaining in range(LIMIT - 1, -1, -1):
        _, status, headers = api.get_page_with_http_info()
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Max"] == str(LIMIT)
        assert headers["X-HubSpot-RateLimit-Remaining"] == str(expected_remaining)
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    with pytest.raises(ApiException) as err:
        api.get_page()
    assert err.value.status == 429
    body = json.loads(err.value.body)
    assert body["status"] == "error"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["correlationId"]
    assert err.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert err.value.headers["X-HubSpot-RateLimit-Max"] == str(LIMIT)
    assert err.value.headers["X-HubSpot-RateLimit-Daily"] == "1000"
    assert "Retry-After" not in err.value.headers


def test_the_window_rolls(limited: RunningSandbox, clock: FakeClock) -> None:
    api = make_client(limited, token="right-token").crm.contacts.basic_api
    for _ in range(LIMIT // 2):
        api.get_page()
    clock.advance(6)
    for _ in range(LIMIT // 2):
        api.get_page()
    with pytest.raises(ApiException):
        api.get_page()
    clock.advance(4.5)  # the first half left the window; the second half is still in it
    for _ in range(LIMIT // 2):
        api.get_page()
    with pytest.raises(ApiException):
        api.get_page()


def test_client_that_respects_the_headers_is_never_limited(
    limited: RunningSandbox, clock: FakeClock
) -> None:
    api = make_client(limited, token="right-token").crm.contacts.basic_api
    refused = 0
    for _ in range(5 * LIMIT):
        try:
            _, _, headers = api.get_page_with_http_info()
        except ApiException as exc:
            refused += exc.status == 429
            continue
        if headers["X-HubSpot-RateLimit-Remaining"] == "0":
            clock.advance(int(headers["X-HubSpot-RateLimit-Interval-Milliseconds"]) / 1000)
    assert refused == 0
    state = requests.get(f"{limited.base_url}/_sandbox/state", timeout=5).json()
    assert state["counters"]["rate_limited"] == 0
    assert state["counters"]["requests"] == 5 * LIMIT


def test_daily_limit_gives_429_with_daily_policy() -> None:
    clock = FakeClock()
    config = SandboxConfig(port=0, rate_limit_per_10s=1000, daily_limit=3)
    with running_sandbox(config, clock=clock) as running:
        api = make_client(running).crm.contacts.basic_api
        for _ in range(3):
            _, _, headers = api.get_page_with_http_info()
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        with pytest.raises(ApiException) as err:
            api.get_page()
        body = json.loads(err.value.body)
        assert err.value.status == 429
        assert body["policyName"] == "DAILY"
        assert body["errorType"] == "RATE_LIMIT"
        clock.advance(86_400)
        assert api.get_page().results == []


def test_search_has_its_own_secondly_limit(limited: RunningSandbox, clock: FakeClock) -> None:
    client = make_client(limited, token="right-token")
    request = PublicObjectSearchRequest(filter_groups=[])
    for _ in range(4):
        client.crm.contacts.search_api.do_search(request)
    with pytest.raises(ApiException) as err:
        client.crm.contacts.search_api.do_search(request)
    body = json.loads(err.value.body)
    assert err.value.status == 429
    assert body["message"] == "You have reached your secondly limit."
    assert body["errorType"] == "RATE_LIMIT"
    # Search does not use the ten-secondly budget: plain calls still pass.
    _, _, headers = client.crm.contacts.basic_api.get_page_with_http_info()
    assert headers["X-HubSpot-RateLimit-Remaining"] == str(LIMIT - 1)
    clock.advance(1.01)
    assert client.crm.contacts.search_api.do_search(request).total == 0


def test_retry_after_is_sent_only_when_configured() -> None:
    clock = FakeClock()
    config = SandboxConfig(port=0, rate_limit_per_10s=1, retry_after_header=True)
    with running_sandbox(config, clock=clock) as running:
        url = f"{running.base_url}/crm/v3/objects/contacts/search"
        auth = {"Authorization": "Bearer t"}
        assert requests.get(f"{running.base_url}/crm/v3/objects/contacts", headers=auth, timeout=5)
        refused = requests.get(
            f"{running.base_url}/crm/v3/objects/contacts", headers=auth, timeout=5
        )
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "10"
        assert requests.post(url, json={}, headers=auth, timeout=5).status_code == 200
