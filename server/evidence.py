"""Kiosks' log evidence: a signed report that the server's log did not extend what the kiosk verified.

The server keeps these for people to examine; nothing in a report is trusted
or acted on.  :func:`record_evidence` checks, in this order, and refuses with
the reason code:

1. the body is JSON (``malformed_request``);
2. the kiosk is enrolled (``unknown_kiosk``, 404) and not revoked (``kiosk_revoked``, 403).
   A *suspended* kiosk may report: its evidence is no less worth keeping;
3. the body is ``{"body", "sig"}`` (``bad_field``), its enrolled key signed the body
   (``bad_signature``), which is a v1 report (:mod:`protocol.evidence`) for this kiosk
   (``kiosk_mismatch``);
4. the report's ``number`` is above every number held from this kiosk (``409 duplicate``
   otherwise: a replay, or the kiosk's own retry of a report the server took; either way
   nothing is written and the kiosk counts it as delivered);
5. the kiosk has fewer than :data:`server.quotas.EVIDENCE_PER_KIOSK` reports held
   (``429 quota_exceeded``).  The first reports are kept, not the latest: the first
   inconsistency a kiosk saw is the one that matters, and a kiosk halts after each.

Then the exact signed bytes and the signature are stored, so anyone can later
check that the kiosk made the report.
"""

from __future__ import annotations

from typing import Any

from protocol import ProtocolError, PublicKey, Reason
from protocol.evidence import open_evidence
from server import quotas
from server.context import ServerContext
from server.errors import ServiceError, from_protocol
from server.inputs import parse_json
from server.signers import signing_kiosk


def record_evidence(ctx: ServerContext, kiosk_id: str, data: bytes) -> dict[str, Any]:
    """Verify and keep a kiosk's signed evidence report (the raw request body): ``{"stored", "number"}``."""
    wire = parse_json(data)
    with ctx.storage.read() as tx:
        kiosk = signing_kiosk(tx.get_kiosk(kiosk_id), kiosk_id, suspended_ok=True)
    try:
        signed = open_evidence(wire, PublicKey(kiosk.public_key), kiosk_id=kiosk_id)
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    number = signed.report.number
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        # Read again inside the write: the kiosk may have been revoked, or the same report stored.
        signing_kiosk(tx.get_kiosk(kiosk_id), kiosk_id, suspended_ok=True)
        held, highest = tx.log_evidence_held(kiosk_id)
        if number <= highest:
            raise ServiceError(
                Reason.DUPLICATE,
                f"report {number} is not above {highest}, the highest this kiosk reported",
                status=409,
                extra={"number": highest},
            )
        quotas.check(held, quotas.EVIDENCE_PER_KIOSK, "evidence reports from this kiosk")
        tx.insert_log_evidence(kiosk_id, number, signed.report.kind, signed.body, signed.sig, now)
    return {"stored": True, "number": number}
