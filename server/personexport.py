"""Everything stored about one volunteer, as one document (DSGVO Art. 15 access, Art. 20 portability).

:func:`export_person` builds it; the admin route (``GET /v1/admin/volunteers/{id}/export``)
and the volunteer's own (``/v1/me/export``) both call it, and
:mod:`server.personpdf` renders it as a PDF.  The document::

    {"type": "kokreativ.person_export", "v": 1, "generated_ms", "volunteer_id",
     "registered_ms", "erased_ms",                       # erased_ms null unless erased
     "personal_data": {"name", "ehrenamtskarte"} | null, # null once erased
     "cards": [card, …],          # IDs, kind, validity, block, coordinator flag
     "balance": tokens,
     "shifts": [shift, …], "ledger": [line, …], "redemptions": [redemption, …],
     "access": [row, …] | null, "sessions": [row, …] | null,
     "certificates": [row, …] | null, "prior_hours": [row, …] | null,
     "openings": [item, …]}

``access`` and ``sessions`` are the rows of :data:`EXPORT_TABLES` about the
person, ``null`` where this server keeps no such table; columns holding a
secret's hash are left out (:data:`WITHHELD_COLUMNS`): they are security data,
not the person's.  ``openings`` are what open the log entries about their cards,
the items ``GET /v1/me/openings`` answers (:func:`server.openings.volunteer_openings`),
so the export and the volunteer's own route agree item for item.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from protocol import Reason
from server import people
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.statements import Period, account

EXPORT_FORMATS: Final = ("json", "pdf")
EXPORT_TYPE: Final = "kokreativ.person_export"
EXPORT_VERSION: Final = 1
# A column whose name contains one of these holds a credential's hash: never exported.
WITHHELD_COLUMNS: Final = ("hash", "sha256", "secret", "token")


@dataclass(frozen=True, slots=True)
class ExportTable:
    """Rows of ``table`` whose ``column`` holds the volunteer's ID or one of their card IDs, as ``key``."""

    key: str
    table: str
    column: str
    of: Literal["volunteer", "cards"]


# One line per table another part keeps about a person; absent tables export as null.
EXPORT_TABLES: Final[tuple[ExportTable, ...]] = (
    ExportTable("access", "volunteer_access", "volunteer_id", "volunteer"),
    ExportTable("sessions", "sessions", "volunteer_id", "volunteer"),
    ExportTable("certificates", "certificates", "volunteer_id", "volunteer"),  # hours certificates issued
    ExportTable("prior_hours", "prior_hours", "volunteer_id", "volunteer"),  # engagement before the ledger
)


def _plain(value: Any) -> Any:
    """A column value as JSON: bytes as base64 (an opening's salt, say)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _exported(row: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _plain(value)
        for name, value in row.items()
        if not any(word in name.lower() for word in WITHHELD_COLUMNS)
    }


def export_person(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """The export document of ``volunteer_id`` (module docstring); ``404 unknown_volunteer``."""
    with ctx.storage.read() as tx:
        person = people.person(ctx, tx, volunteer_id)
        if person is None:
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        cards = tx.list_cards(volunteer_id)
        card_ids = [card.card_id for card in cards]
        document: dict[str, Any] = {
            "type": EXPORT_TYPE,
            "v": EXPORT_VERSION,
            "generated_ms": ctx.now_ms(),
            "volunteer_id": volunteer_id,
            "registered_ms": tx.volunteer_created_ms(volunteer_id),
            "erased_ms": tx.erased_ms(volunteer_id),
            "personal_data": None
            if person.name is None
            else {"name": person.name, "ehrenamtskarte": person.ehrenamtskarte},
            "cards": [card.to_json() for card in cards],
            "balance": tx.balance(volunteer_id),
            "shifts": [shift.to_json() for shift in tx.volunteer_shifts(volunteer_id)],
            "ledger": account(tx, volunteer_id, Period(0, None))["entries"],
            "redemptions": [r.to_json() for r in tx.volunteer_redemptions(volunteer_id)],
            "openings": [opening.to_json() for opening in tx.openings_of_volunteer(volunteer_id)],
        }
        for extra in EXPORT_TABLES:
            values = [volunteer_id] if extra.of == "volunteer" else card_ids
            rows = tx.linked_rows(extra.table, extra.column, values)
            document[extra.key] = None if rows is None else [_exported(row) for row in rows]
    return document


def parse_export_format(params: Mapping[str, str]) -> str:
    """``json`` (the default) or ``pdf``; ``400 bad_field`` otherwise."""
    value = params.get("format", "json")
    if value not in EXPORT_FORMATS:
        raise InputError(Reason.BAD_FIELD, f"format must be one of {', '.join(EXPORT_FORMATS)}")
    return value


def export_file(ctx: ServerContext, volunteer_id: str, fmt: str) -> dict[str, Any] | bytes:
    """The export as the JSON document, or (``fmt`` ``pdf``) as PDF bytes (:mod:`server.personpdf`)."""
    document = export_person(ctx, volunteer_id)
    if fmt == "pdf":
        from server.personpdf import render_pdf  # fpdf2 loads only when a PDF is asked for

        return render_pdf(document)
    return document
