"""The archived log's entries, for the auditor only (permission ``audit_log``).

A log that named card and volunteer IDs (entry v1) was handed over to a new
origin (:mod:`server.handover`).  Its hash tiles, final checkpoint and proofs
stay public (:mod:`server.http.log`), because kiosks and auditors checked
against them; its entries are the timeline the hand-over ends, so only a
principal with ``audit_log`` reads them.
"""

from __future__ import annotations

import gzip

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from server import logviews
from server.http.access import Permission, economy, require
from server.http.common import BINARY, accepts_gzip, call
from server.http.openapi import ADMIN, ARCHIVED, doc

router = APIRouter(tags=["audit"])


@router.get(
    "/v1/audit/archive/tile/{path:path}",
    dependencies=[Depends(require(Permission.AUDIT_LOG, scope=economy))],
    **doc(query=ARCHIVED, media=BINARY, errors=ADMIN),
)
async def get_archived_tile(path: str, request: Request) -> Response:
    params = dict(request.query_params)
    data = await call(request, logviews.read_archived_tile, path, params, entries=True)
    # Not cacheable by shared caches: the answer depends on who asks.
    headers = {"Cache-Control": "private, no-store", "Vary": "Accept-Encoding"}
    if path.startswith("entries/") and accepts_gzip(request.headers.get("accept-encoding")):
        data = gzip.compress(data, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=BINARY, headers=headers)
