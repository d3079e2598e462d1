"""Event format v1: what a kiosk signs when a card is tapped.

An event is a canonical JSON object (see :mod:`protocol.encoding`)::

    {"card":"c_…","clock":{"boot":"<uuid>","mono_ms":123,"synced":true,"wall_ms":1764400000000},
     "data":{},"kind":"check_in","kiosk":"k_…","prev":"<64 hex>","seq":1,
     "type":"kokreativ.event","v":1}

Those bytes are signed with the kiosk's Ed25519 key, sent, stored and hashed
as they are.  ``prev`` is the SHA-256 of the previous event's bytes (64 zeros
for ``seq`` 1), so each kiosk keeps a hash chain the server can check.

The parser is strict: unknown versions, types, kinds or fields, missing
fields, wrong types and non-canonical bytes are refused with a reason code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from protocol import ids
from protocol.commitments import (
    Opening,
    SealedOpening,
    new_salt,
    parse_opening,
    parse_sealed_opening,
    require_commitment,
)
from protocol.encoding import (
    MAX_SAFE_INT,
    b64decode,
    b64encode,
    canonical_json,
    parse_canonical_json,
    sorted_json,
    sorted_json_text,
)
from protocol.errors import MalformedError
from protocol.keys import SIGNATURE_BYTES, PrivateKey, PublicKey
from protocol.reasons import Reason

EVENT_TYPE: Final = "kokreativ.event"
EVENT_VERSION: Final = 1  # the version a kiosk signs unless told otherwise
COMMITTED_VERSION: Final = 2  # v2: ``ref``, a commitment to card, clock, kind and data, instead of them
SUPPORTED_VERSIONS: Final = frozenset({1, 2})
MAX_EVENT_BYTES: Final = 2048
GENESIS_PREV: Final = "0" * 64

_HEX64 = re.compile(r"[0-9a-f]{64}")
_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class EventKind(StrEnum):
    """What happened at the kiosk."""

    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    DENIED = "denied"
    REDEEM = "redeem"
    VOID = "void"
    UNDO = "undo"  # a volunteer takes back their own check-in or check-out at the same kiosk, seconds later
    # Not a kind anybody signs: what a parsed v2 event says before it is opened.  No rule takes it.
    SEALED = "sealed"


MAX_AMOUNT: Final = 1_000_000  # tokens in one redemption; shops set far lower limits


def _reason_code(value: object) -> str:
    if not isinstance(value, str) or _REASON_CODE.fullmatch(value) is None:
        raise MalformedError(Reason.BAD_FIELD, "data.reason is not a reason code")
    return value


def _amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AMOUNT:
        raise MalformedError(Reason.BAD_FIELD, f"data.amount must be an integer from 1 to {MAX_AMOUNT}")
    return value


def _redemption_id(value: object) -> str:
    return ids.require_id(value, ids.REDEMPTION, field="data.id")


def _online(value: object) -> bool:
    if not isinstance(value, bool):
        raise MalformedError(Reason.BAD_FIELD, "data.online must be true or false")
    return value


def _tap_seq(value: object) -> int:
    return _require_int(value, "data.seq", 1)


def _staff(value: object) -> str:
    return ids.require_id(value, ids.STAFF, field="data.staff")


# Kind-specific ``data`` fields and their validators.  A new kind is one entry here.
#
# ``redeem``: ``amount`` tokens from ``card`` at a shop terminal; ``id`` is the redemption's own
# ID, chosen by the terminal, so the same purchase keeps its ID through a retry or an offline
# fallback; ``online`` says whether the terminal asked the server to authorise it (declined if
# not covered) or accepted it offline within its limits (debited even into overdraft).
# ``void``: undo redemption ``id`` (same shop, within its void window); ``card`` is that
# redemption's card.  ``undo``: take back this kiosk's own check-in or check-out ``seq`` of
# ``card`` (within seconds by the kiosk's monotonic clock; ``docs/protocol.md``, "Undo at the
# kiosk").  The rules are ``docs/economy.md``.  ``OPTIONAL_DATA_FIELDS`` may be there too:
# a ``redeem``'s ``staff`` is the till staff member (``e_…``) who entered their PIN (issue 19).
DATA_FIELDS: Final[Mapping[EventKind, Mapping[str, Callable[[object], object]]]] = {
    EventKind.CHECK_IN: {},
    EventKind.CHECK_OUT: {},
    EventKind.DENIED: {"reason": _reason_code},
    EventKind.REDEEM: {"amount": _amount, "id": _redemption_id, "online": _online},
    EventKind.VOID: {"id": _redemption_id},
    EventKind.UNDO: {"seq": _tap_seq},
    EventKind.SEALED: {},
}
OPTIONAL_DATA_FIELDS: Final[Mapping[EventKind, Mapping[str, Callable[[object], object]]]] = {
    EventKind.REDEEM: {"staff": _staff},
}

_TOP_FIELDS: Final = frozenset({"card", "clock", "data", "kind", "kiosk", "prev", "seq", "type", "v"})
_TOP_FIELDS_V2: Final = frozenset({"kiosk", "prev", "ref", "seq", "type", "v"})
_CLOCK_FIELDS: Final = frozenset({"boot", "mono_ms", "synced", "wall_ms"})


@dataclass(frozen=True, slots=True)
class ClockEvidence:
    """What the kiosk knew about time when it recorded the event.

    A Raspberry Pi has no battery-backed clock, so the wall time alone is not
    trustworthy; ``synced``, the boot ID and the monotonic milliseconds since
    boot let the server reconstruct or flag it.
    """

    wall_ms: int
    synced: bool
    boot_id: str
    mono_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"boot": self.boot_id, "mono_ms": self.mono_ms, "synced": self.synced, "wall_ms": self.wall_ms}


@dataclass(frozen=True, slots=True)
class Event:
    """One parsed, not yet verified, v1 or v2 event.

    A v1 event names its ``card``, clock, kind and data.  A v2 event signs only
    its place in the kiosk's chain and ``ref``, a hiding commitment to card,
    clock, kind and data (:mod:`protocol.commitments`).  Parsed from bytes a v2
    event is *sealed*: ``card`` is ``""``, ``kind`` :attr:`EventKind.SEALED`,
    ``clock`` :data:`SEALED_CLOCK` and ``data`` empty, until :meth:`opened` with
    the opening that travels beside it.  Only the bytes are signed, so opening
    changes nothing that was signed.
    """

    kiosk: str
    seq: int
    prev: str
    kind: EventKind
    card: str
    clock: ClockEvidence
    data: Mapping[str, Any] = field(default_factory=dict)
    version: int = EVENT_VERSION
    ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.version != 1:
            return {
                "kiosk": self.kiosk,
                "prev": self.prev,
                "ref": self.ref,
                "seq": self.seq,
                "type": EVENT_TYPE,
                "v": self.version,
            }
        return {
            "card": self.card,
            "clock": self.clock.to_json(),
            "data": dict(self.data),
            "kind": self.kind.value,
            "kiosk": self.kiosk,
            "prev": self.prev,
            "seq": self.seq,
            "type": EVENT_TYPE,
            "v": self.version,
        }

    @property
    def card_known(self) -> bool:
        """Whether ``card`` (and clock, kind and data) are the event's: always for v1, for v2 once opened."""
        return bool(self.card)

    @property
    def sealed(self) -> bool:
        """Whether this is a v2 event not yet opened: only its chain place and ``ref`` are known."""
        return self.kind is EventKind.SEALED

    def require_opened(self) -> Event:
        """This event if a rule may run on it; ``opening_missing`` for a sealed v2 event.

        A sealed event's kind, clock, card and data are placeholders
        (:data:`SEALED_CLOCK`, ``""``, ``{}``): a rule that read them would decide
        on nothing and decide wrong.  Every rule path calls this first, so such a
        mistake is a loud refusal, never a quiet wrong balance.
        """
        if self.sealed:
            raise MalformedError(
                Reason.OPENING_MISSING,
                f"event {self.kiosk} seq {self.seq} is sealed: no rule runs before it is opened",
            )
        return self

    def sealed_fields(self) -> dict[str, Any]:
        """What a v2 event seals besides the card: its clock, data and kind as JSON values."""
        return {"clock": self.clock.to_json(), "data": dict(self.data), "kind": self.kind.value}

    def opened(self, opening: Opening) -> Event:
        """This v2 event with card, clock, kind and data from ``opening``, checked by the event rules.

        ``opening_mismatch`` if it does not open ``ref``; the sealed fields are
        then checked like a v1 event's (``bad_field`` and the rest).  A v1 event
        names everything already and takes no opening (``bad_field``).
        """
        if self.version == 1 or self.ref is None:
            raise MalformedError(Reason.BAD_FIELD, "a v1 event names its card and has no opening")
        if opening.sealed is None:
            raise MalformedError(Reason.BAD_FIELD, "an event's opening has its clock, data and kind")
        fast = _opened_fast(self, opening)
        return _opened_full(self, opening) if fast is None else fast

    def to_bytes(self) -> bytes:
        """The canonical bytes, checked by the parser's own rules so nothing malformed is signed."""
        obj = self.to_json()
        _event_from_json(obj)
        if self.version != 1 and self.card:  # an opened v2 event: its sealed fields obey the rules too
            plain = {k: v for k, v in obj.items() if k != "ref"}
            _event_from_json({**self.sealed_fields(), **plain, "card": self.card, "v": 1})
        body = canonical_json(obj)
        if len(body) > MAX_EVENT_BYTES:
            raise MalformedError(Reason.TOO_LARGE, f"{len(body)} bytes, limit {MAX_EVENT_BYTES}")
        return body


