"""The ``X-Hubsync-Signature`` scheme, shared by hubsync's intake and its HTTP register.

A signed request carries ``X-Hubsync-Signature: t=<unix seconds>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256 over ``"<t>.<raw body>"`` keyed with the shared
secret (DESIGN.md section 6). Several ``v1=`` entries may be given (a secret
being rotated); one match is enough. The timestamp must lie within a window
either way of now, so a captured request cannot be replayed later.

This module is pure: the caller passes the time in, and nothing here logs or
raises with the header, the body or the secret.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

SIGNATURE_HEADER = "X-Hubsync-Signature"
"""The header that carries the signature."""

DEFAULT_TOLERANCE_S = 300
"""How far (seconds) a signature's timestamp may lie from now, either way."""


class SignatureProblem(enum.StrEnum):
    """Why a signature was refused (safe to log and count)."""

    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    FUTURE = "future"
    MISMATCH = "mismatch"


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value that signs ``body`` at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={digest(secret, timestamp, body)}"


def parse(header: str) -> tuple[int, list[str]] | None:
    """The timestamp and ``v1`` digests of a header value; None when it is malformed."""
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            # Unix seconds have ten digits; a longer number is malformed, not a huge int.
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                return None
            if timestamp is not None:
                return None
            timestamp = int(value)
        elif name == "v1":
            digests.append(value.lower())
    if timestamp is None or not digests:
        return None
    return timestamp, digests


def verify(
    secret: str | bytes,
    body: bytes,
    header: str | None,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> SignatureProblem | None:
    """Check a signature header against the raw body; None when it is valid.

    The comparison is constant-time; the window applies before any HMAC is
    computed, so stale requests cost nothing.
    """
    if not header:
        return SignatureProblem.MISSING
    parsed = parse(header)
    if parsed is None:
        return SignatureProblem.MALFORMED
    timestamp, candidates = parsed
    if timestamp < now - tolerance_s:
        return SignatureProblem.STALE
    if timestamp > now + tolerance_s:
        return SignatureProblem.FUTURE
    expected = digest(secret, timestamp, body).encode("ascii")
    matched = False
    for candidate in candidates:
        # Compare every candidate so timing does not tell which one matched; as
        # bytes, because compare_digest refuses non-ASCII strings.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8"))
    return None if matched else SignatureProblem.MISMATCH
