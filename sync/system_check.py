"""What ``hubsync check`` finds: settings, ledger, register, HubSpot, scopes and residency.

Each check is ``{"ok": bool, "detail": str, ...}``, in the order an operator
fixes them. A ledger that cannot be opened, or HubSpot settings that cannot
be used, end the report there; scopes are asked only of a HubSpot that
answered. ``sync.bootstrap.check`` wires the parts from settings (the
ledger, the register's readiness, the HubSpot client, its scope list and the
residency guard); this module decides what to ask, in which order, and what
the answers mean, and imports no connector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sync.errors import ConfigurationError, HubsyncError
from sync.model import RegisterReadiness
from sync.ports import Ledger


class ResidencyAnswer(Protocol):
    """A residency verdict as ``check`` reads it."""

    @property
    def allowed(self) -> bool:
        """Whether the account's hosting location is an allowed one."""
        ...

    @property
    def location(self) -> str | None:
        """The account's hosting location; None when HubSpot was not reached."""
        ...

    @property
    def reason(self) -> str:
        """Why, for an operator."""
        ...


@dataclass(frozen=True)
class HubSpotProbe:
    """The questions ``check`` asks of HubSpot, wired by bootstrap."""

    base_url: str
    allowed_locations: Sequence[str]
    residency: Callable[[], ResidencyAnswer]
    """A fresh residency verdict (not a cached one)."""
    missing_scopes: Callable[[], list[str]]
    """The needed scopes the token lacks, learned from HubSpot (one probe call each)."""
    needed_scopes: int
    credential: str = "project_app"
    """``[hubspot] credential``: a Service Key receives no webhooks."""


@dataclass(frozen=True)
class CheckParts:
    """What ``check`` looks at: each built on demand, so a failure is reported, not raised."""

    open_ledger: Callable[[], Ledger]
    register_kind: str
    register_readiness: Callable[[], RegisterReadiness]
    hubspot: Callable[[Ledger], HubSpotProbe]
    """Raises ConfigurationError when the HubSpot settings cannot be used."""


def run_checks(parts: CheckParts) -> dict[str, Any]:
    """The report of ``hubsync check``: ``ok`` when every check is, and each check by name."""
    checks: dict[str, dict[str, Any]] = {"settings": {"ok": True, "detail": "valid"}}
    try:
        ledger = parts.open_ledger()
        checks["ledger"] = {"ok": True, "detail": f"schema version {ledger.schema_version()}"}
    except HubsyncError as exc:
        checks["ledger"] = {"ok": False, "detail": str(exc)}
        return {"ok": False, "checks": checks}
    try:
        checks["register"] = register_check(parts.register_kind, parts.register_readiness())
        try:
            probe = parts.hubspot(ledger)
        except ConfigurationError as exc:
            checks["hubspot"] = {"ok": False, "detail": str(exc)}
            return {"ok": False, "checks": checks}
        checks.update(hubspot_checks(probe))
    finally:
        ledger.close()
    return {"ok": all(c["ok"] for c in checks.values()), "checks": checks}


def register_check(kind: str, state: RegisterReadiness) -> dict[str, Any]:
    """Whether the register is set up: each missing table or setting by name."""
    if state.ready:
        found = "all three tables found" if kind == "sql" else "answered a signed call"
        return {"ok": True, "detail": f"{kind} register: {found}", "problems": []}
    detail = "not set up: " + "; ".join(state.problems)
    if kind == "sql":
        detail += " (to try hubsync out, `hubsync register init` creates the tables)"
    return {"ok": False, "detail": detail, "problems": list(state.problems)}


SERVICE_KEY_WEBHOOKS = (
    "a Service Key receives no webhooks: hubsync carries the register's rights to HubSpot "
    "as usual, but of the changes made in HubSpot only an opt-out from all email reaches "
    "the register, through the periodic subscription check; corrections, GDPR deletes, "
    "archives and merges made in HubSpot do not (use a project app to receive webhooks)"
)


def webhooks_check(credential: str) -> dict[str, Any]:
    """Whether HubSpot can send webhooks with this credential, and what it means if not.

    Informative: a Service Key is a valid choice for the register-to-HubSpot
    direction, so the check passes and says what is lost.
    """
    if credential == "service_key":
        return {"ok": True, "detail": SERVICE_KEY_WEBHOOKS, "received": False}
    return {
        "ok": True,
        "detail": "webhooks can be received (a project app declares them; a legacy "
        "private app configures them in HubSpot)",
        "received": True,
    }


def hubspot_checks(probe: HubSpotProbe) -> dict[str, dict[str, Any]]:
    """HubSpot's reachability, the token's scopes (when reached), webhooks and residency."""
    verdict = probe.residency()
    reached = verdict.location is not None
    return {
        "hubspot": {
            "ok": reached,
            "detail": f"reached {probe.base_url}" if reached else verdict.reason,
        },
        "scopes": (
            scopes_check(probe)
            if reached
            else {"ok": False, "detail": "not checked: HubSpot was not reached", "missing": None}
        ),
        "webhooks": webhooks_check(probe.credential),
        "residency": {
            "ok": verdict.allowed,
            "detail": verdict.reason,
            "location": verdict.location,
            "allowed": list(probe.allowed_locations),
        },
    }


def scopes_check(probe: HubSpotProbe) -> dict[str, Any]:
    """The scopes hubsync needs that the token lacks, by name."""
    try:
        missing = probe.missing_scopes()
    except HubsyncError as exc:
        return {"ok": False, "detail": f"scopes not learned: {exc}", "missing": None}
    if missing:
        return {"ok": False, "detail": f"missing: {', '.join(missing)}", "missing": missing}
    return {"ok": True, "detail": f"all {probe.needed_scopes} needed scopes granted", "missing": []}