def event_hash(body: bytes) -> str:
    """The chain hash of an event: hex SHA-256 of its canonical bytes."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """An event together with the exact bytes that were signed and their signature."""

    body: bytes
    signature: bytes
    event: Event
    opening: Opening | None = None  # a v2 event's opening, sent beside it, never signed or logged
    # After its receipt, instead of the opening: the opening sealed to the server's key (a re-feed).
    sealed_opening: SealedOpening | None = None

    @property
    def hash(self) -> str:
        return event_hash(self.body)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"body": b64encode(self.body), "sig": b64encode(self.signature)}
        if self.opening is not None:
            wire["opening"] = self.opening.to_json()
        elif self.sealed_opening is not None:
            wire["sealed_opening"] = self.sealed_opening.to_b64()
        return wire


def sign_event(event: Event, key: PrivateKey, opening: Opening | None = None) -> SignedEvent:
    """Encode ``event`` canonically and sign those bytes; a v2 event keeps its ``opening`` beside them."""
    body = event.to_bytes()
    return SignedEvent(body=body, signature=key.sign(body), event=event, opening=opening)


def committed_event(
    *,
    kiosk: str,
    seq: int,
    prev: str,
    kind: EventKind,
    card: str,
    clock: ClockEvidence,
    data: Mapping[str, Any] | None = None,
) -> tuple[Event, Opening]:
    """A v2 event about ``card`` with a fresh commitment, and the opening that opens it.

    The event keeps card, clock, kind and data for the kiosk's own use; its
    bytes name only the chain place and the commitment.
    """
    plain = Event(kiosk=kiosk, seq=seq, prev=prev, kind=kind, card=card, clock=clock, data=dict(data or {}))
    obj = plain.to_json()
    _event_from_json(obj)  # the sealed fields obey the event rules before anything is signed
    # Opening.fresh, without checking the card again: the rules just did (a c_ or u_ card ID).
    sealed = {"clock": obj["clock"], "data": obj["data"], "kind": obj["kind"]}
    opening = Opening(card=card, salt=new_salt(), sealed=sealed)
    event = Event(kiosk, seq, prev, kind, card, clock, plain.data, COMMITTED_VERSION, opening.ref)
    return event, opening


def sign_committed_event(
    key: PrivateKey,
    *,
    kiosk: str,
    seq: int,
    prev: str,
    kind: EventKind,
    card: str,
    clock: ClockEvidence,
    data: Mapping[str, Any] | None = None,
) -> SignedEvent:
    """:func:`committed_event` signed by ``key``: what a kiosk does on every tap, with the rules checked once.

    ``sign_event(*committed_event(…))`` gives the same (up to the fresh salt), but
    :meth:`Event.to_bytes` checks the event again, twice: its v2 fields, and its
    sealed fields as a v1 event.  Here the sealed fields are checked once, by
    :func:`committed_event`, and the v2 bytes hold nothing that check did not
    cover: ``kiosk``, ``prev`` and ``seq`` are the checked ones, ``ref`` is a
    SHA-256 made right here, ``type`` and ``v`` are constants.
    """
    event, opening = committed_event(
        kiosk=kiosk, seq=seq, prev=prev, kind=kind, card=card, clock=clock, data=data
    )
    body = sorted_json(event.to_json())  # str and int values only, each checked: canonical as it is
    if len(body) > MAX_EVENT_BYTES:
        raise MalformedError(Reason.TOO_LARGE, f"{len(body)} bytes, limit {MAX_EVENT_BYTES}")
    return SignedEvent(body=body, signature=key.sign(body), event=event, opening=opening)


def _require_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SAFE_INT:
        raise MalformedError(Reason.BAD_FIELD, f"{name} must be an integer >= {minimum}")
    return value


def _require_fields(obj: Mapping[str, Any], expected: frozenset[str], where: str) -> None:
    missing = expected - obj.keys()
    if missing:
        raise MalformedError(Reason.MISSING_FIELD, f"{where} lacks {sorted(missing)[0]!r}")
    unknown = obj.keys() - expected
    if unknown:
        raise MalformedError(Reason.UNKNOWN_FIELD, f"{where} has unknown field {sorted(unknown)[0][:40]!r}")


# The canonical encoding of a v1 event is one fixed layout (keys sorted, no spaces, no escapes), so
# one anchored pattern recognises it exactly, about fifteen times faster than decoding JSON: ingest
# and audits parse every event, and parsing cost as much as checking the signature.  A match is
# only the fast path: every value is still checked against the same rules below, and anything the
# pattern does not match (all malformed input among it) goes to the full parser for its reason.
_INT = r"(0|[1-9][0-9]{0,15})"
_CARD_GROUP: Final = r'\{"card":"([cu]_[0-9a-f]{32})",'
# What a v2 event seals besides the card, in the v1 layout: clock, data and kind.
_CLOCK_DATA_KIND: Final = (
    r'"clock":\{"boot":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",'
    r'"mono_ms":' + _INT + r',"synced":(true|false),"wall_ms":' + _INT + r"\},"
    r'"data":(?:\{\}|\{"reason":"([a-z][a-z0-9_]{0,39})"\}'
    r'|\{(?:"amount":' + _INT + r',)?"id":"(r_[0-9a-f]{32})"(?:,"online":(true|false))?'
    r'(?:,"staff":"(e_[0-9a-f]{32})")?\}|\{"seq":([1-9][0-9]{0,15})\}),'
    r'"kind":"(check_in|check_out|denied|redeem|undo|void)"'
)
_CANONICAL_EVENT: Final = re.compile(
    _CARD_GROUP + _CLOCK_DATA_KIND + r',"kiosk":"(k_[0-9a-f]{32})","prev":"([0-9a-f]{64})",'
    r'"seq":([1-9][0-9]{0,15}),"type":"kokreativ\.event","v":1\}'
)
# An opening's sealed fields with its card, as its commitment hashes them: the v1 layout up to ``kind``.
_CANONICAL_SEALED: Final = re.compile(_CARD_GROUP + _CLOCK_DATA_KIND + r"\}")
# v2: only the chain place and the commitment.
_CANONICAL_EVENT_V2: Final = re.compile(
    r'\{"kiosk":"(k_[0-9a-f]{32})","prev":"([0-9a-f]{64})","ref":"([0-9a-f]{64})",'
    r'"seq":([1-9][0-9]{0,15}),"type":"kokreativ\.event","v":2\}'
)


_TAP_KINDS: Final = frozenset({"check_in", "check_out"})
_KINDS: Final = {kind.value: kind for kind in EventKind}


def _parse_canonical_layout(body: bytes) -> Event | None:
    """The event if ``body`` is in the canonical layout and obeys every v1 rule, else ``None``."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    match = _CANONICAL_EVENT.fullmatch(text)
    if match is None:
        place = _v2_place(text)
        return None if place is None else _sealed(*place)
    groups = match.groups()
    kiosk, prev, seq_text = groups[12:]
    seq = int(seq_text)
    if seq > MAX_SAFE_INT or (seq == 1) != (prev == GENESIS_PREV):
        return None
    part = _sealed_part(*groups[1:12])
    if part is None:
        return None
    kind, clock, data = part
    return Event(kiosk, seq, prev, kind, groups[0], clock, data)


