"""What opens the log's commitments, for the designated auditor (``GET /v1/audit/openings``).

A log that names no card (entry v2) commits to each card instead; the server
keeps the openings off the log, in ``openings``, by the index of the entry
each opens.  The auditor (permission ``audit_log``) pages through them in
index order and, with the public log, replays the whole economy
(``docs/privacy.md``).  A stranger gets none of this.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from protocol import Reason
from protocol.encoding import MAX_SAFE_INT
from server.context import ServerContext
from server.errors import InputError

DEFAULT_LIMIT: Final = 1000
MAX_LIMIT: Final = 1000  # a page is at most ~200 KB of JSON
_QUERY: Final = frozenset({"after", "limit"})
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,15}")


def _decimal(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not _DECIMAL.fullmatch(value) or not low <= int(value) <= high:
        raise InputError(Reason.BAD_FIELD, f"{name} must be a decimal integer from {low} to {high}")
    return int(value)


def list_openings(ctx: ServerContext, params: Mapping[str, str]) -> dict[str, Any]:
    """``{"size", "openings": [...], "next"}``: the openings of entries after index ``after``, by index.

    ``after`` (default: none, so from entry 0) and ``limit`` (1 to :data:`MAX_LIMIT`,
    default :data:`DEFAULT_LIMIT`) page through them; ``next`` is the ``after`` of the
    next page, ``null`` when this page holds the last one.  ``size`` is the log's size
    when it was read: every opening of an entry below it is in this page or an earlier one.
    Each item is :meth:`server.models.LogOpening.to_json` (``docs/protocol.md``,
    "Openings"): an event's card, salt, sealed ``{clock, data, kind}``, kiosk, seq,
    exact ``received_ms``, flags, ``issued`` and ``redeemed`` (an ``event_sealed``'s
    also its v1 ``body`` and ``sig``); a decision's ``issued`` and ``redeemed`` (and
    card and salt for a ``manual_shift``); a card's card, volunteer and salt; a block's card and salt.
    """
    unknown = sorted(set(params) - _QUERY)
    if unknown:
        raise InputError(Reason.BAD_FIELD, f"unknown query parameter {unknown[0][:40]!r}")
    after = _decimal(params, "after", -1, 0, MAX_SAFE_INT)
    limit = _decimal(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    with ctx.storage.read() as tx:
        size = tx.tlog_size()
        page = tx.openings_after(after, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    return {
        "size": size,
        "openings": [opening.to_json() for opening in page],
        "next": page[-1].log_index if more else None,
    }


def volunteer_openings(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """``{"size", "openings": [...]}``: the openings of the entries about the volunteer's own cards.

    ``GET /v1/me/openings``: the items of ``GET /v1/audit/openings`` for their
    card registrations, taps, redemptions and decisions naming their cards, so a
    volunteer can check each of their receipts against the public log.
    """
    with ctx.storage.read() as tx:
        size = tx.tlog_size()
        page = tx.openings_of_volunteer(volunteer_id)
    return {"size": size, "openings": [opening.to_json() for opening in page]}


def openings_jsonl(ctx: ServerContext) -> bytes:
    """Every opening, one JSON object per line in index order, as the route's items.

    The designated auditor's ``openings.jsonl`` when the operator hands the
    material over as files (``server export-log --auditor DIR``): personal data
    under pseudonyms, to be written ``0600`` in a ``0700`` folder.  One read
    transaction, so the lines agree with one log size.
    """
    lines: list[bytes] = []
    with ctx.storage.read() as tx:
        after = -1
        while page := tx.openings_after(after, MAX_LIMIT):
            lines.extend(
                json.dumps(o.to_json(), sort_keys=True, separators=(",", ":")).encode() for o in page
            )
            after = page[-1].log_index
    return b"".join(line + b"\n" for line in lines)
