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
from sync.errors import LinkDown, PermanentError, RateLimited, SyncError
from sync.model import (
    SubscriptionStatuses,
)

DEFAULT_BRAND = 0
"""HubSpot's default brand (business unit): the one a call without ``businessUnitId`` acts on."""


class SubscriptionCalls(Transport):
    """Subscription statuses and unsubscribe-all."""

    _legal_default: tuple[str | None, str | None] = (None, None)
    """``[hubspot] legal_basis`` and its explanation (``default_legal_basis``)."""

    _brands: tuple[int, ...] = (DEFAULT_BRAND,)
    """``[hubspot] business_unit_ids``: the brands opt-outs and reads cover (``business_units``)."""

    def business_units(self, ids: Sequence[int]) -> None:
        """The brands (business units) whose unsubscribe-all hubsync sets and reads.

        With HubSpot's Brands add-on each brand has its own unsubscribe-all,
        chosen by the ``businessUnitId`` query parameter of the single and batch
        unsubscribe-all, their reads and the batch status read; without it a
        call acts on the default brand, 0 ("The default Account business unit
        will always use 0": the v4 single unsubscribe-all reference;
        hubspot-2026.md 4.3). HubSpot lists brands only per user
        (``/business-units/.../business-units/user/{userId}``), which a static
        app token cannot name, so none configured means the default brand only
        (``hubsync check`` says so).
        """
        self._brands = tuple(dict.fromkeys(ids)) or (DEFAULT_BRAND,)

    @staticmethod
    def _brand_query(brand: int) -> list[tuple[str, str]]:
        """``channel=EMAIL``, and ``businessUnitId`` for a brand other than the default.

        The default brand's calls stay as they were without brands: HubSpot
        acts on brand 0 when no ``businessUnitId`` is sent.
        """
        query = [("channel", "EMAIL")]
        if brand != DEFAULT_BRAND:
            query.append(("businessUnitId", str(brand)))
        return query

    def unsubscribe_all(self, emails: Sequence[str]) -> dict[str, SyncError | None]:
        """Unsubscribe each address from all email in every configured brand.

        Batches of 100 (or the single-address endpoint without the batch
        scopes), once per brand. An address's outcome is its first failure in
        any brand: unsubscribing again is harmless, so a retry may repeat the
        brands that went through.
        """
        outcomes: dict[str, SyncError | None] = {}
        for brand in self._brands:
            found: dict[str, SyncError | None] = {}
            if self._v3_subscriptions:
                found = self._single_unsubscribe_all(emails, brand)
            else:
                for start in range(0, len(emails), BATCH_LIMIT):
                    self._unsubscribe_batch(list(emails[start : start + BATCH_LIMIT]), found, brand)
            for email, outcome in found.items():
                outcomes[email] = outcomes.get(email) or outcome
        return outcomes

    def _unsubscribe_batch(
        self, chunk: list[str], outcomes: dict[str, SyncError | None], brand: int
    ) -> None:
        """One batch unsubscribe-all; an error naming no address halves the batch and resends.

        Unsubscribing again is harmless, so the halves may repeat what went
        through; one bad address never fails the other ninety-nine.
        """
        data = self._request(
            "unsubscribe from all email",
            "POST",
            self._paths.statuses_batch(UNSUBSCRIBE_ALL),
            query=self._brand_query(brand),
            body={"inputs": chunk},
        )
        found, unattributed = batch_outcomes(chunk, data, "unsubscribe from all email", self._now())
        if unattributed and len(chunk) > 1:
            half = len(chunk) // 2
            self._unsubscribe_batch(chunk[:half], outcomes, brand)
            self._unsubscribe_batch(chunk[half:], outcomes, brand)
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
            return self._v3_statuses(email)
        reads = {
            brand: (
                self._one_address(
                    "subscription status read",
                    self._paths.statuses_batch(STATUSES_READ),
                    email,
                    brand,
                ),
                self._one_address(
                    "unsubscribe-all status read",
                    self._paths.statuses_batch(UNSUBSCRIBE_ALL_READ),
                    email,
                    brand,
                ),
            )
            for brand in self._brands
        }
        return full_read.brand_statuses(reads)

    def _several_brands(self) -> bool:
        return self._brands != (DEFAULT_BRAND,)

    def _v3_statuses(self, email: str) -> SubscriptionStatuses:
        """The single reads: v3's status read, and with several brands each one's opt-out.

        v3's read shows an opt-out from all email as a status's source, not
        which brand's it is; with several brands each brand's unsubscribe-all
        is read on its own (``GET statuses/{email}/unsubscribe-all``, one call
        each, no batch scope needed).
        """
        answer = self._request("subscription status read", "GET", self._paths.email_status(email))
        found = full_read.v3_statuses(answer or {})
        if not self._several_brands():
            return found
        opted_out = tuple(
            brand
            for brand in self._brands
            if full_read.wide_opted_out(
                self._address_call(
                    "unsubscribe-all status read",
                    "GET",
                    self._paths.unsubscribe_all_one(email),
                    email,
                    body=None,
                    brand=brand,
                )
                or {}
            )
        )
        return SubscriptionStatuses(
            unsubscribed_from_all=len(opted_out) == len(self._brands),
            statuses=found.statuses,
            unsubscribed_brands=opted_out,
        )

    def status_read_cost(self, count: int) -> int:
        """Calls to read ``count`` addresses: two per 100 and brand in batches.

        Without the batch scopes, one each, and one more per brand when
        several brands are configured (``_v3_statuses``).
        """
        brands = len(self._brands)
        if self._v3_subscriptions:
            return count * (1 + brands) if self._several_brands() else count
        return 2 * brands * -(-count // BATCH_LIMIT)

    def subscription_statuses_many(
        self, emails: Sequence[str]
    ) -> dict[str, SubscriptionStatuses | SyncError]:
        """Many addresses' statuses: the batch reads, 100 addresses a call, an outcome each.

        One address HubSpot refuses fails only itself (an error naming none
        halves the batch). A rate limit ends the reading: it is raised.
        Without the batch scopes (``subscriptions_api = "v3"``), one read each.
        """
        out: dict[str, SubscriptionStatuses | SyncError] = {}
        if self._v3_subscriptions:
            for email in emails:
                out[email] = self._statuses_or_error(email)
            return out
        for start in range(0, len(emails), BATCH_LIMIT):
            self._read_batch(list(emails[start : start + BATCH_LIMIT]), out)
        return out

    def _statuses_or_error(self, email: str) -> SubscriptionStatuses | SyncError:
        try:
            return self.subscription_statuses(email)
        except RateLimited:
            raise
        except SyncError as exc:
            return exc

    def _read_batch(
        self, chunk: list[str], out: dict[str, SubscriptionStatuses | SyncError]
    ) -> None:
        """Both batch reads of up to 100 addresses, per brand; an unattributed error halves."""
        reads: dict[int, tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]] = {}
        failed: dict[str, SyncError] = {}
        unattributed: list[SyncError] = []
        try:
            for brand in self._brands:
                statuses, failed_s, lost_s = self._batch_read(STATUSES_READ, chunk, brand)
                wide, failed_w, lost_w = self._batch_read(UNSUBSCRIBE_ALL_READ, chunk, brand)
                reads[brand] = (statuses, wide)
                for email, error in [*failed_s.items(), *failed_w.items()]:
                    failed.setdefault(email, error)
                unattributed += lost_s + lost_w
        except (RateLimited, LinkDown):  # the account's, not an address's: the round stops
            raise
        except PermanentError as exc:  # one bad address may refuse the whole request: halve
            if len(chunk) == 1:
                out[chunk[0]] = exc
                return
            reads, failed, unattributed = {}, {}, [exc]
        except SyncError as exc:  # a passing failure: every address waits for the next cycle
            out.update(dict.fromkeys(chunk, exc))
            return
        if unattributed and len(chunk) > 1:
            half = len(chunk) // 2
            self._read_batch(chunk[:half], out)
            self._read_batch(chunk[half:], out)
            return
        for email in chunk:
            failure = failed.get(email) or (unattributed[0] if unattributed else None)
            out[email] = failure or full_read.brand_statuses(
                {b: (s.get(email), w.get(email)) for b, (s, w) in reads.items()}
            )

    def _batch_read(
        self, action: str, chunk: list[str], brand: int
    ) -> tuple[dict[str, dict[str, Any]], dict[str, SyncError], list[SyncError]]:
        """One batch status read: items by address, errors by address, errors naming none."""
        operation = "subscription status batch read"
        data = self._request(
            operation,
            "POST",
            self._paths.statuses_batch(action),
            query=self._brand_query(brand),
            body={"inputs": chunk},
        )
        found, unattributed = batch_outcomes(chunk, data, operation, self._now())
        items = {
            str(item.get("subscriberIdString", "")).strip().lower(): item
            for item in result_items(data)
        }
        by_email = {e: items[e.strip().lower()] for e in chunk if e.strip().lower() in items}
        failed = {e: err for e, err in found.items() if err is not None}
        return by_email, failed, unattributed

    def _one_address(
        self, operation: str, path: str, email: str, brand: int
    ) -> dict[str, Any] | None:
        """The result item of a batch status read of one address; its error, raised."""
        data = self._address_call(
            operation, "POST", path, email, body={"inputs": [email]}, brand=brand
        )
        results = result_items(data)
        return results[0] if results and isinstance(results[0], dict) else None

    def _single_unsubscribe_all(
        self, emails: Sequence[str], brand: int
    ) -> dict[str, SyncError | None]:
        """Each address opted out of one brand's email with the single-address endpoint.

        Brand-wide, like the batch: subscription types created later are
        covered too, which one unsubscribe per definition would miss. It needs
        only ``communication_preferences.write``, so it works without the
        batch scopes (``subscriptions_api = "v3"``).
        """
        outcomes: dict[str, SyncError | None] = {}
        for email in emails:
            try:
                self._address_call(
                    "unsubscribe from all email",
                    "POST",
                    self._paths.unsubscribe_all_one(email),
                    email,
                    body=None,
                    brand=brand,
                )
                outcomes[email] = None
            except SyncError as exc:
                outcomes[email] = exc
        return outcomes

    def _address_call(
        self,
        operation: str,
        method: str,
        path: str,
        email: str,
        *,
        body: Any,
        brand: int = DEFAULT_BRAND,
    ) -> dict[str, Any] | None:
        """A call about one address (``channel=EMAIL``): its answer; an error inside, raised."""
        data = self._request(operation, method, path, query=self._brand_query(brand), body=body)
        found, unattributed = batch_outcomes([email], data, operation, self._now())
        failure = found[email] or (unattributed[0] if unattributed else None)
        if failure is not None:
            raise failure
        return data if isinstance(data, dict) else None

    def default_legal_basis(self, legal_basis: str | None, explanation: str | None) -> None:
        """The legal basis sent with a status write whose event names none.

        HubSpot requires ``legalBasis`` and ``legalBasisExplanation`` on the
        single subscribe and unsubscribe in GDPR-enabled accounts (its
        "Unsubscribe a contact" reference: "required for GDPR enabled
        portals"); ``[hubspot] legal_basis`` supplies them (``sync.bootstrap``).
        """
        self._legal_default = (legal_basis, explanation)

    def _legal_basis(
        self, legal_basis: str | None, explanation: str | None
    ) -> tuple[str | None, str | None]:
        """The event's legal basis and explanation, or the configured default pair."""
        if legal_basis:
            return legal_basis, explanation
        return self._legal_default

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
        legal_basis, explanation = self._legal_basis(legal_basis, explanation)
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
                code,
                error,
                None,
                operation="subscription status write",
                now=self._now(),
                batch_item=True,
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
            # A 400 may mean "already has that status", or a real refusal (no
            # legal basis, an unknown subscription): only a read-back tells.
            if exc.http_status != 400 or not self._has_status(email, subscription_id, subscribed):
                raise

    def _has_status(self, email: str, subscription_id: str, subscribed: bool) -> bool:
        """Whether the address already is (un)subscribed from one subscription, read back."""
        answer = self._address_call(
            "subscription status read", "GET", self._paths.statuses(email), email, body=None
        )
        state = full_read.single_statuses(answer or {}).statuses.get(str(subscription_id))
        return state == ("SUBSCRIBED" if subscribed else "UNSUBSCRIBED")