def _v2_place(text: str) -> tuple[str, int, str, str] | None:
    """``(kiosk, seq, prev, ref)`` if ``text`` is a v2 event in the canonical layout that obeys every rule."""
    match = _CANONICAL_EVENT_V2.fullmatch(text)
    if match is None:
        return None
    kiosk, prev, ref, seq_text = match.groups()
    seq = int(seq_text)
    if seq > MAX_SAFE_INT or (seq == 1) != (prev == GENESIS_PREV):
        return None
    return kiosk, seq, prev, ref


def _sealed_part(
    boot: str,
    mono_text: str,
    synced: str,
    wall_text: str,
    reason: str | None,
    amount: str | None,
    redemption: str | None,
    online: str | None,
    staff: str | None,
    target: str | None,
    kind: str,
) -> tuple[EventKind, ClockEvidence, dict[str, Any]] | None:
    """Kind, clock and data from the groups of :data:`_CLOCK_DATA_KIND` if they obey every v1 rule.

    The pattern fixes each value's form; the rules left are the numbers' range and which
    data fields each kind takes.  ``None`` if they do not.
    """
    mono, wall = int(mono_text), int(wall_text)
    if mono > MAX_SAFE_INT or wall > MAX_SAFE_INT:
        return None
    # Plain strings, not ``EventKind.X.value``: an enum's ``value`` is a property call, per event.
    data: dict[str, Any] = {}
    if kind in _TAP_KINDS:  # the common case: no data at all
        if reason is not None or redemption is not None or target is not None:
            return None
    elif kind == "undo":
        if target is None or int(target) > MAX_SAFE_INT:
            return None
        data = {"seq": int(target)}
    elif target is not None:
        return None
    elif kind == "denied":
        if reason is None or redemption is not None:
            return None
        data = {"reason": reason}
    elif kind == "redeem":
        if amount is None or online is None or reason is not None or not 1 <= int(amount) <= MAX_AMOUNT:
            return None
        data = {"amount": int(amount), "id": redemption, "online": online == "true"}
        if staff is not None:
            data["staff"] = staff
    else:  # void; the pattern allows no other kind
        if redemption is None or amount is not None or online is not None or reason is not None:
            return None
        if staff is not None:
            return None
        data = {"id": redemption}
    return _KINDS[kind], ClockEvidence(wall, synced == "true", boot, mono), data


