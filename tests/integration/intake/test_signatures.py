"""HubSpot v3 signatures: the reference test vector, hubspot-api-client's verdict, refusals."""

from __future__ import annotations

import time

import pytest
from hubspot.utils.signature import Signature

from connectors.hubspot.signatures import (
    Refusal,
    V3Verifier,
    canonical_uri,
    sign_v3,
    webhook_uri,
)

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
BODY = (
    '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
URI = "https://www.example.com/webhook_uri"
TS = "1564113600000"
VECTOR = "DxmVAjFNa2xfF3YgQjdZP6TNcok9k1oaH7UXombPtvw="
NOW_S = 1564113600.0
V1_HEX = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
V2_HEX = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"


def headers(signature: str | None = VECTOR, timestamp: str | None = TS) -> dict[str, str]:
    out = {"content-type": "application/json"}
    if signature is not None:
        out["x-hubspot-signature-v3"] = signature
    if timestamp is not None:
        out["x-hubspot-request-timestamp"] = timestamp
    return out


VERIFY = V3Verifier(SECRET.encode(), URI)


def test_sign_v3_reproduces_the_reference_test_vector() -> None:
    assert sign_v3(SECRET.encode(), "POST", URI, BODY.encode(), TS) == VECTOR


def test_a_signature_accepted_here_is_accepted_by_hubspot_api_client() -> None:
    now_ms = str(int(time.time() * 1000))
    signature = sign_v3(SECRET.encode(), "POST", URI, BODY.encode(), now_ms)

    assert VERIFY("POST", headers(signature, now_ms), BODY.encode(), time.time()) is None
    assert Signature.is_valid(
        signature=signature,
        client_secret=SECRET,
        request_body=BODY,
        http_uri=URI,
        http_method="POST",
        signature_version="v3",
        timestamp=int(now_ms),
    )
    assert signature == Signature.get_signature(
        SECRET, BODY, "v3", http_uri=URI, http_method="POST", timestamp=now_ms
    )


def test_a_valid_v3_request_is_accepted() -> None:
    assert VERIFY("POST", headers(), BODY.encode(), NOW_S) is None


def test_a_body_with_non_ascii_escapes_is_hashed_as_received() -> None:
    raw = b'[{"propertyValue":"\\u00e4"}]'
    signature = sign_v3(SECRET.encode(), "POST", URI, raw, TS)
    assert VERIFY("POST", headers(signature), raw, NOW_S) is None
    assert VERIFY("POST", headers(signature), '[{"propertyValue":"ä"}]'.encode(), NOW_S) == (
        Refusal.MISMATCH
    )


@pytest.mark.parametrize(
    ("verifier", "method", "body", "sent", "now", "refusal"),
    [
        pytest.param(V3Verifier(b"wrong", URI), "POST", BODY, headers(), NOW_S,
                     Refusal.MISMATCH, id="wrong secret"),
        pytest.param(VERIFY, "POST", BODY.replace("123", "124"), headers(), NOW_S,
                     Refusal.MISMATCH, id="altered body"),
        pytest.param(V3Verifier(SECRET.encode(), URI + "2"), "POST", BODY, headers(), NOW_S,
                     Refusal.MISMATCH, id="altered URL"),
        pytest.param(VERIFY, "PUT", BODY, headers(), NOW_S, Refusal.MISMATCH, id="other method"),
        pytest.param(VERIFY, "POST", BODY, headers(), NOW_S + 301, Refusal.STALE, id="stale"),
        pytest.param(VERIFY, "POST", BODY, headers(), NOW_S - 301, Refusal.FUTURE, id="future"),
        pytest.param(VERIFY, "POST", BODY, headers(signature=None), NOW_S,
                     Refusal.MISSING_SIGNATURE, id="no signature"),
        pytest.param(VERIFY, "POST", BODY, headers(timestamp=None), NOW_S,
                     Refusal.MISSING_TIMESTAMP, id="no timestamp"),
        pytest.param(VERIFY, "POST", BODY, headers(timestamp="15641136e5"), NOW_S,
                     Refusal.BAD_TIMESTAMP, id="timestamp not digits"),
        pytest.param(VERIFY, "POST", BODY,
                     {"x-hubspot-signature": V1_HEX,
                      "x-hubspot-signature-version": "v1"},
                     NOW_S, Refusal.V1_V2_ONLY, id="v1 only"),
        pytest.param(VERIFY, "POST", BODY,
                     {"x-hubspot-signature": V2_HEX,
                      "x-hubspot-signature-version": "v2",
                      "x-hubspot-request-timestamp": TS},
                     NOW_S, Refusal.V1_V2_ONLY, id="v2 only"),
        pytest.param(VERIFY, "POST", BODY, headers(signature="ä" * 44), NOW_S,
                     Refusal.MISMATCH, id="non-ascii signature"),
    ],
)  # fmt: skip
def test_refused_requests(
    verifier: V3Verifier, method: str, body: str, sent: dict[str, str], now: float, refusal: str
) -> None:
    assert verifier(method, sent, body.encode(), now) == refusal


def test_the_window_is_five_minutes_either_way_inclusive() -> None:
    assert VERIFY("POST", headers(), BODY.encode(), NOW_S + 300) is None
    assert VERIFY("POST", headers(), BODY.encode(), NOW_S - 300) is None


def test_the_uri_decodes_the_twelve_escapes_of_the_reference_and_keeps_others() -> None:
    assert canonical_uri("https://h.example/a%3Ab%2fc%3F%40%21%24%27%28%29%2A%2C%3B") == (
        "https://h.example/a:b/c?@!$'()*,;"
    )
    assert canonical_uri("https://h.example/a%20b%7E") == "https://h.example/a%20b%7E"
    encoded = V3Verifier(SECRET.encode(), "https://www.example.com%2Fwebhook_uri")
    assert encoded("POST", headers(), BODY.encode(), NOW_S) is None


def test_the_webhook_uri_is_the_public_url_and_the_endpoint_path() -> None:
    assert webhook_uri("https://hooks.example.com/") == "https://hooks.example.com/webhooks/hubspot"


def test_the_secret_is_not_in_the_verifier_repr() -> None:
    assert SECRET not in repr(VERIFY)
