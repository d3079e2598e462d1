"""``/pruefen``: the latest signed checkpoint, how to check it with standard tools, any entry in the browser.

Public and read-only, like the log itself.  The page shows the checkpoint text
exactly as ``GET /checkpoint`` serves it, the verifier key the server announces
(with the advice to compare it with the one the programme publishes), shell
recipes for ``curl``, ``openssl`` and ``kokreativ verify``, and a form that
checks one entry in the browser (``static/verify.js``).  Without JavaScript the
same form answers the entry and its tlog-proof as text, to save and check with
``kokreativ verify proof``.

``/pruefen/meldungen/<lang>`` gives verify.js its texts in the page's
language, so a page that includes the script (the volunteer's ``/ich``) needs
no more than the ``data-kk-verify-*`` hooks; a page may instead render
``public/verify_messages.html`` and save the request.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from protocol import Reason
from protocol.checkpoint import parse_checkpoint_text
from protocol.note import parse_note
from server import logviews
from server.context import ServerContext
from server.errors import ServiceError
from server.http.access import public
from server.http.common import call
from server.web import web
from server.web.i18n import LANGUAGES
from server.web.nav import N_

pages = APIRouter(tags=["pages"], dependencies=[Depends(public)])

# verify.js's outcome codes (ok_*, or a reason code) -> the message shown; %(index)s, %(size)s filled in.
MESSAGES: Final[Mapping[str, str]] = {
    "checking": N_("Checking …"),
    "ok_receipt": N_(
        "Checked. This receipt is entry %(index)s of the public log. The log's signature is valid. "
        "The entry belongs to your card."
    ),
    "ok_entry": N_(
        "Checked. Entry %(index)s is in the public log of %(size)s entries. The log's signature is valid."
    ),
    "bad_signature": N_("Warning: the log's signature is not valid. Do not rely on this answer."),
    "note_unverified": N_(
        "Warning: the log is not signed with the key given. "
        "Compare the key with the one the programme publishes."
    ),
    "bad_note": N_("Warning: the log's signed state is damaged."),
    "bad_checkpoint": N_("Warning: the signed state belongs to another log."),
    "bad_proof": N_("Warning: the proof does not fit the signed log. The entry may have been changed."),
    "log_inconsistent": N_(
        "Warning: the log no longer fits what this browser checked before. "
        "Its history may have been rewritten. Please tell the programme."
    ),
    "opening_mismatch": N_("Warning: this entry does not belong to your receipt."),
    "not_mine": N_("This entry is not one of your receipts."),
    "signed_out": N_("You are signed out. Open your page with your code again to check your receipts."),
    "not_found": N_("The log has no such entry (yet)."),
    "bad_index": N_("Enter the number of an entry: 0, 1, 2 …"),
    "bad_key": N_("The verifier key is not valid. It looks like name+1a2b3c4d+AV…"),
    "unsupported": N_(
        "This browser cannot do the check. "
        "Use a current browser or one of the tools described on the Check page."
    ),
    "unreachable": N_("The check did not work just now. Please try again later."),
    "failed": N_("The check did not work just now. Please try again later."),
}
MAX_INDEX_CHARS: Final = 16


def messages(request: Request) -> dict[str, str]:
    """verify.js's texts in the language of ``request``."""
    pages_ = web(request)
    return {code: pages_.gettext(request, text) for code, text in MESSAGES.items()}


def _latest(ctx: ServerContext) -> dict[str, Any]:
    """The latest checkpoint as served, its parts, and the verifier key the server announces."""
    note = logviews.checkpoint(ctx)
    parsed = parse_checkpoint_text(parse_note(note).text)
    return {
        "note": note.decode("utf-8"),
        "origin": parsed.origin,
        "size": parsed.size,
        "root": base64.b64encode(parsed.root_hash).decode(),
        "root_hex": parsed.root_hash.hex(),
        "key": logviews.log_key(ctx)["verifier_key"],
        # The last tile of this size (full or partial), for the curl example.
        "tile": logviews.tile_index_path(max(parsed.size - 1, 0) // logviews.TILE_WIDTH)
        + (f".p/{parsed.size % logviews.TILE_WIDTH}" if parsed.size % logviews.TILE_WIDTH else ""),
    }


def _entry(ctx: ServerContext, index: str) -> dict[str, Any]:
    """Entry ``index`` and its tlog-proof as text, or ``{"missing": True}`` (the page says so, no 404)."""
    try:
        answer = logviews.entry_with_proof(ctx, index)
    except ServiceError as error:
        if error.reason is not Reason.NOT_FOUND:
            raise
        return {"index": index, "missing": True}
    entry = base64.b64decode(answer["entry"])
    shown = json.dumps(json.loads(entry), indent=2, ensure_ascii=False)
    return {"index": index, "missing": False, "entry": shown, "proof": answer["proof"]}


@pages.get("/pruefen", include_in_schema=False)
async def check_page(request: Request) -> Response:
    """The page; with ``?index=N`` also entry N and its proof as text (the form's answer without JS)."""
    latest = await call(request, _latest)
    index = (request.query_params.get("index") or "").strip()[:MAX_INDEX_CHARS]
    entry = await call(request, _entry, index) if index else None
    return web(request).page(
        request,
        "public/pruefen.html",
        latest=latest,
        entry=entry,
        index=index,
        base_url=str(request.base_url).rstrip("/"),
        verify_messages=messages(request),
    )


@pages.get("/pruefen/meldungen/{code}", include_in_schema=False)
async def check_messages(code: str, request: Request) -> Response:
    """verify.js's texts in language ``code`` (the page's ``<html lang>``) for a page that renders none."""
    if code not in LANGUAGES:
        raise ServiceError(Reason.NOT_FOUND, "no such language")
    pages_ = web(request)
    catalogue = pages_.translations[code]
    texts = {outcome: catalogue.ugettext(text) for outcome, text in MESSAGES.items()}
    response = JSONResponse(texts, headers={"Cache-Control": "public, max-age=3600"})
    return pages_.finish(request, response)