SEALED_CLOCK: Final = ClockEvidence(
    wall_ms=0, synced=False, boot_id="00000000-0000-0000-0000-000000000000", mono_ms=0
)


def _sealed(kiosk: str, seq: int, prev: str, ref: str) -> Event:
    """A parsed v2 event before its opening: chain place and commitment, nothing else."""
    return Event(
        kiosk=kiosk,
        seq=seq,
        prev=prev,
        kind=EventKind.SEALED,
        card="",
        clock=SEALED_CLOCK,
        version=COMMITTED_VERSION,
        ref=ref,
    )


def _opened_full(event: Event, opening: Opening) -> Event:
    """:meth:`Event.opened` the long way: the commitment checked, then every event rule on a dict."""
    assert opening.sealed is not None and event.ref is not None
    opening.check(event.ref)
    plain = _event_from_json(
        {
            **opening.sealed,
            "card": opening.card,
            "kiosk": event.kiosk,
            "prev": event.prev,
            "seq": event.seq,
            "type": EVENT_TYPE,
            "v": 1,
        }
    )
    if plain.kind is EventKind.SEALED:
        raise MalformedError(Reason.UNKNOWN_KIND, "an opening cannot say sealed")
    return dataclasses.replace(plain, version=event.version, ref=event.ref)


