"""Migration m003: a ledger made before the transparency log gets one that covers its old data.

The old data folder is built with the m001 and m002 migrations and rows as
those releases wrote them (with really signed events), then opened with the
current code, which migrates, backfills and signs the first checkpoint.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import T0, FakeClock, FakeKiosk
from tlog_helpers import send_logged, stored_entries, verified_checkpoint

from protocol import EventKind, PrivateKey, ProtocolError, SignedEvent, b64encode, ids
from protocol.handover import verify_handover
from protocol.logentry import (
    PRIVATE_ENTRY_VERSION,
    event_entry,
    event_leaf_hash,
    make_entry,
    parse_entry,
    public_day,
)
from protocol.merkle import leaf_hash, reference_root, verify_consistency, verify_inclusion
from server import tlog
from server.app import create_app
from server.datadir import ADMIN_TOKEN_SETTING, admin_token_hash, open_data_dir
from server.runner import serve_in_thread
from server.schema import _m001_initial, _m002_card_credentials
from server.storage import SqliteStorage
from server.verify import verify_store


def _old_event(kiosk: FakeKiosk, kind: EventKind, card: str) -> SignedEvent:
    return kiosk.event(kind, card, T0 - 10 * 3_600_000 + kiosk.seq * 60_000)


def _old_data_dir(path: Path) -> dict[str, Any]:
    """A data folder as release m002 left it: two sites, issuer keys, kiosks, cards, a block, events."""
    path.mkdir(mode=0o700)
    server_key = PrivateKey.generate()
    (path / "server.key").write_bytes(server_key.seed)
    (path / "uid-pseudonym.key").write_bytes(bytes(32))
    conn = sqlite3.connect(path / "ledger.db", isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    _m001_initial(conn)
    _m002_card_credentials(conn)
    conn.executemany("INSERT INTO migrations VALUES (?, 1)", [("m001_initial",), ("m002_card_credentials",)])
    conn.execute("INSERT INTO settings VALUES (?, ?)", (ADMIN_TOKEN_SETTING, admin_token_hash("token")))
    conn.execute("INSERT INTO sites VALUES ('s_b', 'Hall', 12, 8, 20, 1)")
    conn.execute("INSERT INTO sites VALUES ('s_a', 'Café', 10, 12, 10, 0)")
    issuers = [PrivateKey.generate().public_key.raw for _ in range(2)]
    conn.execute("INSERT INTO issuer_keys VALUES ('i_1', ?, 'active', 5, 5)", (issuers[0],))
    conn.execute("INSERT INTO issuer_keys VALUES ('i_2', ?, 'revoked', 6, 50)", (issuers[1],))
    # Kiosks of that release sign v1 events (they name the card), and keep doing so until updated.
    a = FakeKiosk(key=PrivateKey.generate(), kiosk_id=ids.new_id(ids.KIOSK), version=1)
    b = FakeKiosk(key=PrivateKey.generate(), kiosk_id=ids.new_id(ids.KIOSK), version=1)
    conn.execute("INSERT INTO volunteers VALUES ('v_1', 1), ('v_2', 2)")
    conn.execute(
        "INSERT INTO personal_data VALUES ('v_1', 'Ada Lovelace', 'EAK-31337'), ('v_2', 'Bob', NULL)"
    )
    card_1, card_2 = ids.new_id(ids.CARD), ids.new_id(ids.CARD)
    conn.execute(
        "INSERT INTO cards (card_id, volunteer_id, registered_ms, blocked_ms, block_reason) VALUES "
        "(?, 'v_1', 60, NULL, NULL), (?, 'v_2', 70, 80, 'lost')",
        (card_1, card_2),
    )
    stranger = ids.new_id(ids.CARD)
    events = [  # (kiosk, event, received_ms, flags), in the order they arrived
        (a, _old_event(a, EventKind.CHECK_IN, card_1), 100, []),
        (a, _old_event(a, EventKind.CHECK_IN, stranger), 100, ["unknown_card"]),
        (b, _old_event(b, EventKind.CHECK_IN, card_2), 100, ["card_blocked"]),
        (a, _old_event(a, EventKind.CHECK_OUT, card_1), 200, []),
    ]
    for kiosk in (a, b):
        kiosk_rows = [e for k, e, _, _ in events if k is kiosk]
        status = "active" if kiosk is a else "revoked"
        conn.execute(
            "INSERT INTO kiosks VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                kiosk.kiosk_id,
                "s_a" if kiosk is a else "s_b",
                kiosk.key.public_key.raw,
                status,
                len(kiosk_rows),
                kiosk_rows[-1].hash,
                30 if kiosk is a else 40,
            ),
        )
    for kiosk, event, received_ms, flags in events:
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kiosk.kiosk_id,
                event.event.seq,
                event.body,
                event.signature,
                event.hash,
                event.event.kind.value,
                event.event.card,
                event.event.clock.wall_ms,
                json.dumps(flags),
                received_ms,
            ),
        )
    conn.close()
    return {
        "server_key": server_key,
        "issuers": issuers,
        "kiosks": (a, b),
        "cards": (card_1, card_2),
        "events": events,
    }


def test_m003_backfills_an_old_ledger_in_the_documented_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """m003 backfills the old log; the hand-over at the same start archives it, order intact.

    The backfilled log names cards (entry v1), so opening the folder also hands it
    over to ``<origin>/2`` (:mod:`server.handover`): the backfill is checked where it
    now lives, in the archived origin, and the new log's entry 0 names its final head.
    """
    old = _old_data_dir(tmp_path / "data")
    a, b = old["kiosks"]
    card_1, card_2 = old["cards"]
    with open_data_dir(tmp_path / "data", now_ms=FakeClock()) as ctx:
        with ctx.storage.read() as tx:
            moved = tx.handover()
            assert moved is not None
            old_origin, old_size, old_root = moved[0], moved[1], moved[2]
            raw = tx.archived_entry_range(old_origin, 0, old_size)
            note = tx.archived_checkpoint(old_origin, old_size)
            archived_sizes = [s for s in range(old_size + 1) if tx.archived_checkpoint(old_origin, s)]
            indexes = [tx.event_log_index(k.kiosk_id, e.event.seq) for k, e, _, _ in old["events"]]
            latest = tx.latest_checkpoint()
        new_log = stored_entries(ctx)
    assert old_origin == "kokreativ.local/ledger" and old_size == len(raw) == 14
    entries = [parse_entry(entry) for entry in raw]

    def strip(entry: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k not in ("type", "v")}

    assert {entry["v"] for entry in entries} == {1}
    assert [strip(e) for e in entries[:9]] == [
        {"kind": "site", "site_id": "s_a", "tokens_per_hour": 10, "max_shift_hours": 12}
        | {"allow_uncredentialed": False, "at_ms": 10},
        {"kind": "site", "site_id": "s_b", "tokens_per_hour": 12, "max_shift_hours": 8}
        | {"allow_uncredentialed": True, "at_ms": 20},
        {"kind": "issuer_key", "key_id": "i_1", "public_key": b64encode(old["issuers"][0])}
        | {"status": "active", "at_ms": 5},
        {"kind": "issuer_key", "key_id": "i_2", "public_key": b64encode(old["issuers"][1])}
        | {"status": "revoked", "at_ms": 50},
        {"kind": "kiosk_enrolled", "kiosk_id": a.kiosk_id, "site_id": "s_a"}
        | {"public_key": a.key.public_key.to_b64(), "at_ms": 30},
        {"kind": "kiosk_enrolled", "kiosk_id": b.kiosk_id, "site_id": "s_b"}
        | {"public_key": b.key.public_key.to_b64(), "at_ms": 40},
        {"kind": "card", "card_id": card_1, "volunteer_id": "v_1", "at_ms": 60},
        {"kind": "card", "card_id": card_2, "volunteer_id": "v_2", "at_ms": 70},
        {"kind": "card_blocked", "card_id": card_2, "at_ms": 80},
    ]
    # Events by received_ms, then kiosk ID, then seq, with their stored flags and times.
    order = sorted(old["events"], key=lambda x: (x[2], x[0].kiosk_id, x[1].event.seq))
    expected = [event_entry(e.body, e.signature, received_ms=r, flags=f) for _, e, r, f in order]
    assert raw[9:13] == expected
    # An event's log_index now reads "entry log_index + old size of the archived origin".
    assert sorted(indexes) == [9 - 14, 10 - 14, 11 - 14, 12 - 14]
    for (_, event, received_ms, flags), index in zip(old["events"], indexes, strict=True):
        assert index is not None
        assert raw[index + old_size] == event_entry(
            event.body, event.signature, received_ms=received_ms, flags=flags
        )
    # Statuses last: the revocation came after the revoked kiosk's events.
    assert [(e["kind"], e["kiosk_id"], e["status"]) for e in entries[13:]] == [
        ("kiosk_status", b.kiosk_id, "revoked")
    ]
    for secret in (b"Ada Lovelace", b"EAK-31337"):  # neither can occur in base64 by chance
        assert all(secret not in entry for entry in raw + new_log)

    # Opening signed the first checkpoint, for the whole backfill: the archived log's only and final one.
    key = tlog.verifier_key(old_origin, old["server_key"].public_key)
    assert note is not None and archived_sizes == [14]
    checkpoint = verified_checkpoint(note, key)
    assert checkpoint.size == 14 and checkpoint.root_hash == reference_root([leaf_hash(e) for e in raw])
    assert old_root == checkpoint.root_hash
    # The new log starts with the hand-over from exactly that tree head, and names no card.
    first = parse_entry(new_log[0])
    assert (first["kind"], first["v"], first["old_origin"], first["old_size"], first["old_root"]) == (
        "handover",
        2,
        old_origin,
        14,
        checkpoint.root_hash.hex(),
    )
    assert first["kiosks"] == {
        a.kiosk_id: {"seq": a.seq, "head": a.head},
        b.kiosk_id: {"seq": b.seq, "head": b.head},
    }
    for entry in new_log:
        assert parse_entry(entry)["v"] == 2
        for card in (card_1, card_2):
            assert card.encode() not in entry

    # The operator is told, with the verifier key to publish for the new origin.
    new_key = tlog.verifier_key(old_origin + "/2", old["server_key"].public_key)
    told = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(old_origin in m and new_key in m for m in told), told

    # Opening again neither migrates, nor hands over again, nor signs again.
    with open_data_dir(tmp_path / "data", now_ms=FakeClock(T0 + 1)) as ctx:
        assert ctx.storage.migrate() == []
        with ctx.storage.read() as tx:
            assert tx.latest_checkpoint() == latest
            assert tx.handover() == moved
            assert tx.archived_checkpoint(old_origin, 14) == note


def test_kiosks_keep_syncing_after_the_migration(tmp_path: Path) -> None:
    """A kiosk that verified the old log's checkpoint follows the hand-over and goes on syncing.

    It sends its old ``log_size`` first (refused: the new log is smaller), reads the
    checkpoint of another origin, checks the signed hand-over against what it
    verified, pins the new origin and resends: its last stored event comes back as a
    duplicate proved in the archived log (``origin``), the new one is logged sealed.
    """
    old = _old_data_dir(tmp_path / "data")
    a, _ = old["kiosks"]
    server_key = old["server_key"].public_key
    old_origin, new_origin = "kokreativ.local/ledger", "kokreativ.local/ledger/2"
    old_key, new_key = tlog.verifier_key(old_origin, server_key), tlog.verifier_key(new_origin, server_key)
    _, old_event, old_received, old_flags = old["events"][3]
    new = a.event(EventKind.CHECK_OUT, ids.new_id(ids.CARD), T0)
    with (
        open_data_dir(tmp_path / "data", now_ms=FakeClock()) as ctx,
        serve_in_thread(create_app(ctx)) as url,
        httpx.Client(base_url=url) as http,
    ):
        # What the kiosk verified before the upgrade: the only checkpoint the old log had.
        pinned = verified_checkpoint(
            http.get("/v1/log/archive/checkpoint", params={"origin": old_origin}).content, old_key
        )
        refused = send_logged(http, a.kiosk_id, [old_event, new], pinned.size)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_field"
        latest = http.get("/checkpoint").content
        assert latest.split(b"\n", 1)[0] == new_origin.encode()
        with pytest.raises(ProtocolError):
            verified_checkpoint(latest, old_key)  # not the pinned origin: look for a hand-over
        answer = http.get("/v1/log/handover").json()
        handover = verify_handover(answer["handover"], server_key)
        assert (handover.old_origin, handover.new_origin) == (old_origin, new_origin)
        assert (handover.old_size, handover.old_root) == (pinned.size, pinned.root_hash)
        start = verified_checkpoint(answer["checkpoint"], new_key)
        assert start.size == handover.new_size

        response = send_logged(http, a.kiosk_id, [old_event, new], start.size)
        with ctx.storage.read() as tx:  # what the sealed entry no longer shows goes to the auditor
            [opening] = tx.openings_after(start.size - 1, 1)
    assert response.status_code == 200, response.text
    assert (opening.log_index, opening.kind, opening.card_id) == (start.size, "event_sealed", new.event.card)
    assert (opening.received_ms, opening.body, opening.sig) == (T0, new.body, new.signature)
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["duplicate", "accepted"]
    checkpoint = verified_checkpoint(body["checkpoint"], new_key)
    assert checkpoint.size == start.size + 1
    duplicate, fresh = body["entries"]
    # The resent event is entry 12 of the archived log, proved under its final tree head.
    assert duplicate["origin"] == old_origin
    assert (duplicate["index"], duplicate["received_ms"], duplicate["flags"]) == (12, old_received, old_flags)
    leaf = event_leaf_hash(old_event.body, old_event.signature, received_ms=old_received, flags=old_flags)
    hashes = [base64.b64decode(h) for h in duplicate["hashes"]]
    verify_inclusion(leaf, 12, handover.old_size, hashes, handover.old_root)
    # The new v1 event is logged sealed: no card; the item says what the kiosk cannot know.
    assert "origin" not in fresh
    # The entry shows only the UTC day it was received (design 17b); the exact time is in the opening.
    assert (fresh["index"], fresh["received_ms"], fresh["entry"]) == (
        start.size,
        public_day(T0),
        "event_sealed",
    )
    sealed = make_entry(
        "event_sealed",
        version=PRIVATE_ENTRY_VERSION,
        kiosk=a.kiosk_id,
        seq=new.event.seq,
        hash=new.hash,
        prev=new.event.prev,
        ref=fresh["ref"],
        received_ms=fresh["received_ms"],
    )
    assert new.event.card.encode() not in sealed
    hashes = [base64.b64decode(h) for h in fresh["hashes"]]
    verify_inclusion(leaf_hash(sealed), start.size, checkpoint.size, hashes, checkpoint.root_hash)
    proof = [base64.b64decode(h) for h in body["consistency"]]
    verify_consistency(start.size, checkpoint.size, proof, start.root_hash, checkpoint.root_hash)


def test_the_store_agrees_with_its_logs_after_the_hand_over(tmp_path: Path) -> None:
    """``server verify-store`` finds each old event in the archived log and a sealed one in the new."""
    old = _old_data_dir(tmp_path / "data")
    a, _ = old["kiosks"]
    new = a.event(EventKind.CHECK_OUT, ids.new_id(ids.CARD), T0)
    with (
        open_data_dir(tmp_path / "data", now_ms=FakeClock()) as ctx,
        serve_in_thread(create_app(ctx)) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert verify_store(ctx.storage).problems == []
        assert send_logged(http, a.kiosk_id, [new], 0).status_code == 200
        report = verify_store(ctx.storage)
    assert report.problems == [] and report.events == 5
    with sqlite3.connect(tmp_path / "data" / "ledger.db") as conn:  # an old event changed in the database
        conn.execute("UPDATE events SET body = ? WHERE kiosk_id = ? AND seq = 1", (new.body, a.kiosk_id))
    conn.close()
    with open_data_dir(tmp_path / "data", now_ms=FakeClock()) as ctx:
        problems = verify_store(ctx.storage).problems
    assert [p.code for p in problems] == ["log_inconsistent"] and f"kiosk {a.kiosk_id} seq 1" in problems[
        0
    ].message


def test_an_empty_old_ledger_gets_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    _m001_initial(conn)
    conn.execute("INSERT INTO migrations VALUES ('m001_initial', 1)")
    conn.close()
    with SqliteStorage(path) as storage, storage.read() as tx:
        assert tx.tlog_size() == 0
        assert tx.latest_checkpoint() is None  # signed when a data folder is opened, with the key
        assert tx.get_setting("log_origin") == "kokreativ.local/ledger"
