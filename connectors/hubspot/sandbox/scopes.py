"""Which scope each 2026-09 call needs, and HubSpot's 403 when the token lacks it.

HubSpot checks a call's scopes before anything else and answers ``403``
with category ``MISSING_SCOPES``, the missing ones in ``context``
(hubspot-2026.md section 4.5: "read a 403 body's ``category:
MISSING_SCOPES`` and ``context.missingScopes``"). The scopes per endpoint
are the 2026-09 specification's security requirements as that reference
summarises them (sections 4.2-4.4); account info needs ``oauth``. The
sandbox enforces them on the 2026-09 paths only (its v3/v4 paths serve its
own older tests), against ``SandboxConfig.scopes``;
``communication_preferences.read_write`` stands for both halves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from connectors.hubspot.sandbox.errors import ApiError

READ_WRITE = "communication_preferences.read_write"
IMPLIED = {
    READ_WRITE: frozenset({"communication_preferences.read", "communication_preferences.write"})
}

_RULES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/crm/objects/2026-09/contacts(/.*)?$"), "crm.objects.contacts.read"),
    (
        "POST",
        re.compile(r"^/crm/objects/2026-09/contacts/(batch/read|search)$"),
        "crm.objects.contacts.read",
    ),
    ("*", re.compile(r"^/crm/objects/2026-09/contacts(/.*)?$"), "crm.objects.contacts.write"),
    ("GET", re.compile(r"^/crm/properties/2026-09/.*$"), "crm.schemas.contacts.read"),
    ("*", re.compile(r"^/crm/properties/2026-09/.*$"), "crm.schemas.contacts.write"),
    (
        "POST",
        re.compile(
            r"^/communication-preferences/2026-09/statuses/batch/(read|unsubscribe-all/read)$"
        ),
        "communication_preferences.statuses.batch.read",
    ),
    (
        "POST",
        re.compile(r"^/communication-preferences/2026-09/statuses/batch/.*$"),
        "communication_preferences.statuses.batch.write",
    ),
    (
        "GET",
        re.compile(r"^/communication-preferences/2026-09/.*$"),
        "communication_preferences.read",
    ),
    (
        "POST",
        re.compile(r"^/communication-preferences/2026-09/(subscribe|unsubscribe)$"),
        "communication_preferences.write",
    ),
    ("*", re.compile(r"^/account-info/2026-09/.*$"), "oauth"),
]
"""(method or ``*``, path, scope), first match wins."""


def required_scope(method: str, path: str) -> str | None:
    """The scope a 2026-09 call needs; None for a path the sandbox does not guard."""
    for wanted, pattern, scope in _RULES:
        if wanted in ("*", method) and pattern.match(path):
            return scope
    return None


def granted(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a token holds, with those a combined scope stands for."""
    held = set(scopes)
    for scope in list(held):
        held |= IMPLIED.get(scope, frozenset())
    return frozenset(held)


def check(method: str, path: str, scopes: Iterable[str]) -> None:
    """Raise HubSpot's 403 ``MISSING_SCOPES`` when the token lacks the call's scope."""
    needed = required_scope(method, path)
    if needed is None or needed in granted(scopes):
        return
    raise ApiError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call.",
        context={"missingScopes": [needed], "requiredGrantedScopes": [needed]},
    )
