"""What the ledger's transparency log holds: one canonical-JSON entry per fact.

The log is self-contained for an auditor, so replaying it in order rebuilds
every balance; entries hold random IDs and public keys only, never names
(DSGVO).  The kinds and their fields: ``docs/protocol.md``, "Transparency
log", "Entries".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from protocol.encoding import b64decode, b64encode, canonical_json, parse_canonical_json
from protocol.errors import MalformedError
from protocol.merkle import leaf_hash
from protocol.reasons import Reason

ENTRY_TYPE: Final = "kokreativ.entry"
ENTRY_VERSION: Final = 1  # the entries of a log started before issue 17 (an archived origin)
PRIVATE_ENTRY_VERSION: Final = 2  # the entries of a log that names no card (``docs/privacy.md``)
MAX_ENTRY_BYTES: Final = 8192  # an event is at most 2 KiB; tlog-tiles bundles allow 64 KiB

# kind -> its fields (besides kind/type/v)
ENTRY_FIELDS: Final[dict[str, frozenset[str]]] = {
    "event": frozenset({"body", "sig", "received_ms", "flags"}),
    "kiosk_enrolled": frozenset({"kiosk_id", "site_id", "public_key", "at_ms"}),
    "kiosk_status": frozenset({"kiosk_id", "status", "at_ms"}),
    "site": frozenset({"site_id", "tokens_per_hour", "max_shift_hours", "allow_uncredentialed", "at_ms"}),
    "issuer_key": frozenset({"key_id", "public_key", "status", "at_ms"}),
    "card": frozenset({"card_id", "volunteer_id", "at_ms"}),
    "card_blocked": frozenset({"card_id", "at_ms"}),
    "shop": frozenset(
        {"site_id", "max_amount", "offline_allowance", "offline_daily_cap", "void_window_s", "at_ms"}
    ),
    "coordinator_key": frozenset({"coordinator_id", "public_key", "status", "at_ms"}),
    "decision": frozenset({"body", "sig", "received_ms"}),
    "clock_ref": frozenset({"body", "sig", "received_ms"}),
    "server_key": frozenset({"body", "sig_old", "sig_new"}),
    # An hours certificate (Nachweis, issue 18): a period of local days, the hours in it and a salted
    # hash of the printed name; no card, no volunteer, no site (protocol.certificates).
    "certificate": frozenset({"from_day", "to_day", "minutes", "name_hash", "at_ms"}),
    # A shop's till staff member added, changed or removed (issue 19): what the redeem rules read of
    # them (``staff_id`` ``e_…``, ``role``, ``daily_max``, ``active``); never their name or PIN.
    "till_staff": frozenset({"site_id", "staff_id", "role", "daily_max", "active", "at_ms"}),
}
# Entry v2: nothing in it names a card or a volunteer, or tells what a tap was or when (``docs/privacy.md``).
# An ``event`` holds a v2 event (its chain place and a commitment to card, clock, kind and data) and
# the UTC day the server received it (``received_ms`` floored to :data:`PUBLIC_DAY_MS`): no flags,
# no amounts.  A card's registration and block are hiding commitments (``ref``) whose openings the
# server keeps off the log.  ``totals`` says by how many tokens the entries ``first..last`` changed
# the economy's totals (signed: a void takes back), appended once a UTC day, so a stranger can sum
# the totals up to the last closed day and an auditor with the openings can check every range.
# ``handover`` is the first entry of a new origin: the old log's last checkpoint (origin, size, root
# hash) and each kiosk's chain head.  ``event_sealed`` stands for a v1 event (which names its card)
# in a log that names no card: its hash, chain position and a commitment; the bytes go to the auditor.
PUBLIC_DAY_MS: Final = 86_400_000
ENTRY_FIELDS_V2: Final[dict[str, frozenset[str]]] = {
    **{kind: fields for kind, fields in ENTRY_FIELDS.items() if kind not in {"card", "card_blocked"}},
    "event": frozenset({"body", "sig", "received_ms"}),
    "decision": frozenset({"body", "sig", "received_ms"}),
    "card": frozenset({"ref", "at_ms"}),
    "card_blocked": frozenset({"ref", "at_ms"}),
    "handover": frozenset({"old_origin", "old_size", "old_root", "kiosks", "at_ms"}),
    "event_sealed": frozenset({"kiosk", "seq", "hash", "prev", "ref", "received_ms"}),
    "totals": frozenset({"first", "last", "issued", "redeemed", "at_ms"}),
}


# Fields an entry of a kind may carry besides its own (both versions).  A decision that credits more
# than the server's four-eyes threshold carries ``cosig``: ``{"coordinator": o_…, "sig": b64}``, a
# second coordinator key's signature over :func:`protocol.decisions.cosign_message` of its body.
OPTIONAL_FIELDS: Final[dict[str, frozenset[str]]] = {"decision": frozenset({"cosig"})}
_COSIG_FIELDS: Final = frozenset({"coordinator", "sig"})


def public_day(received_ms: int) -> int:
    """``received_ms`` floored to its UTC day: the only receipt time an entry v2 of an event shows."""
    return received_ms - received_ms % PUBLIC_DAY_MS


_FIELDS_BY_VERSION: Final[dict[int, dict[str, frozenset[str]]]] = {1: ENTRY_FIELDS, 2: ENTRY_FIELDS_V2}
_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SIGNED_TOTALS: Final = ("issued", "redeemed")  # may be negative
# Kinds whose ``body`` and ``sig`` are somebody's signed bytes, kept exactly.
_SIGNED_KINDS: Final = frozenset({"event", "decision", "clock_ref"})
_COUNTS: Final = (
    "received_ms",
    "first",
    "last",
    "at_ms",
    "tokens_per_hour",
    "max_shift_hours",
    "max_amount",
    "offline_allowance",
    "offline_daily_cap",
    "void_window_s",
    "minutes",
    "daily_max",
)


def make_entry(kind: str, *, version: int = ENTRY_VERSION, **fields: Any) -> bytes:
    """The canonical entry bytes of ``version`` for ``kind`` with ``fields`` (exactly the documented ones)."""
    expected = _FIELDS_BY_VERSION[version].get(kind)
    if expected is None:
        raise MalformedError(Reason.UNKNOWN_KIND, f"unknown log entry kind {kind!r}")
    if not expected <= set(fields) <= expected | OPTIONAL_FIELDS.get(kind, frozenset()):
        raise MalformedError(Reason.BAD_FIELD, f"a {kind} entry has exactly {sorted(expected)}")
    return canonical_json({"kind": kind, "type": ENTRY_TYPE, "v": version, **fields})


def event_entry(body: bytes, sig: bytes, *, received_ms: int, flags: Sequence[str]) -> bytes:
    """The entry v1 of one admitted kiosk event (``body`` and ``sig`` exactly as the kiosk signed them).

    A log that names no card writes :func:`private_event_entry` instead.
    """
    return make_entry(
        "event", body=b64encode(body), sig=b64encode(sig), received_ms=received_ms, flags=list(flags)
    )


def event_leaf_hash(body: bytes, sig: bytes, *, received_ms: int, flags: Sequence[str]) -> bytes:
    """The leaf hash of :func:`event_entry`: what a kiosk checks an inclusion proof against."""
    return leaf_hash(event_entry(body, sig, received_ms=received_ms, flags=flags))


def private_event_entry(body: bytes, sig: bytes, *, received_ms: int) -> bytes:
    """The entry v2 of an admitted v2 event: its signed bytes and the UTC day of ``received_ms``, no more."""
    return make_entry(
        "event",
        version=PRIVATE_ENTRY_VERSION,
        body=b64encode(body),
        sig=b64encode(sig),
        received_ms=public_day(received_ms),
    )


def private_event_leaf_hash(body: bytes, sig: bytes, *, received_ms: int) -> bytes:
    """The leaf hash of :func:`private_event_entry`: what a kiosk checks an inclusion proof against."""
    return leaf_hash(private_event_entry(body, sig, received_ms=received_ms))


def sealed_event_entry(
    *, kiosk: str, seq: int, body_hash: str, prev: str, ref: str, received_ms: int
) -> bytes:
    """The ``event_sealed`` entry of a v1 event in a log that names no card, as server and kiosk build it.

    Its chain place (``kiosk``, ``seq``, the hash of its bytes and ``prev``), a
    commitment the server made to its card, and only the UTC day it was received.
    """
    return make_entry(
        "event_sealed",
        version=PRIVATE_ENTRY_VERSION,
        kiosk=kiosk,
        seq=seq,
        hash=body_hash,
        prev=prev,
        ref=ref,
        received_ms=public_day(received_ms),
    )


def cosig_field(coordinator: str, sig: bytes) -> dict[str, str]:
    """The ``cosig`` field of a decision entry: the cosigning coordinator key and its signature."""
    return {"coordinator": coordinator, "sig": b64encode(sig)}


def decision_entry(
    body: bytes, sig: bytes, *, received_ms: int, cosig: tuple[str, bytes] | None = None
) -> bytes:
    """The entry for one applied coordinator decision (``body`` and ``sig`` exactly as signed).

    ``cosig`` is ``(coordinator, signature)`` of a second key for a four-eyes decision.
    """
    extra: dict[str, Any] = {} if cosig is None else {"cosig": cosig_field(*cosig)}
    return make_entry("decision", body=b64encode(body), sig=b64encode(sig), received_ms=received_ms, **extra)


def clock_ref_entry(body: bytes, sig: bytes, *, received_ms: int) -> bytes:
    """The entry for a kiosk's clock sample the server took as a reference, ``received_ms`` its reading."""
    return make_entry("clock_ref", body=b64encode(body), sig=b64encode(sig), received_ms=received_ms)


