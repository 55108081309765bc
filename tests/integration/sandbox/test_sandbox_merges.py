"""Old ids of merged contacts, per endpoint, and answers that carry only what was asked or written.

HubSpot documents that reads of an old id answer the merged record; what
its writes and GDPR delete do is unknown (hubspot-fidelity.md 2.4), so the
sandbox makes it a setting (``merged_ids_resolve_on``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.hubspot.sandbox.config import MERGED_ID_ENDPOINTS, SandboxConfig
from connectors.hubspot.sandbox.server import RunningSandbox, running_sandbox
from tests.integration.sandbox.helpers import TOKEN, action, sandbox_state

CONTACTS = "/crm/v3/objects/contacts"
ALWAYS = {"hs_object_id", "createdate", "lastmodifieddate"}

SETTINGS = {
    "default": SandboxConfig().merged_ids_resolve_on,
    "all_resolve": MERGED_ID_ENDPOINTS,
    "none_resolve": frozenset[str](),
}


@pytest.fixture(scope="module", params=list(SETTINGS))
def merge_sandbox(request: pytest.FixtureRequest) -> Iterator[RunningSandbox]:
    """A sandbox per setting of which endpoints resolve old merged ids."""
    config = SandboxConfig(
        port=0, rate_limit_per_10s=100_000, merged_ids_resolve_on=SETTINGS[request.param]
    )
    with running_sandbox(config) as running:
        yield running


@pytest.fixture
def sandbox(merge_sandbox: RunningSandbox) -> RunningSandbox:
    requests.post(f"{merge_sandbox.base_url}/_sandbox/reset", timeout=5).raise_for_status()
    return merge_sandbox


def _call(sb: RunningSandbox, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method,
        sb.base_url + CONTACTS + path,
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )


def _merged(sb: RunningSandbox) -> tuple[str, str]:
    """Two contacts merged: (the primary's old id, the merged record's id)."""
    old = _call(sb, "POST", "", {"properties": {"email": "anna@example.se", "firstname": "A"}})
    other = _call(sb, "POST", "", {"properties": {"email": "a.b@example.se", "lastname": "B"}})
    merged = action(sb, "merge", primary_id=old.json()["id"], secondary_id=other.json()["id"])
    return str(old.json()["id"]), str(merged["contact_id"])


def _resolves(sb: RunningSandbox, endpoint: str, old: str, merged: str) -> bool:
    """Whether ``endpoint`` answered the old id with the merged record (else: not found)."""
    if endpoint == "get":
        answer = _call(sb, "GET", f"/{old}")
        return answer.status_code == 200 and answer.json()["id"] == merged
    if endpoint == "batch_read":
        body = _call(sb, "POST", "/batch/read", {"inputs": [{"id": old}], "properties": []}).json()
        return [r["id"] for r in body["results"]] == [merged]
    if endpoint == "update":
        answer = _call(sb, "PATCH", f"/{old}", {"properties": {"phone": "1"}})
        return answer.status_code == 200 and answer.json()["id"] == merged
    if endpoint == "batch_update":
        inputs = [{"id": old, "properties": {"phone": "2"}}]
        body = _call(sb, "POST", "/batch/update", {"inputs": inputs}).json()
        if body.get("errors"):
            assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND"
            assert body["errors"][0]["context"] == {"ids": [old]}
        return [r["id"] for r in body["results"]] == [merged]
    answer = _call(sb, "POST", "/gdpr-delete", {"objectId": old})
    return answer.status_code == 204


@pytest.mark.parametrize("endpoint", sorted(MERGED_ID_ENDPOINTS))
def test_an_old_merged_id_resolves_only_where_configured(
    sandbox: RunningSandbox, endpoint: str
) -> None:
    old, merged = _merged(sandbox)
    expected = endpoint in sandbox.config.merged_ids_resolve_on
    assert _resolves(sandbox, endpoint, old, merged) is expected
    ids = [c["id"] for c in sandbox_state(sandbox)["contacts"]]
    # A GDPR delete that resolves removes the merged record; one that does not leaves it.
    assert (merged in ids) is not (endpoint == "gdpr_delete" and expected)


def test_the_merged_record_answers_its_own_id_everywhere(sandbox: RunningSandbox) -> None:
    _old, merged = _merged(sandbox)
    for endpoint in ("get", "batch_read", "update", "batch_update", "gdpr_delete"):  # delete last
        assert _resolves(sandbox, endpoint, merged, merged), endpoint


def test_update_answers_carry_only_the_properties_written(sandbox: RunningSandbox) -> None:
    _old, merged = _merged(sandbox)
    inputs = [{"id": merged, "properties": {"phone": "3"}}]
    (result,) = _call(sandbox, "POST", "/batch/update", {"inputs": inputs}).json()["results"]
    assert result["properties"] == {"phone": "3"}  # no hs_merged_object_ids, no email
    patched = _call(sandbox, "PATCH", f"/{merged}", {"properties": {"lastname": "C"}}).json()
    assert patched["properties"] == {"lastname": "C"}


def test_reads_carry_only_the_properties_asked_for_and_hubspots_own(
    sandbox: RunningSandbox,
) -> None:
    _old, merged = _merged(sandbox)
    got = _call(sandbox, "GET", f"/{merged}?properties=phone").json()
    assert set(got["properties"]) == {"phone"} | ALWAYS
    inputs = {"inputs": [{"id": merged}], "properties": ["hs_merged_object_ids"]}
    (read,) = _call(sandbox, "POST", "/batch/read", inputs).json()["results"]
    assert set(read["properties"]) == {"hs_merged_object_ids"} | ALWAYS


def test_an_unknown_endpoint_name_is_refused_at_start() -> None:
    config = SandboxConfig(port=0, merged_ids_resolve_on=frozenset({"get", "gdpr-delete"}))
    with pytest.raises(ValueError, match="gdpr-delete"), running_sandbox(config):
        pass