def _opened_fast(event: Event, opening: Opening) -> Event | None:
    """:meth:`Event.opened` in one pass for an opening in the canonical layout, else ``None``.

    The event's chain place is checked by the v2 rules first, as :func:`parse_event`
    checks it (an :class:`Event` may be made by hand); :func:`_open_place` does the
    rest.  Anything else (``None``) takes :func:`_opened_full`, which finds the reason;
    a test holds the two equal.
    """
    assert opening.sealed is not None and event.ref is not None
    if type(event.seq) is not int:
        return None
    try:
        kiosk, prev, ref = (
            event.kiosk.encode("ascii"),
            event.prev.encode("ascii"),
            event.ref.encode("ascii"),
        )
    except (TypeError, ValueError, AttributeError):
        return None
    body = b'{"kiosk":"%s","prev":"%s","ref":"%s","seq":%d,"type":"kokreativ.event","v":2}' % (
        kiosk,
        prev,
        ref,
        event.seq,
    )
    place = _v2_place(body.decode("ascii"))
    return None if place is None else _open_place(*place, opening, event.version)


def _open_place(
    kiosk: str, seq: int, prev: str, ref: str, opening: Opening, version: int = COMMITTED_VERSION
) -> Event | None:
    """The v2 event at a chain place the v2 rules passed, opened, if ``opening`` is in the canonical layout.

    The opening's sealed fields are encoded once, as its commitment hashes them:
    ``{"card", "clock", "data", "kind"}`` is the v1 layout up to ``kind``, which
    :data:`_CANONICAL_SEALED` and :func:`_sealed_part` check by every v1 rule.  The v1
    event the opening describes is those fields with this chain place, whose rules are
    the v2 ones it passed.  A match means the encoding is canonical (the pattern admits
    no float, null or unsafe integer) and the rules pass, so only ``opening_mismatch`` is
    left to decide.  ``None`` otherwise: the caller's long way finds the reason.
    """
    try:
        text = sorted_json_text({"card": opening.card, **opening.sealed})  # type: ignore[dict-item]
    except (TypeError, ValueError, RecursionError, AttributeError):
        return None
    match = _CANONICAL_SEALED.fullmatch(text)
    if match is None:
        return None
    groups = match.groups()
    part = _sealed_part(*groups[1:])
    if part is None or groups[0] != opening.card:
        return None
    opening.check_encoded(ref, text.encode("ascii"))
    kind, clock, data = part
    return Event(kiosk, seq, prev, kind, groups[0], clock, data, version, ref)