def _parse_cosig(value: object) -> dict[str, Any]:
    """A decision entry's ``cosig``, its signature decoded to bytes (the ID is checked by who verifies it)."""
    if (
        not isinstance(value, dict)
        or set(value) != _COSIG_FIELDS
        or not isinstance(value["coordinator"], str)
    ):
        raise MalformedError(Reason.BAD_FIELD, "cosig is {coordinator, sig}")
    return {"coordinator": value["coordinator"], "sig": b64decode(value["sig"], field="entry.cosig.sig")}


def parse_entry(data: bytes) -> dict[str, Any]:
    """Parse and check one entry; the signed kinds get ``body`` and ``sig`` decoded to bytes."""
    obj: dict[str, Any] = parse_canonical_json(data, max_bytes=MAX_ENTRY_BYTES)
    version = obj.get("v")
    if (
        obj.get("type") != ENTRY_TYPE
        or not isinstance(version, int)
        or isinstance(version, bool)
        or version not in _FIELDS_BY_VERSION
    ):
        raise MalformedError(Reason.UNKNOWN_TYPE, "not a v1 or v2 kokreativ.entry")
    kind = obj.get("kind")
    expected = _FIELDS_BY_VERSION[version].get(kind) if isinstance(kind, str) else None
    if expected is None:
        raise MalformedError(Reason.UNKNOWN_KIND, f"unknown log entry kind {kind!r}")
    present = set(obj) - {"kind", "type", "v"}
    if not expected <= present <= expected | OPTIONAL_FIELDS.get(str(kind), frozenset()):
        raise MalformedError(Reason.UNKNOWN_FIELD, f"a {kind} entry has exactly {sorted(expected)}")
    if "cosig" in obj:
        obj["cosig"] = _parse_cosig(obj["cosig"])
    for name in _COUNTS:
        value = obj.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MalformedError(Reason.BAD_FIELD, f"{name} must be an integer >= 0")
    for name in _SIGNED_TOTALS:
        value = obj.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedError(Reason.BAD_FIELD, f"{name} must be an integer")
    for name in ("ref", "old_root", "hash", "prev", "name_hash"):
        if name in obj and (not isinstance(obj[name], str) or len(obj[name]) != 64):
            raise MalformedError(Reason.BAD_FIELD, f"{name} must be 64 hex digits")
    for name in ("from_day", "to_day"):
        if name in obj and (not isinstance(obj[name], str) or _DAY.fullmatch(obj[name]) is None):
            raise MalformedError(Reason.BAD_FIELD, f"{name} must be a date YYYY-MM-DD")
    if kind in _SIGNED_KINDS:
        obj["body"] = b64decode(obj["body"], field="entry.body")
        obj["sig"] = b64decode(obj["sig"], field="entry.sig")
    if kind == "server_key":
        for name in ("body", "sig_old", "sig_new"):
            obj[name] = b64decode(obj[name], field=f"entry.{name}")
    if (
        kind == "event"
        and obj["v"] == ENTRY_VERSION
        and (not isinstance(obj["flags"], list) or not all(isinstance(f, str) for f in obj["flags"]))
    ):
        raise MalformedError(Reason.BAD_FIELD, "flags is a list of reason codes")
    return obj
