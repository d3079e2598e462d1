"""Kiosk health: signed heartbeats, the clock offset they show, and which kiosks went silent.

Health is operational, not ledger.  Heartbeats live in ``kiosk_health``, one
row per kiosk that each heartbeat replaces, and never enter the transparency
log: nothing a heartbeat says moves a token, and a log entry a minute per
kiosk would bury the facts the log is for.

:func:`record_heartbeat` checks, in this order, and refuses with the reason code:

1. the body is JSON (``malformed_request``);
2. the kiosk is enrolled (``unknown_kiosk``, 404) and not revoked (``kiosk_revoked``, 403).
   A *suspended* kiosk's heartbeats are taken: while a coordinator investigates an
   equivocation, knowing that the kiosk still runs is exactly what helps;
3. the body is ``{"body", "sig"}`` (``bad_field``), its enrolled key signed the body
   (``bad_signature``), which is a v1 heartbeat (``bad_field``, ``unknown_type`` …)
   for this kiosk (``kiosk_mismatch``).

Then it measures the clock offset (server now − ``sent_ms``) and stores the
heartbeat, unless the stored one arrived less than :data:`MIN_INTERVAL_MS`
ago (a cheap rate limit: nothing is written) or is from the same boot with a
later monotonic time (an old heartbeat replayed: nothing is written either).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from protocol import ProtocolError, PublicKey, Reason
from protocol.encoding import b64decode
from protocol.heartbeat import Heartbeat, verify_heartbeat
from protocol.localtime import iso
from protocol.tillstate import TillState, sign_till_state
from server.context import ServerContext
from server.errors import InputError, from_protocol
from server.inputs import parse_json
from server.models import Kiosk, KioskHealth, KioskStatus
from server.signers import signing_kiosk
from server.storage import ReadTx
from server.tillstaff import till_roster
from server.voidrequests import till_requests

MIN_INTERVAL_MS: Final = 10_000  # heartbeats closer together than this are answered but not stored
DEFAULT_SILENT_AFTER_S: Final = 900
MAX_SILENT_AFTER_S: Final = 366 * 86_400


def _wire(data: bytes) -> object:
    return parse_json(data)


def _stale(stored: KioskHealth | None, beat: Heartbeat, now: int) -> bool:
    """Whether storing ``beat`` over ``stored`` would lose news: too soon, or older on the same boot."""
    if stored is None:
        return False
    if 0 <= now - stored.received_ms < MIN_INTERVAL_MS:
        return True
    return stored.boot == beat.boot and beat.mono_ms <= stored.mono_ms


def record_heartbeat(ctx: ServerContext, kiosk_id: str, data: bytes) -> dict[str, Any]:
    """Verify and store a kiosk's heartbeat (the raw request body); answer the measured clock offset.

    The answer is ``{"offset_ms", "server_ms", "stored"}``; ``stored`` is false when the
    heartbeat was rate-limited or older than the stored one (it is still answered, so the
    kiosk learns its offset either way).
    """
    wire = _wire(data)
    with ctx.storage.read() as tx:
        kiosk = signing_kiosk(tx.get_kiosk(kiosk_id), kiosk_id, suspended_ok=True)
    try:
        beat = verify_heartbeat(wire, PublicKey(kiosk.public_key), kiosk_id=kiosk_id)
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    now = ctx.now_ms()
    offset = now - beat.sent_ms
    with ctx.storage.write() as tx:
        # Read again inside the write: the kiosk may have been revoked, or another heartbeat stored.
        signing_kiosk(tx.get_kiosk(kiosk_id), kiosk_id, suspended_ok=True)
        stored = not _stale(tx.get_kiosk_health(kiosk_id), beat, now)
        if stored:
            tx.put_kiosk_health(
                KioskHealth(
                    kiosk_id=kiosk_id,
                    received_ms=now,
                    sent_ms=beat.sent_ms,
                    offset_ms=offset,
                    boot=beat.boot,
                    mono_ms=beat.mono_ms,
                    synced=beat.synced,
                    version=beat.version,
                    pending=beat.pending,
                    reader=beat.reader,
                    last_seq=beat.last_seq,
                )
            )
        answer: dict[str, Any] = {"offset_ms": offset, "server_ms": now, "stored": stored}
        till = _till_state(ctx, tx, kiosk_id, wire, now)
        if till is not None:
            answer["till"] = till
    return answer


def _till_state(
    ctx: ServerContext, tx: ReadTx, kiosk_id: str, wire: object, now: int
) -> dict[str, str] | None:
    """A shop terminal's till state (staff, void requests), server-signed for this heartbeat; else ``None``.

    Only in answer to the kiosk's own signed heartbeat (never on a public route): it
    holds the PIN hashes of the shop's staff (:mod:`protocol.tillstate`).  Not to a
    suspended till: two different events under one number mean a cloned key, and
    its events are refused anyway; it gets its staff again once cleared.
    """
    kiosk = tx.get_kiosk(kiosk_id)
    if kiosk is None or kiosk.status is not KioskStatus.ACTIVE:
        return None
    site = tx.get_site(kiosk.site_id)
    if site is None or site.shop is None or not isinstance(wire, dict):
        return None
    body = b64decode(wire["body"], field="body")
    state = TillState(
        kiosk=kiosk_id,
        request=hashlib.sha256(body).hexdigest(),
        issued_ms=now,
        staff=tuple(till_roster(tx, site.site_id)),
        voids=tuple(till_requests(tx, site.site_id, now)),
        staffed=tx.till_staff(site.site_id) is not None,
    )
    return sign_till_state(state, ctx.server_key)


def parse_silent_after(params: Mapping[str, str]) -> int:
    """``silent_after_s`` from the query (default :data:`DEFAULT_SILENT_AFTER_S`), or ``bad_field``."""
    text = params.get("silent_after_s")
    if text is None:
        return DEFAULT_SILENT_AFTER_S
    # The length check comes first: int() of thousands of digits raises ValueError.
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or not 1 <= int(text) <= MAX_SILENT_AFTER_S:
        raise InputError(Reason.BAD_FIELD, f"silent_after_s must be seconds from 1 to {MAX_SILENT_AFTER_S}")
    return int(text)


def kiosk_report(
    kiosk: Kiosk, health: KioskHealth | None, last_sync_ms: int | None, *, now_ms: int, silent_after_s: int
) -> dict[str, Any]:
    """One kiosk of ``GET /v1/admin/kiosks``: its state, its latest heartbeat and whether it went silent.

    ``last_seen_ms`` is the latest of enrolment, the last batch and the last heartbeat (``last_seen``
    the same as ISO 8601 with the Europe/Berlin offset); a kiosk
    is ``silent`` when that is more than ``silent_after_s`` ago.  A revoked kiosk is expected to
    be quiet and is never silent.
    """
    heartbeat_ms = None if health is None else health.received_ms
    last_seen = max(t for t in (kiosk.enrolled_ms, last_sync_ms, heartbeat_ms) if t is not None)
    silent = kiosk.status is not KioskStatus.REVOKED and now_ms - last_seen > silent_after_s * 1000
    return {
        **kiosk.to_json(),
        "last_heartbeat_ms": heartbeat_ms,
        "last_sync_ms": last_sync_ms,
        "last_seen_ms": last_seen,
        # For the person reading the list (``provision terminal list --json``): the same instant in
        # ISO 8601 with the site's offset; scripts keep using the integer.
        "last_seen": iso(last_seen),
        "silent": silent,
        "version": None if health is None else health.version,
        "pending": None if health is None else health.pending,
        "reader": None if health is None else health.reader,
        "clock_offset_ms": None if health is None else health.offset_ms,
        "clock_synced": None if health is None else health.synced,
    }


def list_kiosks(ctx: ServerContext, params: Mapping[str, str]) -> dict[str, Any]:
    """Every kiosk, oldest enrolment first, with its health (``GET /v1/admin/kiosks``)."""
    silent_after_s = parse_silent_after(params)
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        kiosks = tx.list_kiosks()
        health = tx.kiosk_health()
        batches = tx.last_batch_ms()
    return {
        "silent_after_s": silent_after_s,
        "kiosks": [
            kiosk_report(
                k,
                health.get(k.kiosk_id),
                batches.get(k.kiosk_id),
                now_ms=now,
                silent_after_s=silent_after_s,
            )
            for k in kiosks
        ],
    }
