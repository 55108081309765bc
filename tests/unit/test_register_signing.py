"""``sync.signing``: the X-Hubsync-Signature scheme the intake and HttpRegister share."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sync import signing
from sync.signing import SignatureProblem, parse

SECRET = "shared-secret"
BODY = b'{"events":[{"event_id":"reg-1"}]}'
NOW = 1_796_000_000


def test_a_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    header = signing.sign(SECRET, BODY, NOW)

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert signing.verify(SECRET, BODY, header, NOW) is None


def test_one_matching_digest_among_several_is_enough_for_a_rotated_secret() -> None:
    good = signing.digest(SECRET, NOW, BODY)
    old = signing.digest("old-secret", NOW, BODY)

    assert signing.verify(SECRET, BODY, f"t={NOW},v1={old},v1={good}", NOW) is None
    assert signing.verify(SECRET, BODY, f"t={NOW}, v1={good.upper()}", NOW) is None


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (None, SignatureProblem.MISSING),
        ("", SignatureProblem.MISSING),
        ("garbage", SignatureProblem.MALFORMED),
        (f"v1={'0' * 64}", SignatureProblem.MALFORMED),
        (f"t={NOW}", SignatureProblem.MALFORMED),
        (f"t=\uff11\uff12,v1={'0' * 64}", SignatureProblem.MALFORMED),
        (f"t={NOW},t={NOW},v1=00", SignatureProblem.MALFORMED),
        (f"t={NOW},v1={'0' * 64}", SignatureProblem.MISMATCH),
        (f"t={NOW},v1=é", SignatureProblem.MISMATCH),
    ],
)
def test_malformed_missing_or_wrong_headers_are_refused(
    header: str | None, problem: SignatureProblem
) -> None:
    assert signing.verify(SECRET, BODY, header, NOW) is problem


def test_an_altered_body_or_another_secret_does_not_verify() -> None:
    header = signing.sign(SECRET, BODY, NOW)

    assert signing.verify(SECRET, BODY + b" ", header, NOW) is SignatureProblem.MISMATCH
    assert signing.verify("other", BODY, header, NOW) is SignatureProblem.MISMATCH


def test_timestamps_outside_five_minutes_either_way_are_refused() -> None:
    assert signing.verify(SECRET, BODY, signing.sign(SECRET, BODY, NOW - 300), NOW) is None
    assert signing.verify(SECRET, BODY, signing.sign(SECRET, BODY, NOW + 300), NOW) is None
    stale = signing.sign(SECRET, BODY, NOW - 301)
    future = signing.sign(SECRET, BODY, NOW + 301)
    assert signing.verify(SECRET, BODY, stale, NOW) is SignatureProblem.STALE
    assert signing.verify(SECRET, BODY, future, NOW) is SignatureProblem.FUTURE


def test_bytes_and_text_secrets_sign_alike() -> None:
    assert signing.sign(SECRET.encode(), BODY, NOW) == signing.sign(SECRET, BODY, NOW)


def test_a_timestamp_of_thousands_of_digits_is_malformed_not_an_error() -> None:
    assert parse("t=" + "9" * 5000 + ",v1=ab") is None
    assert parse("t=1700000000,v1=AB") == (1700000000, ["ab"])
