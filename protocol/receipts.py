"""Sync receipts: the server's signed statement of how much of a kiosk's chain it holds.

A receipt names the kiosk, the highest sequence number the server has stored
for it and the hash of that event.  Because every event names the hash of the
one before, the head hash commits to the whole chain up to ``seq``: a kiosk may
mark events ``1..seq`` as synced once it has verified the signature *and*
found that its own event ``seq`` has the same hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import canonical_json, parse_canonical_json
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.events import GENESIS_PREV
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

RECEIPT_TYPE: Final = "kokreativ.receipt"
RECEIPT_VERSION: Final = 1
MAX_RECEIPT_BYTES: Final = 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Receipt:
    """The server holds kiosk ``kiosk``'s chain up to ``seq``, ending in ``head``."""

    kiosk: str
    seq: int
    head: str
    issued_ms: int

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "head": self.head,
                "issued_ms": self.issued_ms,
                "kiosk": self.kiosk,
                "seq": self.seq,
                "type": RECEIPT_TYPE,
                "v": RECEIPT_VERSION,
            }
        )


def sign_receipt(receipt: Receipt, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}`` of a signed receipt."""
    return seal(receipt.to_bytes(), key)


def _parse(body: bytes) -> Receipt:
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_RECEIPT_BYTES)
    # ``True == 1`` in Python, so "v": true would pass the comparison alone.
    if obj.get("type") != RECEIPT_TYPE or obj.get("v") != RECEIPT_VERSION or isinstance(obj.get("v"), bool):
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 kokreativ.receipt")
    if set(obj) != {"head", "issued_ms", "kiosk", "seq", "type", "v"}:
        raise MalformedError(Reason.UNKNOWN_FIELD, "receipt fields differ from v1")
    seq, issued, head = obj["seq"], obj["issued_ms"], obj["head"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise MalformedError(Reason.BAD_FIELD, "seq must be an integer >= 0")
    if isinstance(issued, bool) or not isinstance(issued, int) or issued < 0:
        raise MalformedError(Reason.BAD_FIELD, "issued_ms must be an integer >= 0")
    if not isinstance(head, str) or _HEX64.fullmatch(head) is None:
        raise MalformedError(Reason.BAD_FIELD, "head is not 64 lowercase hex digits")
    if (seq == 0) != (head == GENESIS_PREV):
        raise MalformedError(Reason.BAD_FIELD, "head is all zeros exactly when seq is 0")
    return Receipt(
        kiosk=ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"), seq=seq, head=head, issued_ms=issued
    )


def verify_receipt(wire: object, server_key: PublicKey, *, kiosk_id: str) -> Receipt:
    """Check a receipt's signature and that it is for ``kiosk_id``; raise ``bad_receipt`` otherwise."""
    try:
        receipt = _parse(open_sealed(wire, server_key, what="receipt", field="receipt"))
    except ProtocolError as exc:
        raise VerificationError(Reason.BAD_RECEIPT, exc.message) from exc
    if receipt.kiosk != kiosk_id:
        raise VerificationError(Reason.BAD_RECEIPT, "receipt is for another kiosk")
    return receipt
