"""Every parser of untrusted bytes, as a fuzz target: what it takes, valid seeds, and what it may raise.

One table serves both fuzzers: the Hypothesis tests (tests/protocol/test_protocol_fuzz.py,
in ``make test`` and bigger under ``make chaos``) and the optional atheris runner
(tests/fuzz_atheris.py).  A target turns fuzz bytes into a call of the real parser;
``allowed`` is the documented exception tree of that parser (``ProtocolError`` with a
``Reason`` for protocol/, ``BundleError`` for entry bundles).  Anything else escaping
is a crash.

Signed documents are fuzzed twice: as raw wire bytes (stopped by the signature), and
with the mutated body re-signed by the right key, so the parser behind the signature
is reached too (the "resigned" targets).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hardware.cardrecord import credential_message, find_credential
from protocol import (
    GENESIS_PREV,
    CardTrust,
    ClockEvidence,
    Event,
    EventKind,
    PrivateKey,
    ProtocolError,
    Receipt,
    b64encode,
    decode_batch_request,
    decode_wire_event,
    issue_credential,
    issuer_key_id,
    parse_credential,
    parse_event,
    sign_event,
    verify_credential,
    verify_event,
    verify_receipt,
)
from protocol.balances import BalanceSheet, verify_balances
from protocol.batches import encode_batch
from protocol.checkpoint import (
    Checkpoint,
    parse_checkpoint_text,
    parse_tlog_proof,
    sign_checkpoint,
    verify_checkpoint,
)
from protocol.decisions import parse_decision
from protocol.encoding import parse_canonical_json
from protocol.heartbeat import Heartbeat, open_heartbeat, parse_heartbeat
from protocol.logentry import event_entry, parse_entry
from protocol.note import NoteVerifier, parse_note, verify_note
from protocol.sealed import seal
from protocol.serverkeys import open_transition, parse_transition, sign_transition
from protocol.tiles import BundleError, claimed_size, format_bundle, parse_bundle, split_bundle
from protocol.trust import TrustList, verify_trust_list

SERVER = PrivateKey(bytes(range(32)))
NEXT_SERVER = PrivateKey(bytes(range(40, 72)))
KIOSK_KEY = PrivateKey(bytes(range(100, 132)))
ISSUER = PrivateKey(bytes(range(200, 232)))
KIOSK = "k_559fa9c0eb2eb94da892084c943b1b27"
CARD = "c_00a71ed80fa1e76c198371c3ece0dc0e"
UID = bytes.fromhex("04a1b2c3d4e5f6")
ORIGIN = "ledger.example.org/log"
VERIFIER = NoteVerifier.for_key(ORIGIN, SERVER.public_key)
CARD_TRUST = CardTrust(issuer_keys={issuer_key_id(ISSUER.public_key): ISSUER.public_key})

_EVENT = sign_event(
    Event(
        kiosk=KIOSK,
        seq=1,
        prev=GENESIS_PREV,
        kind=EventKind.CHECK_IN,
        card=CARD,
        clock=ClockEvidence(
            wall_ms=1764400000000, synced=True, boot_id="b08d2866-f413-4cb3-a8a0-cd36bb39ffe3", mono_ms=5
        ),
    ),
    KIOSK_KEY,
)
_CREDENTIAL = issue_credential(
    ISSUER, card_id=CARD, uid=UID, valid_from_s=1_700_000_000, valid_until_s=1_900_000_000
)
_RECEIPT = Receipt(kiosk=KIOSK, seq=42, head="a" * 64, issued_ms=1764400000000).to_bytes()
_HEARTBEAT = Heartbeat(
    kiosk=KIOSK,
    sent_ms=1764400000000,
    boot="b08d2866-f413-4cb3-a8a0-cd36bb39ffe3",
    mono_ms=5,
    synced=True,
    version="0.1.0",
    pending=3,
    reader="ok",
    last_seq=7,
).to_bytes()
_TRUST = TrustList(
    kiosk=KIOSK,
    site="s_559fa9c0eb2eb94da892084c943b1b27",
    issued_ms=1764400000000,
    issuers=((issuer_key_id(ISSUER.public_key), ISSUER.public_key),),
    blocked=frozenset({"c_" + "1" * 32}),
    allow_uncredentialed=False,
    coordinators=frozenset({"c_" + "2" * 32}),
).to_bytes()
_BALANCES = BalanceSheet(kiosk=KIOSK, as_of_ms=1764400000000, balances={CARD: 20}).to_bytes()
_CHECKPOINT = sign_checkpoint(Checkpoint(ORIGIN, 5, bytes(32), ()), SERVER, key_name=ORIGIN)
_TRANSITION = sign_transition(SERVER, NEXT_SERVER, at_ms=1764400000000)


def _json(data: bytes) -> object:
    """The JSON value in ``data``, or the bytes as a (wrong) string, so every input reaches the parser."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return data.decode("latin-1")


