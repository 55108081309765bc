"""``HubSpotClient``: the HubSpot port over ``hubspot-api-client``'s transport.

- Every call goes to a date-based path of ``[hubspot] api_version``
  (``connectors.hubspot.paths``, default ``2026-09``) through the official
  client's ``ApiClient.call_api``: its urllib3 pool, timeouts and
  exceptions, with the pool's own retries off (they would log the URL, an
  email address for by-email reads). Its 12.0.0 models predate 2026-09
  (their batch answers have no ``errors``), so every answer is read as JSON.
- Batch answers report per-item failures inside a 200 (``errors``,
  ``numErrors``); a 207 is accepted too. Every input maps to its own outcome.
- Every call first takes room from the shared ``RateBudget``, and its answer's
  rate-limit headers correct it. Transient failures are retried a few times
  here with tenacity (all calls are idempotent); anything longer goes back to
  the ledger.
- Errors are translated at this edge (``connectors.hubspot.errors``); nothing
  raised from here carries a body, an email or a value.

Over 500 lines because it is the one implementation of the ``HubSpot`` port:
one method per call hubsync makes, each a few lines over the shared
transport; the answers' parsing lives in ``full_read`` and ``errors``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import urllib3
from hubspot.crm.contacts import ApiClient, Configuration
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from connectors.hubspot import errors, full_read
from connectors.hubspot.paths import (
    BATCH_READ,
    BATCH_UPDATE,
    DEFAULT_API_VERSION,
    STATUSES_READ,
    STATUSES_WRITE,
    UNSUBSCRIBE_ALL,
    UNSUBSCRIBE_ALL_READ,
    ApiPaths,
)
from connectors.hubspot.ratelimit import RateBudget
from sync.errors import PermanentError, RateLimited, RetryableError, SubjectAbsent, SyncError
from sync.model import (
    ContactWrites,
    FullContact,
    HubSpotContact,
    HubSpotContactId,
    SubscriptionStatuses,
)

T = TypeVar("T")

RESTRICTION_GROUP = "hubsync"
RESTRICTION_PROPERTY = "hubsync_processing_restricted"
BATCH_LIMIT = 100
PROPERTY_LIST_TTL = timedelta(minutes=10)


def _short_retry(error: BaseException) -> bool:
    """Retry in the call only what is transient and short: never a rate limit."""
    return isinstance(error, RetryableError) and not isinstance(error, RateLimited)


class HubSpotClient:
    """HubSpot for the worker: typed, rate-limited, translated, with timeouts."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        budget: RateBudget,
        timeout_s: float = 10.0,
        subscriptions_api: str = "v4",
        api_version: str = DEFAULT_API_VERSION,
        in_call_attempts: int = 3,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = access_token
        self._budget = budget
        self._timeout = timeout_s
        self._paths = ApiPaths(api_version)
        self._v3_subscriptions = subscriptions_api == "v3"
        self._attempts = in_call_attempts
        self._now = now
        self._property_ready = False
        self._property_names: tuple[datetime, tuple[str, ...]] | None = None

    # -- plumbing ----------------------------------------------------------

    @functools.cached_property
    def _api(self) -> ApiClient:
        """The official client's transport, built once (it holds the connection pool)."""
        configuration = Configuration(host=self.base_url)
        configuration.access_token = self._token
        # urllib3 would retry on its own (three times by default), multiplying
        # timeouts and logging the URL (an email address, for by-email reads):
        # retries are tenacity's job here, so the pool's are off.
        configuration.retries = urllib3.util.Retry(total=False, redirect=False)
        api = ApiClient(configuration=configuration)
        api.user_agent = "hubsync"
        return api

    def _call(self, operation: str, fn: Callable[[], T], *, search: bool = False) -> T:
        """Run one HubSpot call under the budget, with short retries, translating errors."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=2),
            retry=retry_if_exception(_short_retry),
            reraise=True,
        )
        result: T = retrying(self._once, operation, fn, search)
        return result

    def _once(self, operation: str, fn: Callable[[], T], search: bool) -> T:
        self._budget.acquire(search=search)
        try:
            return fn()
        except SyncError:
            raise
        except urllib3.exceptions.HTTPError as exc:
            raise errors.from_transport(exc, operation=operation) from exc
        except Exception as exc:  # the official client's ApiException, one class per package
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                raise
            if status == 0:  # TLS failures come back as status 0
                raise errors.from_transport(exc, operation=operation) from exc
            body, headers = getattr(exc, "body", None), getattr(exc, "headers", None)
            self._budget.observe(headers)  # a refusal's rate-limit headers count too
            raise self._failed(status, body, headers, operation) from exc

    def _failed(
        self, status: int, body: Any, headers: Mapping[str, Any] | None, operation: str
    ) -> SyncError:
        error = errors.from_status(
            status,
            body,
            headers,
            operation=operation,
            now=self._now(),
            day_zone=self._budget.day_zone,
        )
        if isinstance(error, RateLimited):
            self._budget.rate_limited(error.policy, error.retry_after_s or 10.0)
        return error

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Any:
        """One call: its JSON answer (None when empty), the headers fed to the budget.

        Any 2xx is an answer; anything else raises the translated error.
        """

        def run() -> Any:
            response = self._api.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=["oauth2"],
                _preload_content=False,
                _request_timeout=self._timeout,
            )
            self._budget.observe(response.headers)
            if not response.data:
                return None
            try:
                return json.loads(response.data)
            except ValueError:  # a proxy's page, a cut-off answer: nothing to act on yet
                raise RetryableError(
                    f"HubSpot's answer to {operation} is not JSON", code="unreadable_answer"
                ) from None

        return self._call(operation, run)

    # -- account -----------------------------------------------------------

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
            probe = probes.get(scope)
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

    # -- contacts ----------------------------------------------------------

    def get_contact(
        self,
        key: str,
        *,
        by_email: bool = False,
        properties: Sequence[str] = (),
        archived: bool = False,
    ) -> HubSpotContact | None:
        """One contact by id or by email (``archived``: among the archived ones); None on 404."""
        flag = "true" if archived else "false"
        query = [("archived", flag), *(("properties", p) for p in properties)]
        if by_email:
            query.append(("idProperty", "email"))
        try:
            data = self._request("contact read", "GET", self._paths.contact(key), query=query)
        except SubjectAbsent:
            return None
        return _contact(data, requested=key)

    def read_contacts(
        self, ids: Sequence[str], properties: Sequence[str] = ()
    ) -> list[HubSpotContact]:
        """Contacts by id in batches of 100; missing ones are simply absent."""
        found: list[HubSpotContact] = []
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = list(ids[start : start + BATCH_LIMIT])
            body = {
                "inputs": [{"id": i} for i in chunk],
                "properties": list(properties),
                "propertiesWithHistory": [],
            }
            try:
                data = self._request(
                    "contact batch read", "POST", self._paths.contacts_batch(BATCH_READ), body=body
                )
            except SubjectAbsent:
                continue
            found.extend(_contact(r) for r in _results(data))
        return found

    def update_contacts(self, updates: Mapping[str, Mapping[str, str]]) -> ContactWrites:
        """Batch update by contact id (100 at a time); each id gets its own outcome.

        HubSpot answers an old id of a merged contact with the merged record;
        its ``hs_merged_object_ids`` names the ids asked for, so ``renamed``
        tells the caller to re-key. A value the account's validation rules
        refuse (2026-09) fails its own record only (``_update_batch``).
        """
        outcomes: dict[str, SyncError | None] = {}
        renamed: dict[str, str] = {}
        ids = list(updates)
        for start in range(0, len(ids), BATCH_LIMIT):
            self._update_batch(ids[start : start + BATCH_LIMIT], updates, outcomes, renamed)
        return ContactWrites(outcomes, renamed)

    def _update_batch(
        self,
        ids: list[str],
        updates: Mapping[str, Mapping[str, str]],
        outcomes: dict[str, SyncError | None],
        renamed: dict[str, str],
    ) -> None:
        """One batch update; a 400 ``VALIDATION_ERROR`` fails only the records it is about.

        HubSpot refuses the whole request: the records it names fail, and
        the rest is sent again. When it names none (or none of these), the
        batch is halved until it does, or until one record is left, which is
        then the one at fault. One bad value never fails a hundred updates.
        """
        body = {"inputs": [{"id": i, "properties": dict(updates[i])} for i in ids]}
        data: Any = None
        try:
            data = self._request(
                "contact batch update", "POST", self._paths.contacts_batch(BATCH_UPDATE), body=body
            )
        except errors.ValuesRefused as refused:
            named = [i for i in ids if i in set(refused.ids)]
            if named:  # those fail; the rest is sent again
                outcomes.update(dict.fromkeys(named, refused))
                rest = [i for i in ids if i not in named]
                if rest:
                    self._update_batch(rest, updates, outcomes, renamed)
                return
            found: dict[str, SyncError | None] = {}
            unattributed: list[SyncError] = [refused]
        else:
            found, unattributed = _batch_outcomes(ids, data, "contact batch update", self._now())
        if unattributed and len(ids) > 1:  # which record failed is not said: halve and resend
            half = len(ids) // 2
            self._update_batch(ids[:half], updates, outcomes, renamed)
            self._update_batch(ids[half:], updates, outcomes, renamed)
            return
        if unattributed:
            found[ids[0]] = unattributed[0]
        outcomes.update(found)
        asked = set(ids)
        for result in _results(data):
            contact = _contact(result)
            for old in (set(contact.merged_ids) & asked) - {contact.id}:
                renamed[old] = contact.id

    def gdpr_delete(self, key: str, *, by_email: bool = False) -> None:
        """Permanent delete; by email it also blocklists the address. A 404 means already gone."""
        body: dict[str, str] = {"objectId": key}
        if by_email:
            body["idProperty"] = "email"
        try:
            self._request("GDPR delete", "POST", self._paths.gdpr_delete(), body=body)
        except SubjectAbsent:
            return

    # -- full reads (access and portability) ---------------------------------

    def contact_property_names(self) -> tuple[str, ...]:
        """Every contact property's name, read once and kept for ``PROPERTY_LIST_TTL``.

        The list changes only when someone adds a property; reading it again
        after a while picks up those added since, without a call per export.
        """
        now = self._now()
        if self._property_names is not None and now - self._property_names[0] < PROPERTY_LIST_TTL:
            return self._property_names[1]
        data = self._request(
            "property list", "GET", self._paths.properties(), query=[("archived", "false")]
        )
        names = full_read.property_names(_results(data))
        self._property_names = (now, names)
        return names

    def read_full_contact(self, contact_id: str) -> FullContact | None:
        """Every property of one contact with its history, and its associated object ids.

        Properties go in the body of a batch read, not in a GET's query: an
        account's few hundred property names would overflow the URL (414).
        A read with history takes at most 50 inputs; this one takes one.
        The associations come from a single read that asks for no property.
        None when HubSpot has no such contact (an old id of a merged contact
        gives the merged one, whose ``id`` differs from ``requested_id``).
        """
        names = list(self.contact_property_names())
        body = {
            "inputs": [{"id": contact_id}],
            "properties": names,
            "propertiesWithHistory": names,
        }
        try:
            data = self._request(
                "contact full read", "POST", self._paths.contacts_batch(BATCH_READ), body=body
            )
        except SubjectAbsent:
            return None
        results = _results(data)
        if not results:
            return None
        record = results[0]
        current = str(record["id"])
        query = [
            ("archived", "false"),
            ("properties", "hs_object_id"),
            *(("associations", t) for t in full_read.ASSOCIATED_TYPES),
        ]
        try:
            linked = self._request(
                "contact associations read", "GET", self._paths.contact(current), query=query
            )
        except SubjectAbsent:  # deleted between the two reads
            return None
        return full_read.full_contact(record, linked or {}, requested=contact_id)

    # -- restriction property ------------------------------------------------

    def set_restricted(self, contact_ids: Sequence[str], restricted: bool) -> ContactWrites:
        """Set (or clear) hubsync's restriction property on these contacts, creating it first.

        The property (``RESTRICTION_PROPERTY``, in the ``hubsync`` group) is
        HubSpot's vocabulary and stays here; the answer is the batch
        update's, per contact.
        """
        if not contact_ids:
            return ContactWrites({})
        self._ensure_restriction_property()
        value = "true" if restricted else ""
        return self.update_contacts({c: {RESTRICTION_PROPERTY: value} for c in contact_ids})

    def restricted(self, contact_id: str) -> bool | None:
        """Whether the contact carries the restriction; None when HubSpot has no such contact."""
        found = self.get_contact(contact_id, properties=[RESTRICTION_PROPERTY])
        if found is None:
            return None
        return found.properties.get(RESTRICTION_PROPERTY) == "true"

    def _ensure_restriction_property(self) -> None:
        """Create the ``hubsync`` group and ``hubsync_processing_restricted`` once."""
        if self._property_ready:
            return
        try:
            self._request("property read", "GET", self._paths.property(RESTRICTION_PROPERTY))
        except SubjectAbsent:
            self._create_restriction_property()
        self._property_ready = True

    def _create_restriction_property(self) -> None:
        try:
            self._request("property group read", "GET", self._paths.group(RESTRICTION_GROUP))
        except SubjectAbsent:
            group = {"name": RESTRICTION_GROUP, "label": "hubsync", "displayOrder": -1}
            self._request("property group create", "POST", self._paths.groups(), body=group)
        prop = {
            "name": RESTRICTION_PROPERTY,
            "label": "Processing restricted (GDPR Art. 18)",
            "description": (
                "Set by hubsync: the controller has restricted processing of this person."
            ),
            "groupName": RESTRICTION_GROUP,
            "type": "enumeration",
            "fieldType": "booleancheckbox",
            "options": [
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ],
        }
        try:
            self._request("property create", "POST", self._paths.properties(), body=prop)
        except PermanentError as exc:
            if exc.http_status != 409:  # another worker created it first
                raise
        self._property_names = None  # the property list has one more

    # -- subscriptions -------------------------------------------------------

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
        found, unattributed = _batch_outcomes(
            chunk, data, "unsubscribe from all email", self._now()
        )
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
        found, unattributed = _batch_outcomes([email], data, operation, self._now())
        failure = found[email] or (unattributed[0] if unattributed else None)
        if failure is not None:
            raise failure
        results = _results(data)
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


def _results(data: Any) -> list[dict[str, Any]]:
    """The ``results`` of an answer, as a list of objects (empty when there are none)."""
    results = data.get("results") if isinstance(data, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []


def _contact(data: Mapping[str, Any], requested: str | None = None) -> HubSpotContact:
    properties = dict(data.get("properties") or {})
    merged = properties.get("hs_merged_object_ids") or ""
    return HubSpotContact(
        id=HubSpotContactId(str(data["id"])),
        properties=properties,
        requested_id=requested,
        merged_ids=tuple(m for m in str(merged).split(";") if m),
    )


ATTRIBUTION_KEYS = ("ids", "subscriberIdString", "emailAddress", "email", "objectId")
"""Where an error item of a batch answer may name its inputs (``context``; hubspot-fidelity.md)."""


def _batch_outcomes(
    keys: Sequence[str],
    data: Mapping[str, Any] | None,
    operation: str,
    now: datetime,
) -> tuple[dict[str, SyncError | None], list[SyncError]]:
    """Map a batch answer (errors in a 200, or a 207) back to its inputs: None for success.

    An error counts for the inputs its ``context`` names under any of
    ``ATTRIBUTION_KEYS`` (addresses compared case-insensitively). The
    errors that name none of them come back apart: the caller splits the
    batch until each is attributed, never failing every input for one.
    """
    outcomes: dict[str, SyncError | None] = dict.fromkeys(keys)
    folded = {str(k).strip().lower(): k for k in keys}
    unattributed: list[SyncError] = []
    for error in (data or {}).get("errors") or []:
        if not isinstance(error, dict):
            continue
        raw_context = error.get("context")
        context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
        named = [
            str(v).strip().lower()
            for key in ATTRIBUTION_KEYS
            for v in (context.get(key) or [])
            if isinstance(v, str | int) and not isinstance(v, bool)
        ]
        status = error.get("status")
        code = 404 if error.get("category") == "OBJECT_NOT_FOUND" else 400
        if isinstance(status, int):
            code = status
        failure = errors.from_status(code, error, None, operation=operation, now=now)
        matched = [folded[n] for n in named if n in folded]
        for item in matched:
            outcomes[item] = failure
        if not matched:
            unattributed.append(failure)
    return outcomes, unattributed
