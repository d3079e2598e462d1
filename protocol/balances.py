"""Balance sheets: the server's signed word on what some volunteers' cards are worth, as of a moment.

At check-out a kiosk shows the volunteer's balance "as of the last sync".  The
kiosk has no ledger, so the server tells it: every ingest answer carries a
sheet for the cards that appear in that batch, signed with the server key the
kiosk pinned at enrolment, in the same wire form as receipts::

    {"as_of_ms": 1764400000000,
     "balances": {"c_…": 66, "u_…": 0},       # card ID -> whole tokens
     "kiosk": "k_…",
     "type": "kokreativ.balances", "v": 1}

sent as ``{"body": <b64 of those canonical bytes>, "sig": <b64>}``.  Balances
belong to volunteers, so two cards of one volunteer show the same number.  A
sheet holds random card IDs and integers only, never a name or a volunteer ID.

:func:`verify_balances` fails closed: it returns a sheet only when the
signature checks, the body is a canonical v1 sheet and it names the expected
kiosk.  Otherwise it raises with the reason of the first failure
(``bad_signature``, ``unknown_type``, ``unknown_field``, ``bad_field``,
``not_canonical``, ``too_large``, ``bad_encoding``; ``kiosk_mismatch`` for a
sheet meant for another kiosk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from protocol import ids
from protocol.encoding import canonical_json, parse_canonical_json
from protocol.errors import MalformedError, VerificationError
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import open_sealed, seal

BALANCES_TYPE: Final = "kokreativ.balances"
BALANCES_VERSION: Final = 1
# A batch names at most 500 cards, about 60 bytes each; leave room, but not for a flood.
MAX_BALANCES_BYTES: Final = 256 * 1024
_FIELDS: Final = frozenset({"as_of_ms", "balances", "kiosk", "type", "v"})


@dataclass(frozen=True, slots=True)
class BalanceSheet:
    """The balance of each card in ``balances`` (whole tokens) as of the server's ``as_of_ms``."""

    kiosk: str
    as_of_ms: int
    balances: dict[str, int]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "as_of_ms": self.as_of_ms,
                "balances": dict(self.balances),
                "kiosk": self.kiosk,
                "type": BALANCES_TYPE,
                "v": BALANCES_VERSION,
            }
        )


def sign_balances(sheet: BalanceSheet, key: PrivateKey) -> dict[str, str]:
    """The wire form ``{"body": b64, "sig": b64}`` of a signed balance sheet."""
    return seal(sheet.to_bytes(), key)


def _is_int(value: object) -> bool:
    # ``bool`` is an ``int`` in Python; JSON true is not a number.
    return isinstance(value, int) and not isinstance(value, bool)


def _parse(body: bytes) -> BalanceSheet:
    obj: dict[str, Any] = parse_canonical_json(body, max_bytes=MAX_BALANCES_BYTES)
    if obj.get("type") != BALANCES_TYPE or obj.get("v") != BALANCES_VERSION or not _is_int(obj.get("v")):
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 kokreativ.balances")
    if set(obj) != _FIELDS:
        raise MalformedError(Reason.UNKNOWN_FIELD, "balance sheet fields differ from v1")
    as_of, balances = obj["as_of_ms"], obj["balances"]
    if not _is_int(as_of) or as_of < 0:
        raise MalformedError(Reason.BAD_FIELD, "as_of_ms must be an integer >= 0")
    if not isinstance(balances, dict):
        raise MalformedError(Reason.BAD_FIELD, "balances must be an object")
    for card_id, balance in balances.items():
        if not ids.is_id(card_id, ids.CARD, ids.UID_CARD):
            raise MalformedError(Reason.BAD_FIELD, "balances are keyed by c_ or u_ card IDs")
        if not _is_int(balance):  # the canonical parser already keeps integers within +-(2^53 - 1)
            raise MalformedError(Reason.BAD_FIELD, "a balance is a whole number of tokens")
    return BalanceSheet(
        kiosk=ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"), as_of_ms=as_of, balances=balances
    )


def verify_balances(wire: object, server_key: PublicKey, *, kiosk_id: str) -> BalanceSheet:
    """The sheet in ``wire`` once its signature, format and kiosk check; raises otherwise.

    Raises :class:`protocol.MalformedError` or :class:`protocol.VerificationError`
    with the reason of the first failure (see the module docstring).
    """
    sheet = _parse(open_sealed(wire, server_key, what="balance sheet", field="balances"))
    if sheet.kiosk != kiosk_id:
        raise VerificationError(Reason.KIOSK_MISMATCH, "balance sheet is for another kiosk")
    return sheet
