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
    missing_optional_scopes: Callable[[], list[str]] | None = None
    """The optional scopes (Sensitive Data) the token lacks where the account needs them."""
    gdpr_enabled: bool = True
    """``[hubspot] gdpr_enabled``: the account's subscription writes need a legal basis."""
    legal_basis: str | None = None
    """``[hubspot] legal_basis``: sent with a subscription write whose event names none."""
    business_unit_ids: tuple[int, ...] = ()
    """``[hubspot] business_unit_ids``: the brands opt-outs reach; empty, the default only."""


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


NO_LEGAL_BASIS = (
    "no [hubspot] legal_basis is set on a GDPR-enabled account: HubSpot refuses a "
    "per-subscription unsubscribe without one (the single-address API documents it as "
    "required), so opt-outs of named subscriptions fail; set legal_basis and "
    "legal_basis_explanation"
)


def legal_basis_check(gdpr_enabled: bool, legal_basis: str | None) -> dict[str, Any]:
    """Whether subscription writes can carry the legal basis a GDPR-enabled account requires.

    Informative: opting out of all email and opt-ins (which carry their own
    basis) work without it, so the check passes and says what fails.
    """
    if not gdpr_enabled:
        return {"ok": True, "detail": "the account is not GDPR-enabled", "configured": False}
    if legal_basis is None:
        return {"ok": True, "detail": NO_LEGAL_BASIS, "configured": False}
    return {"ok": True, "detail": f"opt-outs are sent with {legal_basis}", "configured": True}


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
        "legal_basis": legal_basis_check(probe.gdpr_enabled, probe.legal_basis),
        "brands": brands_check(probe.business_unit_ids),
    }


DEFAULT_BRAND_ONLY = (
    "no [hubspot] business_unit_ids: opt-outs and restrictions reach the default brand "
    "(business unit 0) only, and the subscription check reads only it. HubSpot lists an "
    "account's brands only per user (business-units/.../user/{userId}), which a static "
    "token cannot name: with the Brands add-on, list every brand id"
)


def brands_check(business_unit_ids: Sequence[int]) -> dict[str, Any]:
    """Which brands' unsubscribe-all hubsync sets and reads.

    Informative: an account without the Brands add-on has the default brand
    only, so the check passes and says what an account with brands misses.
    """
    if not business_unit_ids:
        return {"ok": True, "detail": DEFAULT_BRAND_ONLY, "business_unit_ids": [0]}
    listed = ", ".join(str(b) for b in business_unit_ids)
    return {
        "ok": True,
        "detail": f"opt-outs reach, and the check reads, brands {listed}",
        "business_unit_ids": list(business_unit_ids),
    }


def scopes_check(probe: HubSpotProbe) -> dict[str, Any]:
    """The scopes hubsync needs that the token lacks, by name; optional ones only warn."""
    try:
        missing = probe.missing_scopes()
    except HubsyncError as exc:
        return {"ok": False, "detail": f"scopes not learned: {exc}", "missing": None}
    if missing:
        found = {"ok": False, "detail": f"missing: {', '.join(missing)}", "missing": missing}
    else:
        detail = f"all {probe.needed_scopes} needed scopes granted"
        found = {"ok": True, "detail": detail, "missing": []}
    return optional_scopes_warning(probe, found)


SENSITIVE_WARNING = (
    "warning: the account stores Sensitive Data but the token lacks {scopes}: access "
    "exports leave those values out (and say so); add the scopes to the app to export them"
)


def optional_scopes_warning(probe: HubSpotProbe, found: dict[str, Any]) -> dict[str, Any]:
    """``found`` with the optional scopes the token lacks, as a warning that fails nothing.

    An account storing Sensitive Data needs the sensitive scopes for an access
    export to be complete; one without such data does not, so they warn only.
    """
    if probe.missing_optional_scopes is None:
        return found
    try:
        lacking = probe.missing_optional_scopes()
    except HubsyncError as exc:
        return {**found, "optional_missing": None, "warning": f"optional scopes not learned: {exc}"}
    if not lacking:
        return {**found, "optional_missing": []}
    warning = SENSITIVE_WARNING.format(scopes=", ".join(lacking))
    return {
        **found,
        "detail": f"{found['detail']}; {warning}",
        "optional_missing": lacking,
        "warning": warning,
    }
