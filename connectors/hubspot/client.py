"""``HubSpotClient``: the HubSpot port over ``hubspot-api-client`` and ``requests``.

- Contacts, GDPR delete, properties and communication preferences v3 go
  through the official client's typed APIs. Their API objects are built
  once and cached (each attribute access of the client builds a new
  connection pool), and every call carries a timeout (the client has none).
- Communication preferences v4 and account info, which the client does not
  wrap, go through one ``requests.Session`` with the same token and base URL.
  ``client.api_request`` would serve too, but it has no timeout and prints
  the failing URL (an email address, for by-email paths) to stdout.
- Every call first takes room from the shared ``RateBudget``, and its answer's
  rate-limit headers correct it. Transient failures are retried a few times
  here with tenacity (all calls are idempotent); anything longer goes back to
  the ledger.
- Errors are translated at this edge (``connectors.hubspot.errors``); nothing
  raised from here carries a body, an email or a value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests
import urllib3
from hubspot import HubSpot as OfficialClient
from hubspot.communication_preferences import PublicUpdateSubscriptionStatusRequest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicGdprDeleteInput,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from connectors.hubspot import errors, full_read
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
        in_call_attempts: int = 3,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = access_token
        self._budget = budget
        self._timeout = timeout_s
        self._v3_subscriptions = subscriptions_api == "v3"
        self._attempts = in_call_attempts
        self._now = now
        self._session: requests.Session | None = None
        self._property_ready = False
        self._property_names: tuple[datetime, tuple[str, ...]] | None = None

    # -- plumbing ----------------------------------------------------------

    @functools.cached_property
    def _apis(self) -> dict[str, Any]:
        """The typed API objects, built once (each builds its own connection pool)."""
        # urllib3 would retry reads on its own (three times by default), multiplying
        # timeouts and logging the URL (an email address, for by-email reads): retries
        # are tenacity's job here, so the pool's are off.
        client = OfficialClient(
            access_token=self._token,
            host=self.base_url,
            base_url=self.base_url,
            retry=urllib3.util.Retry(total=False, redirect=False),
        )
        return {
            "basic": client.crm.contacts.basic_api,
            "batch": client.crm.contacts.batch_api,
            "properties": client.crm.properties.core_api,
            "groups": client.crm.properties.groups_api,
            "status": client.communication_preferences.status_api,
        }

    def _http(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.headers.update(
                {
                    "Authorization": f"Bearer {self._token}",
                    "Accept": "application/json",
                    "User-Agent": "hubsync",
                }
            )
            self._session = session
        return self._session

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
        except requests.RequestException as exc:
            raise errors.from_transport(exc, operation=operation) from exc
        except Exception as exc:  # the official client's ApiException, one class per package
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                raise
            if status == 0:  # TLS failures come back as status 0
                raise errors.from_transport(exc, operation=operation) from exc
            body, headers = getattr(exc, "body", None), getattr(exc, "headers", None)
            raise self._failed(status, body, headers, operation) from exc

    def _failed(
        self, status: int, body: Any, headers: Mapping[str, Any] | None, operation: str
    ) -> SyncError:
        error = errors.from_status(status, body, headers, operation=operation, now=self._now())
        if isinstance(error, RateLimited):
            self._budget.rate_limited(error.policy, error.retry_after_s or 10.0)
        return error

    def _typed(self, operation: str, fn: Callable[[], tuple[Any, int, Any]]) -> Any:
        """A ``*_with_http_info`` call: returns the data, feeds the headers to the budget."""

        def run() -> Any:
            data, _status, headers = fn()
            self._budget.observe(headers)
            return data

        return self._call(operation, run)

    def _raw(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """A call the official client does not wrap, through the requests session."""

        def run() -> Any:
            response = self._http().request(
                method, self.base_url + path, params=params, json=body, timeout=self._timeout
            )
            self._budget.observe(response.headers)
            if response.status_code not in ok:
                raise self._failed(
                    response.status_code, response.content, response.headers, operation
                )
            return response.json() if response.content else None

        return self._call(operation, run)

    # -- account -----------------------------------------------------------

    def hosting_location(self) -> str:
        """The account's ``dataHostingLocation``, lower case."""
        data = self._raw("account details", "GET", "/account-info/v3/details")
        location = data.get("dataHostingLocation") if isinstance(data, dict) else None
        if not isinstance(location, str) or not location:
            raise PermanentError("account details carry no dataHostingLocation", code="residency")
        return location.strip().lower()

    def granted_scopes(self) -> list[str]:
        """The scopes HubSpot granted this private app's token (access-token info).

        The token goes in the body as HubSpot asks (``tokenKey``) and in the
        Authorization header too, which EU-hosted tokens need; neither is logged.
        """
        data = self._raw(
            "access token info",
            "POST",
            "/oauth/v2/private-apps/get/access-token-info",
            body={"tokenKey": self._token},
        )
        scopes = data.get("scopes") if isinstance(data, dict) else None
        if not isinstance(scopes, list):
            raise PermanentError("access token info carries no scopes", code="scopes")
        return sorted(str(s) for s in scopes)

    # -- contacts ----------------------------------------------------------

    def get_contact(
        self, key: str, *, by_email: bool = False, properties: Sequence[str] = ()
    ) -> HubSpotContact | None:
        """One contact by id or by email; None on 404."""
        kwargs: dict[str, Any] = {"_request_timeout": self._timeout, "archived": False}
        if properties:
            kwargs["properties"] = list(properties)
        if by_email:
            kwargs["id_property"] = "email"
        try:
            data = self._typed(
                "contact read",
                lambda: self._apis["basic"].get_by_id_with_http_info(key, **kwargs),
            )
        except SubjectAbsent:
            return None
        return _contact(data.to_dict(), requested=key)

    def read_contacts(
        self, ids: Sequence[str], properties: Sequence[str] = ()
    ) -> list[HubSpotContact]:
        """Contacts by id in batches of 100; missing ones are simply absent."""
        found: list[HubSpotContact] = []
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = list(ids[start : start + BATCH_LIMIT])
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in chunk],
                properties=list(properties),
                properties_with_history=[],
            )
            read = functools.partial(
                self._apis["batch"].read_with_http_info, request, _request_timeout=self._timeout
            )
            try:
                data = self._typed("contact batch read", read)
            except SubjectAbsent:
                continue
            found.extend(_contact(r) for r in (data.to_dict().get("results") or []))
        return found

    def update_contacts(self, updates: Mapping[str, Mapping[str, str]]) -> ContactWrites:
        """Batch update by contact id (100 at a time); a 207 maps back to each id.

        HubSpot answers an old id of a merged contact with the merged record;
        its ``hs_merged_object_ids`` names the ids asked for, so ``renamed``
        tells the caller to re-key.
        """
        outcomes: dict[str, SyncError | None] = {}
        renamed: dict[str, str] = {}
        ids = list(updates)
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[start : start + BATCH_LIMIT]
            request = BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(id=i, properties=dict(updates[i])) for i in chunk
                ]
            )
            update = functools.partial(
                self._apis["batch"].update_with_http_info, request, _request_timeout=self._timeout
            )
            data = self._typed("contact batch update", update).to_dict()
            outcomes.update(_batch_outcomes(chunk, data, "contact batch update", self._now()))
            asked = set(chunk)
            for result in data.get("results") or []:
                contact = _contact(result)
                for old in (set(contact.merged_ids) & asked) - {contact.id}:
                    renamed[old] = contact.id
        return ContactWrites(outcomes, renamed)

    def gdpr_delete(self, key: str, *, by_email: bool = False) -> None:
        """Permanent delete; by email it also blocklists the address. A 404 means already gone."""
        request = PublicGdprDeleteInput(object_id=key, id_property="email" if by_email else None)
        try:
            self._typed(
                "GDPR delete",
                lambda: self._apis["basic"].purge_with_http_info(
                    request, _request_timeout=self._timeout
                ),
            )
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
        data = self._typed(
            "property list",
            lambda: self._apis["properties"].get_all_with_http_info(
                "contacts", archived=False, _request_timeout=self._timeout
            ),
        )
        names = full_read.property_names(data.to_dict().get("results") or [])
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
        request = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=contact_id)],
            properties=names,
            properties_with_history=names,
        )
        read = functools.partial(
            self._apis["batch"].read_with_http_info, request, _request_timeout=self._timeout
        )
        try:
            results = self._typed("contact full read", read).to_dict().get("results") or []
        except SubjectAbsent:
            return None
        if not results:
            return None
        record = results[0]
        current = str(record["id"])
        try:
            linked = self._typed(
                "contact associations read",
                lambda: self._apis["basic"].get_by_id_with_http_info(
                    current,
                    properties=["hs_object_id"],
                    associations=list(full_read.ASSOCIATED_TYPES),
                    archived=False,
                    _request_timeout=self._timeout,
                ),
            )
        except SubjectAbsent:  # deleted between the two reads
            return None
        return full_read.full_contact(record, linked.to_dict(), requested=contact_id)

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
            self._typed(
                "property read",
                lambda: self._apis["properties"].get_by_name_with_http_info(
                    "contacts", RESTRICTION_PROPERTY, _request_timeout=self._timeout
                ),
            )
        except SubjectAbsent:
            self._create_restriction_property()
        self._property_ready = True

    def _create_restriction_property(self) -> None:
        try:
            self._typed(
                "property group read",
                lambda: self._apis["groups"].get_by_name_with_http_info(
                    "contacts", RESTRICTION_GROUP, _request_timeout=self._timeout
                ),
            )
        except SubjectAbsent:
            group = PropertyGroupCreate(name=RESTRICTION_GROUP, label="hubsync", display_order=-1)
            self._typed(
                "property group create",
                lambda: self._apis["groups"].create_with_http_info(
                    "contacts", group, _request_timeout=self._timeout
                ),
            )
        prop = PropertyCreate(
            name=RESTRICTION_PROPERTY,
            label="Processing restricted (GDPR Art. 18)",
            description="Set by hubsync: the controller has restricted processing of this person.",
            group_name=RESTRICTION_GROUP,
            type="enumeration",
            field_type="booleancheckbox",
            options=[
                {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
            ],
        )
        try:
            self._typed(
                "property create",
                lambda: self._apis["properties"].create_with_http_info(
                    "contacts", prop, _request_timeout=self._timeout
                ),
            )
        except PermanentError as exc:
            if exc.http_status != 409:  # another worker created it first
                raise
        self._property_names = None  # the property list has one more

    # -- subscriptions -------------------------------------------------------

    def unsubscribe_all(self, emails: Sequence[str]) -> dict[str, SyncError | None]:
        """Unsubscribe each address from all email (v4 batch, or v3 per definition)."""
        if self._v3_subscriptions:
            return self._v3_unsubscribe_all(emails)
        outcomes: dict[str, SyncError | None] = {}
        for start in range(0, len(emails), BATCH_LIMIT):
            chunk = list(emails[start : start + BATCH_LIMIT])
            data = self._raw(
                "unsubscribe from all email",
                "POST",
                "/communication-preferences/v4/statuses/batch/unsubscribe-all",
                params={"channel": "EMAIL"},
                body={"inputs": chunk},
                ok=(200, 207),
            )
            outcomes.update(_batch_outcomes(chunk, data, "unsubscribe from all email", self._now()))
        return outcomes

    def subscription_statuses(self, email: str) -> SubscriptionStatuses:
        """One address's subscription statuses and opt-out of all email.

        v4 reads them with the two batch reads (the address travels in the
        body, never in a URL that proxies log); v3 with its status read, which
        cannot show single opt-outs (``full_read.v3_statuses``).
        """
        if self._v3_subscriptions:
            answer = self._typed(
                "subscription status read",
                lambda: self._apis["status"].get_email_status_with_http_info(
                    email, _request_timeout=self._timeout
                ),
            )
            return full_read.v3_statuses(answer.to_dict())
        statuses = self._one_address(
            "subscription status read", "/communication-preferences/v4/statuses/batch/read", email
        )
        wide = self._one_address(
            "unsubscribe-all status read",
            "/communication-preferences/v4/statuses/batch/unsubscribe-all/read",
            email,
        )
        return full_read.v4_statuses(statuses, wide)

    def _one_address(self, operation: str, path: str, email: str) -> dict[str, Any] | None:
        """The result item of a v4 batch read of one address; its error, raised."""
        data = self._raw(
            operation,
            "POST",
            path,
            params={"channel": "EMAIL"},
            body={"inputs": [email]},
            ok=(200, 207),
        )
        failure = _batch_outcomes([email], data, operation, self._now())[email]
        if failure is not None:
            raise failure
        results = (data or {}).get("results") or []
        return results[0] if results and isinstance(results[0], dict) else None

    def _v3_unsubscribe_all(self, emails: Sequence[str]) -> dict[str, SyncError | None]:
        definitions = self._raw(
            "subscription definitions", "GET", "/communication-preferences/v3/definitions"
        )
        ids = [str(d["id"]) for d in (definitions or {}).get("subscriptionDefinitions", [])]
        outcomes: dict[str, SyncError | None] = {}
        for email in emails:
            try:
                self.set_subscriptions(email, ids, subscribed=False)
                outcomes[email] = None
            except SyncError as exc:
                outcomes[email] = exc
        return outcomes

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
                self._v3_set(email, subscription_id, subscribed, legal_basis, explanation)
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
        data = self._raw(
            "subscription status write",
            "POST",
            "/communication-preferences/v4/statuses/batch/write",
            body={"inputs": inputs},
            ok=(200, 207),
        )
        for error in (data or {}).get("errors") or []:
            code = error.get("status") if isinstance(error.get("status"), int) else 400
            raise errors.from_status(
                code, error, None, operation="subscription status write", now=self._now()
            )

    def _v3_set(
        self,
        email: str,
        subscription_id: str,
        subscribed: bool,
        legal_basis: str | None,
        explanation: str | None,
    ) -> None:
        request = PublicUpdateSubscriptionStatusRequest(
            email_address=email,
            subscription_id=str(subscription_id),
            legal_basis=legal_basis,
            legal_basis_explanation=explanation,
        )
        api = self._apis["status"]
        method = api.subscribe_with_http_info if subscribed else api.unsubscribe_with_http_info
        try:
            self._typed(
                "subscription status write",
                lambda: method(request, _request_timeout=self._timeout),
            )
        except PermanentError as exc:
            # v3 answers 400 when the address already has the asked status.
            if exc.http_status != 400:
                raise


def _contact(data: Mapping[str, Any], requested: str | None = None) -> HubSpotContact:
    properties = dict(data.get("properties") or {})
    merged = properties.get("hs_merged_object_ids") or ""
    return HubSpotContact(
        id=HubSpotContactId(str(data["id"])),
        properties=properties,
        requested_id=requested,
        merged_ids=tuple(m for m in str(merged).split(";") if m),
    )


def _batch_outcomes(
    keys: Sequence[str],
    data: Mapping[str, Any] | None,
    operation: str,
    now: datetime,
) -> dict[str, SyncError | None]:
    """Map a batch answer (200 or 207) back to its inputs: None for success."""
    outcomes: dict[str, SyncError | None] = dict.fromkeys(keys)
    for error in (data or {}).get("errors") or []:
        ids = ((error.get("context") or {}).get("ids")) or []
        status = error.get("status")
        code = 404 if error.get("category") == "OBJECT_NOT_FOUND" else 400
        if isinstance(status, int):
            code = status
        failure = errors.from_status(code, error, None, operation=operation, now=now)
        matched = [i for i in ids if i in outcomes]
        for item in matched or ([] if ids else list(keys)):
            outcomes[item] = failure
    return outcomes
