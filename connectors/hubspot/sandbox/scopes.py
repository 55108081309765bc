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
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from connectors.hubspot.sandbox.errors import ApiError

if TYPE_CHECKING:
    from connectors.hubspot.sandbox.context import Sandbox

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


SENSITIVE_READ = {
    "sensitive": "crm.objects.contacts.sensitive.read.v2",
    "highly_sensitive": "crm.objects.contacts.highly_sensitive.read.v2",
}
"""The scope that reads the values of each sensitive level (2026-09 names, hubspot-2026.md
section 4.2). Sensitive scopes "are required ... to access the property values" but "not
required to retrieve schema information" (sensitive-data guide, "Access and manage
Sensitive Data"). Whether a read without them is refused or silently leaves the values
out is not documented; the sandbox refuses (403 ``MISSING_SCOPES``), the reading of
"required" that lets hubsync say what it could not export."""


def check_values(levels: Iterable[str], scopes: Iterable[str]) -> None:
    """Raise the 403 ``MISSING_SCOPES`` a read of values at these sensitivity levels meets."""
    needed = sorted({SENSITIVE_READ[level] for level in levels if level in SENSITIVE_READ})
    missing = [s for s in needed if s not in granted(scopes)]
    if missing:
        raise ApiError(
            403,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call.",
            context={"missingScopes": missing, "requiredGrantedScopes": missing},
        )


def check_sensitive_read(sb: Sandbox, *names: Sequence[str] | None, dated: bool) -> None:
    """On the 2026-09 paths, 403 for a read naming a property whose values need a scope
    the token lacks (the sandbox's other paths serve its older tests and do not check)."""
    if not dated:
        return
    wanted = [name for group in names for name in group or ()]
    levels = sb.state.property_call(lambda schema: schema.levels_of(wanted))
    check_values(levels, sb.config.scopes)


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
