"""Coordinator decisions: rule changes and review outcomes, signed with the coordinator's own key.

No balance changes silently: each change a person makes is a decision they
sign on their own laptop, which the server checks, applies and logs as signed,
so an auditor can re-check who decided what.  Format and kinds:
``docs/protocol.md``, "Coordinator decisions"; the bonus windows and how
minutes become tokens: ``docs/economy.md`` and :mod:`protocol.earning`.

Decision v2 (issue 17) names no card: a ``manual_shift`` has ``ref``, a hiding
commitment to the card (:mod:`protocol.commitments`), instead of ``card``, and
its opening travels beside the signed bytes (``{"body", "sig", "opening"}``),
kept off the log like an event's.  The other kinds are the same in v1 and v2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from protocol import earning, ids
from protocol.commitments import Opening, require_commitment
from protocol.earning import check_bonuses
from protocol.encoding import MAX_SAFE_INT, canonical_json, parse_canonical_json
from protocol.errors import MalformedError, VerificationError
from protocol.events import MAX_AMOUNT
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.sealed import seal

DECISION_TYPE: Final = "kokreativ.decision"
DECISION_VERSION: Final = 1  # names a manual shift's card
COMMITTED_DECISION_VERSION: Final = 2  # names a commitment to it (``ref``) instead
SUPPORTED_DECISION_VERSIONS: Final = frozenset({DECISION_VERSION, COMMITTED_DECISION_VERSION})
MAX_DECISION_BYTES: Final = 16 * 1024
MAX_BONUSES: Final = earning.MAX_BONUSES
MAX_BONUS_DATES: Final = earning.MAX_BONUS_DATES
MAX_TOKENS_PER_HOUR: Final = earning.MAX_TOKENS_PER_HOUR
MAX_SHIFT_HOURS: Final = earning.MAX_SHIFT_HOURS
MAX_VOID_WINDOW_S: Final = 7 * 24 * 3600
MAX_DAY_HOURS: Final = 24  # kiosk_limits: a card's plausible paid hours per local day
MAX_BACKDATE_DAYS: Final = 90  # kiosk_limits: how long before its receipt a shift may end
MAX_PRIOR_MINUTES: Final = 10 * 366 * 24 * 60  # prior_hours: ten years round the clock, an upper bound

_NONCE = re.compile(r"[0-9a-f]{32}")
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")
_FIELDS: Final = frozenset({"at_ms", "coordinator", "data", "kind", "nonce", "type", "v"})


_COORDINATOR_DOMAIN: Final = b"kokreativ coordinator key v1\x00"


def coordinator_id(public_key: PublicKey) -> str:
    """A coordinator key's ID: ``o_`` and 32 hex digits of a domain-separated hash of the key.

    Derived, not assigned, so a coordinator's laptop knows the ID it signs as
    before the server has answered, and one key can never hold two IDs.
    """
    return f"{ids.COORDINATOR}_{hashlib.sha256(_COORDINATOR_DOMAIN + public_key.raw).hexdigest()[:32]}"


_COSIGN_DOMAIN: Final = b"kokreativ decision cosignature v1\x00"


def cosign_message(body: bytes) -> bytes:
    """What a second coordinator signs to cosign the decision ``body`` (four eyes, ``docs/economy.md``).

    A domain-separated SHA-256 of the signed bytes: it can never be taken for a
    decision's own signature (a decision's bytes are canonical JSON, they start
    with ``{``), and it names exactly one body.
    """
    return _COSIGN_DOMAIN + hashlib.sha256(body).digest()


def verify_cosignature(body: bytes, signature: bytes, key: PublicKey) -> None:
    """Raise :class:`~protocol.errors.VerificationError` unless ``key`` cosigned ``body``."""
    key.verify(cosign_message(body), signature)


def decision_hash(body: bytes) -> str:
    """How the server names an applied decision: hex SHA-256 of its signed bytes."""
    return hashlib.sha256(body).hexdigest()


def _int(low: int, high: int) -> Callable[[object, str], int]:
    def check(value: object, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MalformedError(Reason.BAD_FIELD, f"data.{name} must be an integer from {low} to {high}")
        return value

    return check


def _site(value: object, name: str) -> str:
    return ids.require_id(value, ids.SITE, field=f"data.{name}")


def _card(value: object, name: str) -> str:
    return ids.require_id(value, ids.CARD, ids.UID_CARD, field=f"data.{name}")


def _ref(value: object, name: str) -> str:
    return require_commitment(value, field=f"data.{name}")


def _redemption(value: object, name: str) -> str:
    return ids.require_id(value, ids.REDEMPTION, field=f"data.{name}")


def _reason(value: object, name: str) -> str:
    if not isinstance(value, str) or _REASON.fullmatch(value) is None:
        raise MalformedError(Reason.BAD_FIELD, f"data.{name} is a reason code like forgot_check_out")
    return value


def _action(value: object, name: str) -> str:
    if value not in ("approve", "reject"):
        raise MalformedError(Reason.BAD_FIELD, f"data.{name} is approve or reject")
    assert isinstance(value, str)
    return value


def _shift_ref(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != {"kiosk", "seq"}:
        raise MalformedError(Reason.BAD_FIELD, f"data.{name} is {{kiosk, seq}} of the shift's first tap")
    ids.require_id(value["kiosk"], ids.KIOSK, field=f"data.{name}.kiosk")
    _int(1, MAX_SAFE_INT)(value["seq"], f"{name}.seq")
    return value


def _bonuses(value: object, name: str) -> list[Any]:
    return check_bonuses(value, f"data.{name}")


_MS = _int(1, MAX_SAFE_INT)
_MS_OR_KEEP = _int(0, MAX_SAFE_INT)

# kind -> its data fields and their validators.  A new kind is one entry here.
DATA_FIELDS: Final[Mapping[str, Mapping[str, Callable[[object, str], object]]]] = {
    "site_rules": {
        "site": _site,
        "tokens_per_hour": _int(0, MAX_TOKENS_PER_HOUR),
        "max_shift_hours": _int(1, MAX_SHIFT_HOURS),
        "daily_cap": _int(0, earning.MAX_DAILY_CAP),
        "bonuses": _bonuses,
    },
    "shop_limits": {
        "site": _site,
        "max_amount": _int(1, MAX_AMOUNT),
        "offline_allowance": _int(0, MAX_AMOUNT),
        "offline_daily_cap": _int(0, MAX_AMOUNT),
        "void_window_s": _int(0, MAX_VOID_WINDOW_S),
    },
    "kiosk_limits": {
        "site": _site,
        "max_day_hours": _int(1, MAX_DAY_HOURS),
        "backdate_days": _int(0, MAX_BACKDATE_DAYS),
    },
    "review": {
        "shift": _shift_ref,
        "action": _action,
        "start_ms": _MS_OR_KEEP,
        "end_ms": _MS_OR_KEEP,
        "reason": _reason,
    },
    "acknowledge": {"redemption": _redemption, "reason": _reason},
    "redemption_review": {"redemption": _redemption, "action": _action, "reason": _reason},
    "manual_shift": {"card": _card, "site": _site, "start_ms": _MS, "end_ms": _MS, "reason": _reason},
}
# Decision v2: the same kinds; a manual shift names a commitment to its card (``ref``), not the card.
DATA_FIELDS_V2: Final[Mapping[str, Mapping[str, Callable[[object, str], object]]]] = {
    **DATA_FIELDS,
    "manual_shift": {"ref": _ref, "site": _site, "start_ms": _MS, "end_ms": _MS, "reason": _reason},
    # Engagement from before the ledger began (issue 18): hours for the Ehrenamtskarte, no tokens.
    "prior_hours": {
        "ref": _ref,
        "site": _site,
        "from_ms": _MS,
        "to_ms": _MS,
        "minutes": _int(1, MAX_PRIOR_MINUTES),
        "reason": _reason,
    },
}
_CARD_KINDS: Final = frozenset({"manual_shift", "prior_hours"})  # v2 kinds that commit to a card
_DATA_FIELDS_BY_VERSION: Final = {DECISION_VERSION: DATA_FIELDS, COMMITTED_DECISION_VERSION: DATA_FIELDS_V2}


@dataclass(frozen=True, slots=True)
class Decision:
    """One coordinator decision, parsed and checked field by field (not yet its signature).

    ``card`` is the card a ``manual_shift`` is about: ``data["card"]`` in v1; in
    v2 ``""`` until :meth:`opened` with the opening that travels beside it
    (``data["ref"]`` commits to it).  Other kinds name no card (``""``).
    """

    kind: str
    coordinator: str
    at_ms: int
    data: Mapping[str, Any]
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))
    version: int = DECISION_VERSION
    card: str = ""

    def __post_init__(self) -> None:
        if self.version == DECISION_VERSION and not self.card and "card" in self.data:
            object.__setattr__(self, "card", self.data["card"])

    @property
    def ref(self) -> str | None:
        """The commitment to the card a v2 ``manual_shift`` names (``None`` otherwise)."""
        ref = self.data.get("ref") if self.version == COMMITTED_DECISION_VERSION else None
        return ref if isinstance(ref, str) else None

    def opened(self, opening: Opening) -> Decision:
        """This v2 decision with its ``card`` from ``opening``.

        ``opening_mismatch`` if it does not open ``ref``; a decision without a
        ``ref`` takes no opening (``bad_field``).
        """
        if self.ref is None:
            raise MalformedError(
                Reason.BAD_FIELD, "this decision names no card reference and takes no opening"
            )
        opening.check(self.ref)
        return dataclasses.replace(self, card=opening.card)

    def to_json(self) -> dict[str, Any]:
        return {
            "at_ms": self.at_ms,
            "coordinator": self.coordinator,
            "data": dict(self.data),
            "kind": self.kind,
            "nonce": self.nonce,
            "type": DECISION_TYPE,
            "v": self.version,
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes, checked by the parser's own rules so nothing malformed is signed."""
        body = canonical_json(self.to_json())
        _from_json(parse_canonical_json(body, max_bytes=MAX_DECISION_BYTES))
        return body


