"""`hubsync sandbox`: a local emulator of the part of HubSpot's API that hubsync uses.

The official `hubspot-api-client` works against it unchanged when given both `host=` (typed
APIs) and `base_url=` (`api_request`). Start it with `server.running_sandbox(config)` in
tests, `server.serve(config)` or the `command.sandbox_command` click command otherwise.
Paths, bodies, errors and headers follow shared/reference/hubspot-api.md; the control API
under `/_sandbox` follows DESIGN.md section 6 (plus `health`, `webhooks`, `validation`, and
the actions `create` and `restore`). The 2026-09 paths hubsync calls are served beside the
v3/v4 ones (hubspot-2026.md section 4.1): their batches report per-item failures inside a
200, and their writes obey the validation rules of `POST /_sandbox/validation`
(`sandbox.validation`; 400 `VALIDATION_ERROR`, naming the records or not).

Where the reference marks a fact uncertain (or says nothing), the sandbox picks:

* Batches: at most 100 inputs (50 with `propertiesWithHistory`), 400 above; the v4
  comm-prefs batches take 100 too. Batch create is all-or-nothing (first error's status)
  unless every input has a unique `objectWriteTraceId`, then failures are per item (207);
  batch read/update/upsert report per-item errors in a 207. Upsert accepts
  `idProperty=email`; without `idProperty` an unknown id is a per-item 404.
* Search: 5 filter groups, 10 filters per group, 25 in all, `limit` <= 200, 10,000 rows
  reachable; 4 calls per second per token, exempt from the ten-secondly window, counted in
  the daily budget. Its 429 has no `policyName` (message "You have reached your secondly
  limit."). Search answers carry `X-HubSpot-RateLimit-Secondly(-Remaining)` and the daily
  headers instead of the ten-secondly ones. There is no index lag.
* Rate limits: only accepted calls count; no `Retry-After` on 429 unless
  `retry_after_header`; daily headers are sent (as for private-app tokens) and the day
  resets at UTC midnight. The 401 body is the same for a missing and a wrong token.
* GDPR delete: by an unknown email 204 (and blocklisted); by an unknown id 404; archived
  contacts can be GDPR-deleted. It emits `contact.privacyDeletion` and, for a
  contact that was not archived, `contact.deletion` ("The privacyDeletion event will
  also trigger the normal contact.delete event", developers.hubspot.com changelog
  "now-live-webhooks-now-support-privacy-compliant-contact-deletions"); the order is
  undocumented, so `gdpr_deletion_first` sends the deletion first. Archive (`DELETE`)
  of an unknown id is 204; archiving frees the email for new contacts, and restoring
  then fails with 409.
* Merge: an unknown id is 404; the primary's values win; the secondary's email goes to
  `hs_additional_emails` and still resolves with `idProperty=email`;
  `hs_merged_object_ids` is `;`-joined in ascending order; only `contact.merge` is emitted,
  with `objectId` = `newObjectId`.
* Webhook payloads: API writes are `changeSource` `INTEGRATION` with `sourceId` = app id;
  CRM edits `CRM_UI`/`userId:1`; forms `FORM`; unsubscribe links `EMAIL`. Creation carries
  `changeFlag` `NEW` and one `propertyChange` per property set (never for
  `hs_object_id`, `createdate`, `lastmodifieddate`). `subscriptionId`s are synthetic.
* Webhook delivery: every non-2xx answer (4xx included), timeout or connection error is
  retried, with exponential (not randomised) backoff; the v1 signature is sent beside v3;
  the body is compact JSON with ASCII escapes; the v3 URI is `webhook_url` exactly as
  configured (no percent-decoding).
* Communication preferences: the portal has GDPR features on, so `legalBasis` and
  `legalBasisExplanation` are required to subscribe (v3 subscribe, v4 `SUBSCRIBED`) and
  validated whenever given. v3 refuses (400) to resubscribe an opted-out address and to
  repeat a subscribe or unsubscribe; v4 answers `NO_STATUS_CHANGE` to a repeat,
  `RESUBSCRIBE_OCCURRED` to a resubscribe (which also lifts an unsubscribe-from-all), and
  unsubscribe-all sets every type `UNSUBSCRIBED`. An unknown subscription id is 400.
  `hs_email_optout` and `hs_email_optout_<id>` are read-only through the contacts API and
  follow the statuses (`"true"`/`"false"`), emitting `propertyChange` events.
* Contacts: emails are stored lower-cased and EQ/IN compare case-insensitively; requested
  properties that exist but are empty come back as null, unknown ones are left out; unknown
  or read-only properties in a write are a 400 `VALIDATION_ERROR`. A duplicate property
  or group is a 409 `OBJECT_ALREADY_EXISTS`.
* Account: `dataHostingLocation` is echoed as configured (default `eu1`); `uiDomain` is
  derived from it. `hs_legal_basis` option values equal their labels.
* Token info (`POST /oauth/v2/private-apps/get/access-token-info`): answers `userId`,
  `hubId`, `appId` and `scopes` (`SandboxConfig.scopes`: every scope hubsync needs unless
  some are dropped); a `tokenKey` other than the configured token is 401. Like every API
  call it needs the Bearer header (HubSpot needs it only for EU tokens) and counts in the
  rate limits. The request log shows `tokenKey` redacted.
* Generic events (`webhook_generic_events`): creation, deletion, merge, restore and
  property changes are sent as `object.*` with `objectTypeId` `0-1`, as a project's
  `crmObjects` subscriptions get them; `contact.privacyDeletion` has no generic form.
* Credentials (`SandboxConfig.credential`): a project app's static token and a legacy
  private app's behave alike here (Bearer token, v3 and v1 signed webhooks); a
  `service_key` gets no webhooks: none are sent, and `POST /_sandbox/webhooks` with a URL
  is a 400 ("Service Keys do not support webhooks", developers.hubspot.com changelog
  "service-keys").
* Faults: an injected error has category `INTERNAL_ERROR` (5xx) or `VALIDATION_ERROR`
  (4xx); a held call is answered 504 after `timeout_hold_s`, or when the server stops.
"""
