"""The transparency log over a real loopback server: what is logged, checkpoints, proofs, receipts.

Roots and proofs are checked against :mod:`protocol.merkle`'s reference
computation over the stored entries, and every checkpoint against the
verifier key that ``init`` printed, as an auditor would.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from server_helpers import HOUR, MINUTE, T0, Api, World, assert_error
from tlog_helpers import (
    kinds,
    leaves,
    parsed_entries,
    reference_reader,
    send_logged,
    stored_entries,
    verified_checkpoint,
)

from protocol import EventKind, Reason, SignedEvent, b64decode, encode_batch, ids
from protocol.checkpoint import Checkpoint, verify_tlog_proof
from protocol.commitments import Opening
from protocol.logentry import (
    event_entry,
    parse_entry,
    private_event_entry,
    private_event_leaf_hash,
    public_day,
)
from protocol.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    reference_root,
    verify_consistency,
    verify_inclusion,
)
from protocol.note import NoteVerifier
from server import admin, ingest, ingest_store, tlog
from server.datadir import InitResult
from server.storage import Tx, encode_flags


def _hashes(items: list[str]) -> list[bytes]:
    return [b64decode(item, field="hash") for item in items]


def _log_state(api: Api) -> tuple[int, tuple[int, bytes] | None]:
    with api.context.storage.read() as tx:
        return tx.tlog_size(), tx.latest_checkpoint()


# -- checkpoints and keys --------------------------------------------------------------------------
def test_a_new_ledger_has_a_signed_empty_checkpoint(api: Api, data_dir: tuple[Path, InitResult]) -> None:
    response = api.http.get("/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    checkpoint = verified_checkpoint(response.content, data_dir[1].log_verifier_key)
    assert checkpoint == Checkpoint("kokreativ.local/ledger", 0, EMPTY_ROOT)


def test_log_key_and_enrolment_name_the_same_origin_and_key(
    api: Api, world: World, data_dir: tuple[Path, InitResult]
) -> None:
    init = data_dir[1]
    assert api.http.get("/v1/log/key").json() == {
        "origin": "kokreativ.local/ledger",
        "verifier_key": init.log_verifier_key,
    }
    assert world.kiosk.enrolment["log_origin"] == init.log_origin == "kokreativ.local/ledger"
    assert world.kiosk.enrolment["log_verifier_key"] == init.log_verifier_key
    verifier = NoteVerifier.parse(init.log_verifier_key)
    assert verifier.public_key == init.server_public_key and verifier.name == init.log_origin


# -- what is logged --------------------------------------------------------------------------------
def test_coordinator_decisions_are_logged_once_each(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10, max_shift_hours=8)
    site_id = site["site_id"]
    for _ in range(2):  # the second call changes nothing, so it logs nothing
        api.admin("POST", f"/v1/admin/sites/{site_id}/policy", {"allow_uncredentialed": True}, expect=200)
    issuer, key = api.add_issuer_key()
    api.add_issuer_key(issuer)
    for action in ("retire", "retire", "revoke"):
        api.admin("POST", f"/v1/admin/issuer-keys/{key['key_id']}/{action}", expect=200)
    card = api.create_card("Grace Hopper")
    uid_card = api.create_card(volunteer_id=card["volunteer_id"], uid="04A1B2C3D4E5F6")
    api.block(card["card_id"], reason="lost")
    api.block(card["card_id"])
    kiosk = api.enrol_kiosk(site_id, enrolled_ms=T0)
    for action in ("clear", "revoke", "revoke"):
        api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/{action}", expect=200)

    common = {"type": "kokreativ.entry", "v": 2, "at_ms": T0}
    public_key = base64.b64encode(issuer.public_key.raw).decode()
    site_fields = {"site_id": site_id, "tokens_per_hour": 10, "max_shift_hours": 8}
    with api.context.storage.read() as tx:  # a fresh data folder's log names no card: commitments
        opened = {o.log_index: o for o in tx.openings_after(-1, 100)}
    registered = [opened[5], opened[6]]
    assert [(o.kind, o.card_id, o.volunteer_id) for o in registered] == [
        ("card", card["card_id"], card["volunteer_id"]),
        ("card", uid_card["card_id"], card["volunteer_id"]),
    ]
    assert (opened[7].kind, opened[7].card_id) == ("card_blocked", card["card_id"])
    refs = [tlog.registration_ref(o.card_id, str(o.volunteer_id), o.salt) for o in registered]
    blocked_ref = Opening(card["card_id"], opened[7].salt).ref
    assert parsed_entries(api.context) == [
        {**common, "kind": "site", **site_fields, "allow_uncredentialed": False},
        {**common, "kind": "site", **site_fields, "allow_uncredentialed": True},
        *(
            {**common, "kind": "issuer_key", "key_id": key["key_id"], "public_key": public_key, "status": s}
            for s in ("active", "retired", "revoked")
        ),
        {**common, "kind": "card", "ref": refs[0]},
        {**common, "kind": "card", "ref": refs[1]},
        {**common, "kind": "card_blocked", "ref": blocked_ref},
        {
            **common,
            "kind": "kiosk_enrolled",
            "kiosk_id": kiosk.kiosk_id,
            "site_id": site_id,
            "public_key": kiosk.key.public_key.to_b64(),
        },
        {**common, "kind": "kiosk_status", "kiosk_id": kiosk.kiosk_id, "status": "revoked"},
    ]


def test_the_log_holds_nothing_personal(api: Api, world: World) -> None:
    name, number, uid = "Grace Brewster Hopper", "EAK-2025-778899", "04A1B2C3D4E5F6"
    card = api.create_card(name, ehrenamtskarte=number)
    api.create_card(volunteer_id=card["volunteer_id"], uid=uid)
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, card["card_id"], T0),
        kiosk.event(EventKind.CHECK_OUT, card["card_id"], T0 + HOUR),
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    api.block(card["card_id"], reason="lost")
    texts = [entry.decode("ascii") for entry in stored_entries(api.context)]
    texts += [entry["body"].decode() for entry in parsed_entries(api.context) if entry["kind"] == "event"]
    assert len(texts) > 8
    for text in texts:
        for secret in (name, "Hopper", number, "778899", uid, uid.lower(), "Ada Lovelace"):
            assert secret not in text


def test_admitted_events_are_logged_in_batch_order_with_their_flags(api: Api, world: World) -> None:
    kiosk = world.kiosk
    stranger = ids.new_id(ids.CARD)
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_IN, stranger, T0 + MINUTE),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    before, _ = _log_state(api)
    response = api.send(kiosk.kiosk_id, batch)
    assert response.status_code == 200, response.text
    flags = [result["flags"] for result in response.json()["results"]]
    assert flags == [[], ["unknown_card"], []]
    # Entry v2 shows the signed (sealed) bytes and the UTC day; the flags and totals are the openings'.
    expected = [private_event_entry(e.body, e.signature, received_ms=T0) for e in batch]
    assert stored_entries(api.context)[before:] == expected
    with api.context.storage.read() as tx:
        assert [tx.event_log_index(kiosk.kiosk_id, seq) for seq in (1, 2, 3)] == [
            before,
            before + 1,
            before + 2,
        ]
        kept = tx.openings_after(before - 1, 10)
    assert [(o.flags, o.issued, o.redeemed, o.received_ms) for o in kept] == [
        ((), 0, 0, T0),
        (("unknown_card",), 0, 0, T0),
        ((), 20, 0, T0),  # the check-out paid two hours at 10 an hour
    ]

    # A resent batch is all duplicates: nothing is appended and no checkpoint is signed.
    state = _log_state(api)
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    assert _log_state(api) == state


def test_equivocation_suspension_and_its_clearing_are_logged(api: Api, world: World) -> None:
    kiosk = world.kiosk
    assert api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)]).status_code == 200
    kiosk.seq, kiosk.head = 0, "0" * 64
    liar = kiosk.event(EventKind.CHECK_IN, world.card_id, T0 + MINUTE)
    assert_error(api.send(kiosk.kiosk_id, [liar]), 409, Reason.EQUIVOCATION)
    api.admin("POST", f"/v1/admin/kiosks/{kiosk.kiosk_id}/clear", expect=200)
    statuses = [
        (e["kiosk_id"], e["status"]) for e in parsed_entries(api.context) if e["kind"] == "kiosk_status"
    ]
    assert statuses == [(kiosk.kiosk_id, "suspended"), (kiosk.kiosk_id, "active")]
    assert kinds(api.context)[-3:] == ["event", "kiosk_status", "kiosk_status"]


# -- roots and proofs ------------------------------------------------------------------------------
def _grow(api: Api, world: World) -> None:
    """A dozen entries of mixed kinds, committed in several transactions."""
    kiosk = world.kiosk
    for hour in range(3):
        start = T0 + hour * 3 * HOUR
        batch = [
            kiosk.event(EventKind.CHECK_IN, world.card_id, start),
            kiosk.event(EventKind.CHECK_OUT, world.card_id, start + HOUR),
        ]
        assert api.send(kiosk.kiosk_id, batch).status_code == 200
        api.create_card(volunteer_id=world.volunteer_id)


def test_every_checkpoint_and_proof_matches_the_reference_tree(
    api: Api, world: World, data_dir: tuple[Path, InitResult]
) -> None:
    _grow(api, world)
    leaf_hashes = leaves(api.context)
    size = len(leaf_hashes)
    assert size == 12
    read = reference_reader(leaf_hashes)

    signed = 0
    with api.context.storage.read() as tx:
        notes = {n: tx.checkpoint(n) for n in range(size + 1)}
    for n, note in notes.items():
        if note is not None:
            checkpoint = verified_checkpoint(note, data_dir[1].log_verifier_key)
            assert (checkpoint.size, checkpoint.root_hash) == (n, reference_root(leaf_hashes[:n]))
            signed += 1
    assert signed == 1 + 3 + 6  # empty, world's three facts, then one per commit

    for n in range(1, size + 1):
        root = reference_root(leaf_hashes[:n])
        for index in range(n):
            answer = api.http.get("/v1/log/inclusion", params={"index": index, "size": n}).json()
            assert answer == {
                "index": index,
                "size": n,
                "hashes": [base64.b64encode(h).decode() for h in inclusion_proof(index, n, read)],
            }
            verify_inclusion(leaf_hashes[index], index, n, _hashes(answer["hashes"]), root)
        for m in range(n + 1):
            answer = api.http.get("/v1/log/consistency", params={"from": m, "to": n}).json()
            assert answer["from"] == m and answer["to"] == n
            assert _hashes(answer["hashes"]) == consistency_proof(m, n, read)
            verify_consistency(m, n, _hashes(answer["hashes"]), reference_root(leaf_hashes[:m]), root)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/log/consistency", {}),
        ("/v1/log/consistency", {"from": "1"}),
        ("/v1/log/consistency", {"from": "2", "to": "1"}),
        ("/v1/log/consistency", {"from": "0", "to": "4"}),
        ("/v1/log/consistency", {"from": "-1", "to": "2"}),
        ("/v1/log/consistency", {"from": "01", "to": "2"}),
        ("/v1/log/inclusion", {"index": "0"}),
        ("/v1/log/inclusion", {"index": "3", "size": "3"}),
        ("/v1/log/inclusion", {"index": "0", "size": "4"}),
        ("/v1/log/inclusion", {"index": "x", "size": "3"}),
        ("/v1/log/inclusion", {"index": "0", "size": "99999999999999999999"}),
    ],
)
def test_proof_requests_outside_the_log_are_bad_fields(
    api: Api, world: World, path: str, params: dict[str, str]
) -> None:
    assert _log_state(api)[0] == 3
    assert_error(api.http.get(path, params=params), 400, Reason.BAD_FIELD)


def test_entry_proof_is_a_c2sp_tlog_proof(api: Api, world: World, data_dir: tuple[Path, InitResult]) -> None:
    _grow(api, world)
    verifier = NoteVerifier.parse(data_dir[1].log_verifier_key)
    entries = stored_entries(api.context)
    for index, entry in enumerate(entries):
        response = api.http.get(f"/v1/log/entries/{index}/proof")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        checkpoint, proof = verify_tlog_proof(response.content, [verifier], leaf_hash=leaf_hash(entry))
        assert (checkpoint.size, proof.index) == (len(entries), index)
    for bad in (str(len(entries)), "-1", "01", "x"):
        assert_error(api.http.get(f"/v1/log/entries/{bad}/proof"), 404, Reason.NOT_FOUND)


def test_event_proof_gives_the_entry_and_its_tlog_proof(
    api: Api, world: World, data_dir: tuple[Path, InitResult]
) -> None:
    kiosk = world.kiosk
    event = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    assert api.send(kiosk.kiosk_id, [event]).status_code == 200
    answer = api.http.get(f"/v1/kiosks/{kiosk.kiosk_id}/events/1/proof").json()
    assert set(answer) == {"index", "entry", "proof"}
    entry = b64decode(answer["entry"], field="entry")
    assert entry == private_event_entry(event.body, event.signature, received_ms=T0)
    verifier = NoteVerifier.parse(data_dir[1].log_verifier_key)
    _, proof = verify_tlog_proof(answer["proof"].encode(), [verifier], leaf_hash=leaf_hash(entry))
    assert proof.index == answer["index"] == 3
    for path in (f"/v1/kiosks/{kiosk.kiosk_id}/events/2/proof", "/v1/kiosks/k_nobody/events/1/proof"):
        assert_error(api.http.get(path), 404, Reason.NOT_FOUND)
    assert_error(api.http.get(f"/v1/kiosks/{kiosk.kiosk_id}/events/one/proof"), 404, Reason.NOT_FOUND)


# -- receipts with proofs --------------------------------------------------------------------------
def _check_entries(body: dict, events: list[SignedEvent], checkpoint: Checkpoint) -> None:
    assert [item["seq"] for item in body["entries"]] == [e.event.seq for e in events]
    assert [item["flags"] for item in body["entries"]] == [r["flags"] for r in body["results"]]
    for item, event in zip(body["entries"], events, strict=True):
        assert set(item) == {"seq", "index", "received_ms", "flags", "v", "hashes"}
        assert item["v"] == 2 and item["received_ms"] == public_day(item["received_ms"])
        leaf = private_event_leaf_hash(event.body, event.signature, received_ms=item["received_ms"])
        verify_inclusion(leaf, item["index"], checkpoint.size, _hashes(item["hashes"]), checkpoint.root_hash)


def test_batch_answers_prove_every_event_and_extend_the_last_checkpoint(
    api: Api, world: World, data_dir: tuple[Path, InitResult]
) -> None:
    key = data_dir[1].log_verifier_key
    kiosk = world.kiosk
    first = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.DENIED, ids.new_id(ids.CARD), T0),
    ]
    response = send_logged(api.http, kiosk.kiosk_id, first, 0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"receipt", "results", "balances", "checkpoint", "entries"}  # no consistency from 0
    one = verified_checkpoint(body["checkpoint"], key)
    assert one.size == 5
    _check_entries(body, first, one)
    assert [item["index"] for item in body["entries"]] == [3, 4]

    # Duplicates and new events in one batch, later: the duplicates keep their index and time.
    api.clock.now = T0 + HOUR
    second = [kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)]
    body = send_logged(api.http, kiosk.kiosk_id, [*first, *second], one.size).json()
    assert [r["status"] for r in body["results"]] == ["duplicate", "duplicate", "accepted"]
    two = verified_checkpoint(body["checkpoint"], key)
    assert two.size == 6
    _check_entries(body, [*first, *second], two)
    day = public_day(T0)  # the entries show the UTC day they came, not the time
    assert [(i["index"], i["received_ms"]) for i in body["entries"]] == [(3, day), (4, day), (5, day)]
    verify_consistency(one.size, two.size, _hashes(body["consistency"]), one.root_hash, two.root_hash)

    # Only duplicates: the latest checkpoint covers them; consistency from its own size is empty.
    api.create_card(volunteer_id=world.volunteer_id)
    body = send_logged(api.http, kiosk.kiosk_id, second, two.size).json()
    three = verified_checkpoint(body["checkpoint"], key)
    assert three.size == 7
    _check_entries(body, second, three)
    verify_consistency(two.size, three.size, _hashes(body["consistency"]), two.root_hash, three.root_hash)
    body = send_logged(api.http, kiosk.kiosk_id, second, three.size).json()
    assert verified_checkpoint(body["checkpoint"], key) == three and body["consistency"] == []


def test_without_log_size_the_answer_is_unchanged(api: Api, world: World) -> None:
    response = api.send(world.kiosk.kiosk_id, [world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0)])
    assert set(response.json()) == {"receipt", "results", "balances"}


@pytest.mark.parametrize("log_size", ["-1", "", "abc", "1.0", "4", "99999999999999999999"])
def test_a_log_size_the_log_never_had_is_refused(api: Api, world: World, log_size: str) -> None:
    before, state = api.snapshot(), _log_state(api)
    event = world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    assert_error(send_logged(api.http, world.kiosk.kiosk_id, [event], log_size), 400, Reason.BAD_FIELD)
    assert api.snapshot() == before and _log_state(api) == state
    assert send_logged(api.http, world.kiosk.kiosk_id, [event], 3).status_code == 200


# -- crash safety ----------------------------------------------------------------------------------
def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("simulated crash")


@pytest.mark.parametrize(
    ("target", "name"), [(ingest_store, "apply_taps"), (Tx, "insert_checkpoint"), (Tx, "advance_kiosk")]
)
def test_a_failure_after_the_insert_rolls_back_events_and_log_together(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, target: object, name: str
) -> None:
    kiosk = world.kiosk
    batch = [kiosk.event(EventKind.CHECK_IN, world.card_id, T0)]
    before, state = api.snapshot(), _log_state(api)
    with monkeypatch.context() as patch:
        patch.setattr(target, name, _boom)
        with pytest.raises(RuntimeError, match="simulated crash"):
            ingest.ingest_batch(api.context, kiosk.kiosk_id, encode_batch(batch))
    assert api.snapshot() == before and _log_state(api) == state
    body = send_logged(api.http, kiosk.kiosk_id, batch, state[0]).json()
    assert body["entries"][0]["index"] == state[0]


def test_a_failed_admin_change_logs_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    state = _log_state(api)
    with monkeypatch.context() as patch:
        patch.setattr(Tx, "insert_checkpoint", _boom)
        with pytest.raises(RuntimeError, match="simulated crash"):
            admin.create_site(api.context, {"name": "x", "tokens_per_hour": 1})
    assert _log_state(api) == state
    assert admin.list_sites(api.context) == {"sites": []}


# -- balances and evidence -------------------------------------------------------------------------
def test_balances_are_given_with_the_size_they_follow_from(api: Api, world: World) -> None:
    other = api.create_card("Emmy Noether")
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    # Balances per volunteer are the auditor's (audit_log), no longer public (issue 17).
    assert api.http.get("/v1/log/balances").status_code == 404
    assert api.http.get("/v1/audit/balances").status_code == 401
    assert api.admin("GET", "/v1/audit/balances", expect=200).json() == {
        "size": 6,
        "balances": {world.volunteer_id: 20, other["volunteer_id"]: 0},
    }
    assert api.http.get("/checkpoint").text.split("\n")[1] == "6"


def test_the_public_totals_are_aggregates_with_small_counts_suppressed(api: Api, world: World) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    totals = api.http.get("/v1/log/totals").json()
    # One volunteer: every figure about them is null, with the reason, and the log's sums wait for the
    # day's totals entry, which waits for 5 people (server.tlog.published_sums).
    assert (totals["size"], totals["issued"], totals["redeemed"], totals["in_circulation"]) == (0, 0, 0, 0)
    assert totals["volunteers_active"] is None and totals["min_public_count"] == 5
    # The month is open: nothing of it is published yet (server.totals), and when it closes it waits.
    assert (totals["months"], totals["shifts"], totals["hours"], totals["pending_from"]) == ([], 0, 0, None)
    assert [(s["shifts"], s["hours"], s["suppressed_periods"]) for s in totals["sites"]] == [(0, 0, 0)]
    api.clock.now = T0 + 40 * 24 * HOUR
    later = api.http.get("/v1/log/totals").json()
    assert (later["months"], later["pending_from"], later["volunteers_active"]) == ([], "2025-11", None)
    assert world.volunteer_id not in json.dumps(totals) and world.card_id not in json.dumps(totals)


def test_tlog_event_entry_template_is_protocol_event_entry_byte_for_byte() -> None:
    for flags in ([], ["unknown_card"], ["clock_out_of_range", "card_blocked", "uncredentialed_card"]):
        for body in (b"{}", bytes(range(256)) * 3):
            flags_json = encode_flags(tuple(flags))
            template = tlog.event_entry_template(received_ms=T0, flags_json=flags_json)
            fast = tlog.fill_event_entry(template, body, b"\x01" * 64)
            assert fast == event_entry(body, b"\x01" * 64, received_ms=T0, flags=flags)


def test_tlog_event_entry_template_v2_is_protocol_private_event_entry_byte_for_byte() -> None:
    for received_ms in (0, T0, T0 - T0 % 86_400_000, T0 - T0 % 86_400_000 - 1):
        for body in (b"{}", bytes(range(256)) * 3):
            template = tlog.event_entry_template(received_ms=received_ms)
            fast = tlog.fill_event_entry(template, body, b"\x01" * 64)
            assert fast == private_event_entry(body, b"\x01" * 64, received_ms=received_ms)
            assert parse_entry(fast)["received_ms"] == public_day(received_ms)