def _from_json(obj: dict[str, Any]) -> Decision:
    if obj.get("type") != DECISION_TYPE:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a kokreativ.decision")
    version = obj.get("v")
    # An int first: a hostile ``v`` may be unhashable (a list, an object).
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or version not in SUPPORTED_DECISION_VERSIONS
    ):
        raise MalformedError(
            Reason.UNKNOWN_VERSION, f"decision version {str(version)[:20]!r} is not supported"
        )
    missing = _FIELDS - obj.keys()
    if missing:
        raise MalformedError(Reason.MISSING_FIELD, f"decision lacks {sorted(missing)[0]!r}")
    if obj.keys() - _FIELDS:
        raise MalformedError(Reason.UNKNOWN_FIELD, "decision has an unknown field")
    kind = obj["kind"]
    validators = _DATA_FIELDS_BY_VERSION[version].get(kind) if isinstance(kind, str) else None
    if validators is None:
        raise MalformedError(Reason.UNKNOWN_KIND, f"decision kind {str(kind)[:40]!r} is not known")
    if not isinstance(obj["nonce"], str) or _NONCE.fullmatch(obj["nonce"]) is None:
        raise MalformedError(Reason.BAD_FIELD, "nonce is 32 lowercase hex digits")
    at_ms = _int(0, MAX_SAFE_INT)(obj["at_ms"], "at_ms")
    data = obj["data"]
    if not isinstance(data, dict):
        raise MalformedError(Reason.BAD_FIELD, "data is not an object")
    if set(data) != set(validators):
        raise MalformedError(Reason.BAD_FIELD, f"data of {kind} has exactly {sorted(validators)}")
    for name, validate in validators.items():
        validate(data[name], name)
    return Decision(
        kind=kind,
        coordinator=ids.require_id(obj["coordinator"], ids.COORDINATOR, field="coordinator"),
        at_ms=at_ms,
        data=data,
        nonce=obj["nonce"],
        version=version,
    )


