"""The public transparency log: checkpoints, tlog-tiles, proofs, keys and the economy's totals.

Anyone may read it; that is the point of it.  Nothing here is about one
person: per-volunteer balances are the auditor's (:mod:`server.http.audit`),
the public gets aggregates with small counts suppressed (:mod:`server.totals`).
An archived origin (a log that named cards, handed over to a new one:
:mod:`server.handover`) keeps its checkpoint, hash tiles and consistency
proofs public; its entries are the auditor's (:mod:`server.http.archive`).  The static resources
(``/checkpoint``, ``/tile/...``) use the tlog-tiles content types and caching:
the checkpoint is never cached, tiles are immutable, and entry bundles are
gzipped for clients that accept it.
"""

from __future__ import annotations

import gzip

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from server import certificates, logviews, totals
from server.http.access import public
from server.http.common import BINARY, IMMUTABLE, TEXT, accepts_gzip, call
from server.http.openapi import ARCHIVED, CERTIFICATE_CHECK, CONSISTENCY_IN, INCLUSION, doc

router = APIRouter(tags=["log"], dependencies=[Depends(public)])


@router.get("/checkpoint", **doc(errors=(), media=TEXT))
async def get_checkpoint(request: Request) -> Response:
    note = await call(request, logviews.checkpoint)
    return Response(note, media_type=TEXT, headers={"Cache-Control": "no-store"})


@router.get("/tile/{path:path}", **doc(media=BINARY))
async def get_tile(path: str, request: Request) -> Response:
    data = await call(request, logviews.read_tile, path)
    headers = {"Cache-Control": IMMUTABLE}
    if path.startswith("entries/"):
        headers["Vary"] = "Accept-Encoding"
        if accepts_gzip(request.headers.get("accept-encoding")):
            data = gzip.compress(data, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=BINARY, headers=headers)


@router.get("/v1/server-keys", **doc(errors=()))
async def get_server_keys(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.server_keys))


@router.get("/v1/log/key", **doc(errors=()))
async def get_log_key(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.log_key))


@router.get("/v1/log/consistency", **doc(query=CONSISTENCY_IN))
async def get_consistency(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.consistency, dict(request.query_params)))


@router.get("/v1/log/handover", **doc())
async def get_handover(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.handover))


@router.get("/v1/log/archive/checkpoint", **doc(query=ARCHIVED, media=TEXT))
async def get_archived_checkpoint(request: Request) -> Response:
    note = await call(request, logviews.archived_checkpoint, dict(request.query_params))
    return Response(note, media_type=TEXT, headers={"Cache-Control": "no-store"})


@router.get("/v1/log/archive/tile/{path:path}", **doc(query=ARCHIVED, media=BINARY))
async def get_archived_tile(path: str, request: Request) -> Response:
    """A Merkle tile of an archived log; its entry bundles are the auditor's (``/v1/audit/archive/tile``)."""
    params = dict(request.query_params)
    data = await call(request, logviews.read_archived_tile, path, params, entries=False)
    return Response(data, media_type=BINARY, headers={"Cache-Control": IMMUTABLE})


@router.get("/v1/log/inclusion", **doc(query=INCLUSION))
async def get_inclusion(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, logviews.inclusion, dict(request.query_params)))


@router.get("/v1/log/entries/{index}/proof", **doc(media=TEXT))
async def get_entry_proof(index: str, request: Request) -> Response:
    return Response(await call(request, logviews.entry_proof, index), media_type=TEXT)


@router.get("/v1/log/entries/{index}", **doc())
async def get_entry(index: str, request: Request) -> JSONResponse:
    """An entry and its tlog-proof in one answer: what ``/pruefen`` and a volunteer's receipts check."""
    return JSONResponse(await call(request, logviews.entry_with_proof, index))


@router.get("/v1/log/totals", **doc(errors=()))
async def get_log_totals(request: Request) -> JSONResponse:
    return JSONResponse(await call(request, totals.public_totals))


@router.get("/v1/log/certificates/check", **doc(query=CERTIFICATE_CHECK, errors=(400, 409)))
async def get_certificate_check(request: Request) -> JSONResponse:
    """Check an hours certificate (Nachweis) against the live log; read-only, so anyone may ask."""
    answer = await call(request, certificates.check_certificate, dict(request.query_params))
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})