def _wire(body: bytes, key: PrivateKey) -> dict[str, str]:
    return seal(body, key)


@dataclass(frozen=True)
class Target:
    """One parser: ``run`` feeds it fuzz bytes; only ``allowed`` may escape."""

    name: str
    run: Callable[[bytes], Any]
    seeds: tuple[bytes, ...]
    allowed: tuple[type[BaseException], ...] = (ProtocolError,)


TARGETS: tuple[Target, ...] = (
    Target("ndef", find_credential, (credential_message(_CREDENTIAL), b"\xd0\x00\x00")),
    Target("credential", parse_credential, (_CREDENTIAL,)),
    Target(
        "credential_verify",
        lambda data: verify_credential(data, uid=UID, trust=CARD_TRUST, now_s=1_800_000_000),
        (_CREDENTIAL,),
    ),
    Target("batch", decode_batch_request, (encode_batch([_EVENT]),)),
    Target("event", parse_event, (_EVENT.body,)),
    Target("event_verify", lambda data: verify_event(data, _EVENT.signature, KIOSK_KEY.public_key), ()),
    Target(
        "event_wire", lambda data: decode_wire_event(_json(data)), (json.dumps(_EVENT.to_wire()).encode(),)
    ),
    Target("canonical_json", lambda data: parse_canonical_json(data, max_bytes=65536), (_EVENT.body,)),
    Target("checkpoint_text", lambda data: parse_checkpoint_text(data.decode("latin-1")), ()),
    Target("checkpoint", lambda data: verify_checkpoint(data, [VERIFIER]), (_CHECKPOINT,)),
    Target("tlog_proof", parse_tlog_proof, (b"c2sp.org/tlog-proof@v1\nindex 0\n\n" + _CHECKPOINT,)),
    Target("note", parse_note, (_CHECKPOINT,)),
    Target("note_verify", lambda data: verify_note(data, [VERIFIER]), (_CHECKPOINT,)),
    Target("note_verifier_key", lambda data: NoteVerifier.parse(data.decode("latin-1")), ()),
    Target("tile_bundle", split_bundle, (format_bundle([b"a", b"bc"]),), allowed=(BundleError,)),
    Target("tile_bundle_count", lambda data: parse_bundle(data, 2), (), allowed=(BundleError,)),
    Target("tile_claimed_size", claimed_size, (_CHECKPOINT,)),
    Target("receipt", lambda data: verify_receipt(_json(data), SERVER.public_key, kiosk_id=KIOSK), ()),
    Target(
        "receipt_resigned",
        lambda data: verify_receipt(_wire(data, SERVER), SERVER.public_key, kiosk_id=KIOSK),
        (_RECEIPT,),
    ),
    Target(
        "trust_resigned",
        lambda data: verify_trust_list(_wire(data, SERVER), SERVER.public_key, kiosk_id=KIOSK),
        (_TRUST,),
    ),
    Target("trust", lambda data: verify_trust_list(_json(data), SERVER.public_key, kiosk_id=KIOSK), ()),
    Target("heartbeat", parse_heartbeat, (_HEARTBEAT,)),
    Target(
        "heartbeat_resigned",
        lambda data: open_heartbeat(_wire(data, KIOSK_KEY), KIOSK_KEY.public_key, kiosk_id=KIOSK),
        (_HEARTBEAT,),
    ),
    Target(
        "balances_resigned",
        lambda data: verify_balances(_wire(data, SERVER), SERVER.public_key, kiosk_id=KIOSK),
        (_BALANCES,),
    ),
    Target("decision", parse_decision, ()),
    Target("log_entry", parse_entry, (event_entry(_EVENT.body, _EVENT.signature, received_ms=1, flags=[]),)),
    Target("key_transition", parse_transition, (_TRANSITION.body,)),
    Target(
        "key_transition_wire",
        lambda data: open_transition(_json(data), SERVER.public_key),
        (json.dumps(_TRANSITION.to_wire()).encode(),),
    ),
)

# Seeds the Hypothesis fuzzer mutates even where a target names none of its own.
COMMON_SEEDS: tuple[bytes, ...] = (
    b"",
    b"{}",
    b"[]",
    b"null",
    _EVENT.body,
    json.dumps({"body": b64encode(_EVENT.body), "sig": b64encode(_EVENT.signature)}).encode(),
)


def by_name(name: str) -> Target:
    """The target called ``name``."""
    for target in TARGETS:
        if target.name == name:
            return target
    raise KeyError(name)
