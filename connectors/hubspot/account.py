"""The account: where its data is hosted, its time zone, which scopes the token lacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.hubspot import errors
from connectors.hubspot.paths import (
    BATCH_READ,
    BATCH_UPDATE,
    STATUSES_READ,
    STATUSES_WRITE,
)
from connectors.hubspot.restriction import RESTRICTION_PROPERTY
from connectors.hubspot.scopes import SENSITIVITY_SCOPE
from connectors.hubspot.transport import Transport, result_items
from sync.errors import PermanentError, SubjectAbsent


class AccountCalls(Transport):
    """Account details and scope probes."""

    def hosting_location(self) -> str:
        """The account's ``dataHostingLocation``, lower case.

        The same answer gives the account's time zone, which the rate budget
        keeps: HubSpot's daily limit resets at that zone's midnight.
        """
        data = self._request("account details", "GET", self._paths.account_details())
        if isinstance(data, dict):  # the daily limit resets at the account's midnight
            self._budget.day_zone = errors.account_zone(data)
        location = data.get("dataHostingLocation") if isinstance(data, dict) else None
        if not isinstance(location, str) or not location:
            raise PermanentError("account details carry no dataHostingLocation", code="residency")
        return location.strip().lower()

    def missing_scopes(self, needed: Sequence[str]) -> list[str]:
        """The scopes among ``needed`` the token lacks, learned by one cheap call each.

        HubSpot has no scope introspection for static project app tokens
        and Service Keys (hubspot-2026.md section 4.5), so each scope's probe
        makes a call that needs it and changes nothing (a read, or a write
        HubSpot refuses as empty or unknown); a ``403 MISSING_SCOPES`` names
        what is missing, and any other 403 counts the probed scope missing.
        Any other answer means the scope is granted.
        """
        missing: list[str] = []
        probes = self._scope_probes()
        for scope in needed:
            probe = probes.get(scope) or self._sensitive_probe(scope)
            if probe is None:
                continue
            method, path, query, body = probe
            try:
                self._request(f"scope probe ({scope})", method, path, query=query, body=body)
            except errors.ScopesMissing as exc:
                missing.extend(s for s in (exc.scopes or (scope,)) if s not in missing)
            except PermanentError as exc:
                # Another 403 is still a refusal of the token for this call;
                # any other refusal is of what was sent: the scope is granted.
                if exc.http_status == 403 and scope not in missing:
                    missing.append(scope)
            except SubjectAbsent:
                continue  # the probe's object does not exist: the scope is granted
        return [s for s in needed if s in missing] + [s for s in missing if s not in needed]

    def _sensitive_probe(self, scope: str) -> tuple[str, str, list[tuple[str, str]], Any] | None:
        """A read of one property of the level ``scope`` opens, or None when there is none.

        Only reading a Sensitive Data property's values needs the scope (its
        definition does not: sensitive-data guide), so the probe asks for the
        values of one such property of a contact that does not exist. An
        account without properties of that level loses nothing without the
        scope: no probe, and no warning.
        """
        level = next((k for k, v in SENSITIVITY_SCOPE.items() if v == scope), None)
        if level is None:
            return None
        query = [("archived", "false"), ("dataSensitivity", level)]
        try:
            data = self._request("property list", "GET", self._paths.properties(), query=query)
        except (PermanentError, SubjectAbsent):
            return None  # the list itself is refused: the required scopes' check says why
        names = sorted(str(d["name"]) for d in result_items(data) if d.get("name"))
        if not names:
            return None
        body = {"inputs": [{"id": "0"}], "properties": names[:1], "propertiesWithHistory": []}
        return ("POST", self._paths.contacts_batch(BATCH_READ), [], body)

    def _scope_probes(self) -> dict[str, tuple[str, str, list[tuple[str, str]], Any]]:
        """Per scope, a call that needs it and changes nothing: (method, path, query, body)."""
        paths = self._paths
        empty: dict[str, Any] = {"inputs": []}
        email = [("channel", "EMAIL")]
        return {
            "crm.objects.contacts.read": ("GET", paths.contact("0"), [], None),
            "crm.objects.contacts.write": ("POST", paths.contacts_batch(BATCH_UPDATE), [], empty),
            "crm.schemas.contacts.read": ("GET", paths.property(RESTRICTION_PROPERTY), [], None),
            "crm.schemas.contacts.write": ("POST", paths.properties(), [], {}),
            "communication_preferences.read": ("GET", paths.definitions(), [], None),
            "communication_preferences.write": ("POST", paths.subscription(False), [], {}),
            "communication_preferences.statuses.batch.read": (
                "POST", paths.statuses_batch(STATUSES_READ), email, empty,
            ),
            "communication_preferences.statuses.batch.write": (
                "POST", paths.statuses_batch(STATUSES_WRITE), [], empty,
            ),
            "oauth": ("GET", paths.account_details(), [], None),
        }  # fmt: skip
