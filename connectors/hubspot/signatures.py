"""HubSpot's v3 request signature, checked the strict way (hubspot-api.md section 3.5).

A webhook is genuine when ``X-HubSpot-Signature-v3`` equals
``base64(HMAC-SHA256(client_secret, method + uri + raw body + timestamp))``,
where ``uri`` is the public URL HubSpot was told to call (not the one the
request arrived at behind a proxy) and the timestamp, ``X-HubSpot-Request-
Timestamp`` in epoch milliseconds, lies within five minutes of now either
way. Unlike ``hubspot.utils.signature.Signature`` this refuses future
timestamps, hashes the raw bytes (never a re-serialised body) and never
accepts the older v1/v2 signatures on their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

SIGNATURE_V3 = "x-hubspot-signature-v3"
TIMESTAMP = "x-hubspot-request-timestamp"
SIGNATURE_V1_V2 = "x-hubspot-signature"
WINDOW_MS = 300_000
WEBHOOK_PATH = "/webhooks/hubspot"

URI_DECODINGS = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
"""The percent-escapes HubSpot decodes before hashing; every other one stays encoded."""

_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class Refusal:
    """Why a request's signature was refused: short stable codes for metrics and logs."""

    MISSING_SIGNATURE = "missing_signature"
    V1_V2_ONLY = "v1_v2_only"
    MISSING_TIMESTAMP = "missing_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE = "stale_timestamp"
    FUTURE = "future_timestamp"
    MISMATCH = "signature_mismatch"


def canonical_uri(uri: str) -> str:
    """The URI as HubSpot hashes it: the 12 escapes of section 3.5 decoded, others kept."""

    def decode(match: re.Match[str]) -> str:
        escape = match.group(0)
        return URI_DECODINGS.get(escape.upper(), escape)

    return _ESCAPE.sub(decode, uri)


def webhook_uri(public_url: str) -> str:
    """The webhook endpoint's public URL, from ``[server] public_url``."""
    return public_url.rstrip("/") + WEBHOOK_PATH


def sign_v3(client_secret: bytes, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    """The v3 signature of a request (what HubSpot sends; used by tests and benchmarks)."""
    message = f"{method.upper()}{canonical_uri(uri)}".encode() + body + timestamp_ms.encode()
    digest = hmac.new(client_secret, message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class V3Verifier:
    """Checks the v3 signature of requests to one endpoint, for one app's client secret.

    Call it with the method, the headers (lower-case names, as ASGI gives
    them, or a case-insensitive mapping), the raw body and the current time
    in Unix seconds; it answers ``None`` for a genuine request or a
    ``Refusal`` code. The secret never appears in its repr.
    """

    client_secret: bytes = field(repr=False)
    uri: str
    window_ms: int = WINDOW_MS

    def __call__(
        self, method: str, headers: Mapping[str, str], body: bytes, now_s: float
    ) -> str | None:
        """``None`` when the request is signed (v3) and fresh, else why it is refused."""
        signature = headers.get(SIGNATURE_V3)
        if not signature:
            return Refusal.V1_V2_ONLY if headers.get(SIGNATURE_V1_V2) else Refusal.MISSING_SIGNATURE
        timestamp = headers.get(TIMESTAMP)
        refusal = self._timestamp_refusal(timestamp, now_s)
        if refusal is not None or timestamp is None:
            return refusal
        expected = sign_v3(self.client_secret, method, self.uri, body, timestamp)
        given = signature.strip().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            return Refusal.MISMATCH
        return None

    def _timestamp_refusal(self, timestamp: str | None, now_s: float) -> str | None:
        """Why the timestamp is unusable or outside the window, or None."""
        if not timestamp:
            return Refusal.MISSING_TIMESTAMP
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 16:
            return Refusal.BAD_TIMESTAMP
        skew = int(timestamp) - int(now_s * 1000)
        if skew < -self.window_ms:
            return Refusal.STALE
        if skew > self.window_ms:
            return Refusal.FUTURE
        return None