def open_canonical(body: bytes, opening: Opening) -> Event | None:
    """``parse_event(body).opened(opening)`` in one pass, or ``None``: then take that long way.

    Ingest opens nearly every event it parses: a canonical v2 event with its opening
    beside it.  Here its chain place is checked as :func:`parse_event` checks it and
    the opening as :meth:`Event.opened` does (:func:`_open_place`), building one
    :class:`Event` instead of three.  ``opening_mismatch`` is raised as ``opened``
    raises it; any other refusal is left to the long way (``None``), which finds it.
    """
    if opening.sealed is None or len(body) > MAX_EVENT_BYTES:
        return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    place = _v2_place(text)
    return None if place is None else _open_place(*place, opening)


def parse_event(body: bytes) -> Event:
    """Parse canonical event bytes strictly, without checking any signature."""
    if len(body) <= MAX_EVENT_BYTES:
        event = _parse_canonical_layout(body)
        if event is not None:
            return event
    return _event_from_json(parse_canonical_json(body, max_bytes=MAX_EVENT_BYTES))


def _event_from_json(obj: dict[str, Any]) -> Event:
    """Apply every v1 or v2 field rule to a decoded object; shared by parsing and encoding."""
    if obj.get("type") != EVENT_TYPE:
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a kokreativ.event")
    version = obj.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise MalformedError(Reason.UNKNOWN_VERSION, f"event version {str(version)[:20]!r} is not supported")
    _require_fields(obj, _TOP_FIELDS if version == 1 else _TOP_FIELDS_V2, "event")
    if version != 1:
        prev, seq = _chain_place(obj)
        kiosk = ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk")
        return _sealed(kiosk, seq, prev, require_commitment(obj["ref"], field="ref"))

    try:
        kind = EventKind(obj["kind"])
    except ValueError:
        raise MalformedError(Reason.UNKNOWN_KIND, f"kind {str(obj['kind'])[:40]!r} is not known") from None
    if kind is EventKind.SEALED:
        raise MalformedError(Reason.UNKNOWN_KIND, "kind 'sealed' is not signed by anybody")

    prev, seq = _chain_place(obj)

    clock = obj["clock"]
    if not isinstance(clock, dict):
        raise MalformedError(Reason.BAD_FIELD, "clock is not an object")
    _require_fields(clock, _CLOCK_FIELDS, "clock")
    if not isinstance(clock["synced"], bool):
        raise MalformedError(Reason.BAD_FIELD, "clock.synced is not a boolean")
    if not isinstance(clock["boot"], str) or _BOOT_ID.fullmatch(clock["boot"]) is None:
        raise MalformedError(Reason.BAD_FIELD, "clock.boot is not a lowercase UUID")
    evidence = ClockEvidence(
        wall_ms=_require_int(clock["wall_ms"], "clock.wall_ms", 0),
        synced=clock["synced"],
        boot_id=clock["boot"],
        mono_ms=_require_int(clock["mono_ms"], "clock.mono_ms", 0),
    )

    data = obj["data"]
    if not isinstance(data, dict):
        raise MalformedError(Reason.BAD_FIELD, "data is not an object")
    validators = DATA_FIELDS[kind]
    optional = OPTIONAL_DATA_FIELDS.get(kind, {})
    _require_fields(
        {name: None for name in data if name not in optional}, frozenset(validators), f"data of {kind.value}"
    )
    for name, validate in validators.items():
        validate(data[name])
    for name, validate in optional.items():
        if name in data:
            validate(data[name])

    return Event(
        kiosk=ids.require_id(obj["kiosk"], ids.KIOSK, field="kiosk"),
        seq=seq,
        prev=prev,
        kind=kind,
        card=ids.require_id(obj["card"], ids.CARD, ids.UID_CARD, field="card"),
        clock=evidence,
        data=data,
    )


