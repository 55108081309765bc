"""Access and portability (GDPR Art. 15, 20): one document of everything held on a subject.

``AccessExporter.document`` puts together, for one register subject, every
HubSpot contact of theirs (every property with a value, each property's
history, the ids of associated companies, deals and tickets), the
subscription statuses of their email address, and the register's record.
The document follows the published schema ``sync/schemas/access-export.schema.json``.

``hubsync export`` writes it to a file or stdout (``Operator.export``);
the worker writes one per ``access`` event into ``[export] directory``
(``AccessExports``). Either way the audit log records that an export was
made, never what it holds, and every HubSpot read goes through the
client's shared rate budget.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sync.errors import PermanentError, SubjectUnknown
from sync.model import FullContact, PropertyVersion, StoredEvent, SubscriptionStatuses
from sync.ports import Clock, HubSpot, Register, SubjectMap
from sync.timefmt import iso_utc

SCHEMA_ID = "urn:hubsync:access-export:1"
"""The ``$id`` of the published schema, written into every document's ``schema``."""

EXPORTED = "subject_exported"
"""The audit action (and log event) of a finished export."""

WITHHELD = "sensitive_data_withheld"
"""The ``hubspot`` member naming the sensitivity levels the token could not read (if any)."""

MAX_FILE_STEM = 200

Progress = Callable[[int, int], None]
"""Called with (contacts read, contacts to read) as an export goes."""


def _version(version: PropertyVersion) -> dict[str, Any]:
    return {
        "value": version.value,
        "timestamp": iso_utc(version.timestamp),
        "source_type": version.source_type,
        "source_id": version.source_id,
        "source_label": version.source_label,
        "updated_by_user_id": version.updated_by_user_id,
    }


def contact_document(contact: FullContact) -> dict[str, Any]:
    """One contact as the export shows it (names sorted, so two exports compare line by line)."""
    return {
        "id": contact.id,
        "properties": dict(sorted(contact.properties.items())),
        "history": {
            name: [_version(v) for v in versions]
            for name, versions in sorted(contact.history.items())
        },
        "associations": {k: list(v) for k, v in sorted(contact.associations.items())},
    }


def withheld_levels(contacts: Sequence[FullContact]) -> list[str]:
    """The data sensitivity levels HubSpot withheld from any of the contacts, sorted.

    Sensitive Data is read only with its own scopes; when the token lacks
    them the export holds everything else and says what it could not read,
    so the controller knows the answer to the subject is not complete.
    """
    return sorted({level for c in contacts for level in c.withheld_sensitivity})


def subscriptions_document(email: str, statuses: SubscriptionStatuses) -> dict[str, Any]:
    """The subscription statuses of an address as the export shows them."""
    return {
        "email": email,
        "unsubscribed_from_all": statuses.unsubscribed_from_all,
        "statuses": dict(sorted(statuses.statuses.items())),
    }