def parse_decision(body: bytes) -> Decision:
    """Parse canonical decision bytes strictly, without checking the signature."""
    return _from_json(parse_canonical_json(body, max_bytes=MAX_DECISION_BYTES))


def committed_decision(
    kind: str, coordinator: str, at_ms: int, data: Mapping[str, Any]
) -> tuple[Decision, Opening | None]:
    """A v2 decision of ``kind`` with ``data`` as in v1, and the opening it needs (``None``: none).

    A ``manual_shift``'s (or ``prior_hours``') ``data["card"]`` becomes ``data["ref"]``, a fresh
    commitment to the card.
    """
    if kind not in _CARD_KINDS:
        return Decision(kind, coordinator, at_ms, dict(data), version=COMMITTED_DECISION_VERSION), None
    card = _card(data.get("card"), "card")
    opening = Opening.fresh(card)
    fields = {name: value for name, value in data.items() if name != "card"} | {"ref": opening.ref}
    decision = Decision(kind, coordinator, at_ms, fields, version=COMMITTED_DECISION_VERSION, card=card)
    return decision, opening


def sign_decision(decision: Decision, key: PrivateKey, opening: Opening | None = None) -> dict[str, Any]:
    """The wire form ``{"body": b64, "sig": b64}`` of ``decision`` signed by the coordinator's ``key``.

    A v2 ``manual_shift`` adds its ``opening`` (``{"card", "salt"}``), beside the signed bytes.
    """
    wire: dict[str, Any] = dict(seal(decision.to_bytes(), key))
    if opening is not None:
        wire["opening"] = opening.to_json()
    return wire


def verify_decision(body: bytes, signature: bytes, key: PublicKey) -> Decision:
    """Parse ``body`` strictly and check that ``key`` signed it and is the key it names; raise otherwise."""
    decision = parse_decision(body)
    if decision.coordinator != coordinator_id(key):
        raise VerificationError(Reason.BAD_SIGNATURE, "the decision names another coordinator key")
    key.verify(body, signature)
    return decision