def _chain_place(obj: Mapping[str, Any]) -> tuple[str, int]:
    """``(prev, seq)`` of an event object, checked: 64 hex digits, all zeros exactly at ``seq`` 1."""
    prev = obj["prev"]
    if not isinstance(prev, str) or _HEX64.fullmatch(prev) is None:
        raise MalformedError(Reason.BAD_FIELD, "prev is not 64 lowercase hex digits")
    seq = _require_int(obj["seq"], "seq", 1)
    if (seq == 1) != (prev == GENESIS_PREV):
        raise MalformedError(Reason.BAD_FIELD, "prev is all zeros exactly when seq is 1")
    return prev, seq


def decode_wire_event(item: object) -> tuple[bytes, bytes]:
    """Split one wire item ``{"body": b64, "sig": b64}`` into bytes, strictly (an opening is refused)."""
    body, signature, opening = decode_wire_item(item)
    if opening is not None:
        name = "opening" if isinstance(opening, Opening) else "sealed_opening"
        raise MalformedError(Reason.UNKNOWN_FIELD, f"event item has unknown field {name!r}")
    return body, signature


_ITEM_FIELDS: Final = frozenset({"body", "sig"})
_ITEM_WITH_OPENING: Final = _ITEM_FIELDS | {"opening"}
_ITEM_WITH_SEALED_OPENING: Final = _ITEM_FIELDS | {"sealed_opening"}


def decode_wire_item(item: object) -> tuple[bytes, bytes, Opening | SealedOpening | None]:
    """Split one wire item ``{"body", "sig"}`` strictly; v2 adds ``opening`` or ``sealed_opening``."""
    if not isinstance(item, dict):
        raise MalformedError(Reason.BAD_FIELD, "event item is not an object")
    if "opening" in item:
        expected = _ITEM_WITH_OPENING
    elif "sealed_opening" in item:
        expected = _ITEM_WITH_SEALED_OPENING
    else:
        expected = _ITEM_FIELDS
    if item.keys() != expected:
        _require_fields(item, expected, "event item")
    body = b64decode(item["body"], field="body")
    signature = b64decode(item["sig"], field="sig", length=SIGNATURE_BYTES)
    # The item has exactly the fields ``expected`` names now: which set it is tells what came beside.
    opening: Opening | SealedOpening | None = None
    if expected is _ITEM_WITH_OPENING:
        opening = parse_opening(item["opening"], field="opening")
    elif expected is _ITEM_WITH_SEALED_OPENING:
        opening = parse_sealed_opening(item["sealed_opening"])
    return body, signature, opening


def verify_event(body: bytes, signature: bytes, key: PublicKey) -> SignedEvent:
    """Parse ``body`` strictly and check ``signature`` with ``key``; raise on any failure."""
    event = parse_event(body)
    key.verify(body, signature)
    return SignedEvent(body=body, signature=signature, event=event)