def _plain_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """The register's record as plain JSON values (a register may hand back datetimes)."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(record), default=str))
    return plain


class AccessExporter:
    """Puts together the access document of a subject from HubSpot, the ledger and the register."""

    def __init__(
        self, hubspot: HubSpot, ledger: SubjectMap, register: Register, clock: Clock
    ) -> None:
        self._hubspot = hubspot
        self._ledger = ledger
        self._register = register
        self._clock = clock

    def close(self) -> None:
        """Release the register's connections (the ledger belongs to the caller)."""
        self._register.close()

    def document(
        self,
        subject_id: str,
        *,
        email: str | None = None,
        contact_ids: Sequence[str] = (),
        require_known: bool = True,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """The export document of one subject.

        The subject's HubSpot contacts are the ids the ledger maps to it (plus
        ``contact_ids``); with none, the one HubSpot finds by the subject's
        email (``email``, else the ledger's, else the register's). Raises
        ``SubjectUnknown`` when ``require_known`` and neither the ledger nor
        the register knows the subject (an operator's typo, most likely); an
        ``access`` event is answered even then, with an empty document.
        HubSpot and register failures propagate as ``SyncError``.
        """
        known = self._ledger.subject(subject_id)
        record = self._register.record(subject_id)
        if require_known and known is None and record is None:
            raise SubjectUnknown(
                f"no subject {subject_id}: neither the ledger nor the register knows it"
            )
        register_email = record.get("email") if record else None
        address = (
            email
            or (known.email if known else None)
            or (register_email if isinstance(register_email, str) and register_email else None)
        )
        ids = list(dict.fromkeys([*contact_ids, *(known.contact_ids if known else ())]))
        if not ids and address:
            found = self._hubspot.get_contact(address, by_email=True)
            if found is not None:
                ids = [found.id]
        contacts = self._contacts(ids, progress)
        statuses = self._hubspot.subscription_statuses(address) if address else None
        hubspot: dict[str, Any] = {
            "contacts": [contact_document(c) for c in contacts],
            "subscriptions": (
                subscriptions_document(address, statuses) if address and statuses else None
            ),
        }
        withheld = withheld_levels(contacts)
        if withheld:
            hubspot[WITHHELD] = withheld
        return {
            "schema": SCHEMA_ID,
            "subject_id": subject_id,
            "generated_at": iso_utc(self._clock.now()),
            "hubspot": hubspot,
            "register": _plain_json(record) if record is not None else None,
        }

    def _contacts(self, ids: Sequence[str], progress: Progress | None) -> list[FullContact]:
        """Each contact read in full once: two old ids of one merged contact give it once."""
        found: dict[str, FullContact] = {}
        for done, contact_id in enumerate(ids, start=1):
            contact = self._hubspot.read_full_contact(contact_id)
            if contact is not None:
                found.setdefault(contact.id, contact)
            if progress is not None:
                progress(done, len(ids))
        return list(found.values())


def render(document: Mapping[str, Any]) -> str:
    """The document as the file holds it: indented UTF-8 JSON, one trailing newline."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), all or nothing.

    The file is written beside its target and renamed over it, so a reader
    never sees half a document and a repeated export replaces the last one.
    ``mkstemp`` creates the file 0600 from the start: there is no moment at
    which the personal data in it is readable by others.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def file_name(event_id: str) -> str:
    """``<event_id>.json``, with anything that is not safe in a file name percent-encoded.

    Event ids come from the register and may hold ``/`` or ``..``; encoding
    keeps every file inside the export directory, one file per event.
    """
    stem = quote(event_id, safe="-_.~")
    if stem.startswith("."):  # no hidden files, no "." or ".."
        stem = "%2E" + stem[1:]
    if len(stem) > MAX_FILE_STEM:  # file names stop at 255 bytes
        stem = "event-" + hashlib.sha256(event_id.encode()).hexdigest()
    return stem + ".json"


class AccessExports:
    """Answers ``access`` events: one document per event in the export directory."""

    def __init__(self, exporter: AccessExporter, directory: Path) -> None:
        self._exporter = exporter
        self.directory = directory

    def export(
        self, event: StoredEvent, *, email: str | None, contact_ids: Sequence[str]
    ) -> tuple[Path, dict[str, Any]]:
        """Write the event's document to ``<directory>/<event_id>.json`` (0600); path and document.

        A file that cannot be written is a ``PermanentError`` naming the
        event and the error class (never the path's contents): an operator
        fixes the directory and replays the event.
        """
        document = self._exporter.document(
            event.subject_id, email=email, contact_ids=contact_ids, require_known=False
        )
        path = self.directory / file_name(event.event_id)
        try:
            write_private(path, render(document))
        except OSError as exc:
            raise PermanentError(
                f"the export of event {event.event_id} could not be written to "
                f"[export] directory ({type(exc).__name__})",
                code="export_not_written",
            ) from exc
        return path, document


def holds_anything(document: Mapping[str, Any]) -> bool:
    """Whether the document found the subject anywhere (HubSpot contacts or a register record)."""
    return bool(document["hubspot"]["contacts"]) or document["register"] is not None
