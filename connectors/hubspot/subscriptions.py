"""Communication preferences: opt-outs, opt-ins and the statuses of addresses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.hubspot import errors, full_read
from connectors.hubspot.paths import (
    STATUSES_READ,
    STATUSES_WRITE,
    UNSUBSCRIBE_ALL,
    UNSUBSCRIBE_ALL_READ,
)
from connectors.hubspot.transport import BATCH_LIMIT, Transport, batch_outcomes, result_items
from sync.errors import PermanentError, SyncError
from sync.model import (
    SubscriptionStatuses,
)


class SubscriptionCalls(Transport):
    """Subscription statuses and unsubscribe-all."""

    def unsubscribe_all(self, emails: Sequence[str]) -> dict[str, SyncError | None]:
        """Unsubscribe each address from all email (batch, or per definition one by one)."""
        if self._v3_subscriptions:
            return self._single_unsubscribe_all(emails)
        outcomes: dict[str, SyncError | None] = {}
        for start in range(0, len(emails), BATCH_LIMIT):
            self._unsubscribe_batch(list(emails[start : start + BATCH_LIMIT]), outcomes)
        return outcomes

    def _unsubscribe_batch(self, chunk: list[str], outcomes: dict[str, SyncError | None]) -> None:
        """One batch unsubscribe-all; an error naming no address halves the batch and resends.

        Unsubscribing again is harmless, so the halves may repeat what went
        through; one bad address never fails the other ninety-nine.
        """
        data = self._request(
            "unsubscribe from all email",
            "POST",
            self._paths.statuses_batch(UNSUBSCRIBE_ALL),
            query=[("channel", "EMAIL")],
            body={"inputs": chunk},
        )
        found, unattributed = batch_outcomes(chunk, data, "unsubscribe from all email", self._now())
        if unattributed and len(chunk) > 1:
            half = len(chunk) // 2
            self._unsubscribe_batch(chunk[:half], outcomes)
            self._unsubscribe_batch(chunk[half:], outcomes)
            return
        if unattributed:
            found[chunk[0]] = unattributed[0]
        outcomes.update(found)

    def subscription_statuses(self, email: str) -> SubscriptionStatuses:
        """One address's subscription statuses and opt-out of all email.

        The batch reads carry the address in the body, never in a URL that
        proxies log; with ``subscriptions_api = "v3"`` the single status read
        (the address in the path) cannot show single opt-outs
        (``full_read.v3_statuses``).
        """
        if self._v3_subscriptions:
            answer = self._request(
                "subscription status read", "GET", self._paths.email_status(email)
            )
            return full_read.v3_statuses(answer or {})
        statuses = self._one_address(
            "subscription status read", self._paths.statuses_batch(STATUSES_READ), email
        )
        wide = self._one_address(
            "unsubscribe-all status read",
            self._paths.statuses_batch(UNSUBSCRIBE_ALL_READ),
            email,
        )
        return full_read.v4_statuses(statuses, wide)

    def _one_address(self, operation: str, path: str, email: str) -> dict[str, Any] | None:
        """The result item of a batch status read of one address; its error, raised."""
        data = self._request(
            operation,
            "POST",
            path,
            query=[("channel", "EMAIL")],
            body={"inputs": [email]},
        )
        found, unattributed = batch_outcomes([email], data, operation, self._now())
        failure = found[email] or (unattributed[0] if unattributed else None)
        if failure is not None:
            raise failure
        results = result_items(data)
        return results[0] if results and isinstance(results[0], dict) else None

    def _single_unsubscribe_all(self, emails: Sequence[str]) -> dict[str, SyncError | None]:
        ids = self._definition_ids()
        outcomes: dict[str, SyncError | None] = {}
        for email in emails:
            try:
                self.set_subscriptions(email, ids, subscribed=False)
                outcomes[email] = None
            except SyncError as exc:
                outcomes[email] = exc
        return outcomes

    def _definition_ids(self) -> list[str]:
        """The ids of the account's subscription definitions; an error when it names none.

        2026-09 merges v3 and v4, and whether its answer lists them under
        v4's ``results`` or v3's ``subscriptionDefinitions`` is not documented
        (hubspot-2026.md section 4.3): both are read. None found is an error,
        never an opt-out from nothing reported as done.
        """
        data = self._request("subscription definitions", "GET", self._paths.definitions())
        found = (data or {}).get("results") or (data or {}).get("subscriptionDefinitions") or []
        ids = [str(d["id"]) for d in found if isinstance(d, dict) and "id" in d]
        if not ids:
            raise PermanentError(
                "HubSpot listed no subscription definitions to opt out of",
                code="no_subscription_definitions",
            )
        return ids

    def set_subscriptions(
        self,
        email: str,
        subscription_ids: Sequence[str],
        *,
        subscribed: bool,
        legal_basis: str | None = None,
        explanation: str | None = None,
    ) -> None:
        """Subscribe or unsubscribe one address to the named subscriptions."""
        if not subscription_ids:
            return
        if self._v3_subscriptions:
            for subscription_id in subscription_ids:
                self._single_set(email, subscription_id, subscribed, legal_basis, explanation)
            return
        inputs = [
            {
                "subscriberIdString": email,
                "channel": "EMAIL",
                "statusState": "SUBSCRIBED" if subscribed else "UNSUBSCRIBED",
                "subscriptionId": int(sid) if str(sid).isdigit() else sid,
                **({"legalBasis": legal_basis} if legal_basis else {}),
                **({"legalBasisExplanation": explanation} if explanation else {}),
            }
            for sid in subscription_ids
        ]
        data = self._request(
            "subscription status write",
            "POST",
            self._paths.statuses_batch(STATUSES_WRITE),
            body={"inputs": inputs},
        )
        for error in (data or {}).get("errors") or []:
            code = error.get("status") if isinstance(error.get("status"), int) else 400
            raise errors.from_status(
                code, error, None, operation="subscription status write", now=self._now()
            )

    def _single_set(
        self,
        email: str,
        subscription_id: str,
        subscribed: bool,
        legal_basis: str | None,
        explanation: str | None,
    ) -> None:
        body: dict[str, str] = {"emailAddress": email, "subscriptionId": str(subscription_id)}
        if legal_basis:
            body["legalBasis"] = legal_basis
        if explanation:
            body["legalBasisExplanation"] = explanation
        try:
            self._request(
                "subscription status write", "POST", self._paths.subscription(subscribed), body=body
            )
        except PermanentError as exc:
            # The single endpoints answer 400 when the address already has the asked status.
            if exc.http_status != 400:
                raise
