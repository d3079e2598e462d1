"""``kokreativ verify ledger`` against a real server's URL and mirrors of its tiles, clean and tampered.

One server runs in-process for the whole module (uvicorn on loopback, a
movable clock); a kiosk's signed taps reach it over HTTP as sealed v2 events
with their openings beside them, with admin steps in between that give every
flag something to do.  The server writes a sealed log (entries v2, ``totals``
entries once a UTC day), so this is the end-to-end run of both audits: the
public one, which needs no card, and the designated auditor's, which opens
every event from the server's openings and replays the whole economy.  Mirrors come from the URL
(``verify mirror``) or from the data folder (``server export-log``).
Tampering tests change what a dishonest server would publish: they rewrite a
mirror's entry bundles (edit, delete, reorder or insert an entry, or leave a
hole), or change a balance in a copy of the database (made with SQLite's backup
API) and export that.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from kokreativ.cli import main
from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    EventKind,
    PrivateKey,
    b64encode,
    encode_batch,
    enrolment_message,
    ids,
    sign_event,
)
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.events import committed_event, parse_event
from protocol.logentry import make_entry, parse_entry, private_event_entry
from protocol.tiles import bundles_for, claimed_size, entry_bundle_path, format_bundle
from provisioning.audit import MirrorSource, history
from provisioning.client import ApiClient
from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread
from tests.audit_helpers import auditor_folder, export_mirror

ORIGIN = "audit.test/ledger"
T0 = 1_764_400_000_000
MINUTE = 60_000


@dataclass
class Signer:
    """A kiosk's signing side: its key and chain position."""

    key: PrivateKey = field(default_factory=PrivateKey.generate)
    kiosk_id: str = ""
    seq: int = 0
    head: str = GENESIS_PREV
    boot: str = field(default_factory=lambda: str(uuid.uuid4()))

    def tap(self, kind: EventKind, card: str, wall_ms: int) -> Any:
        data = {"reason": "unknown_card"} if kind is EventKind.DENIED else {}
        clock = ClockEvidence(wall_ms=wall_ms, synced=True, boot_id=self.boot, mono_ms=self.seq * 1000)
        event, opening = committed_event(
            kiosk=self.kiosk_id,
            seq=self.seq + 1,
            prev=self.head,
            kind=kind,
            card=card,
            clock=clock,
            data=data,
        )
        signed = sign_event(event, self.key, opening)
        self.seq, self.head = self.seq + 1, signed.hash
        return signed


@dataclass
class Ledger:
    folder: Path
    url: str
    verifier_key: str
    server_key: PrivateKey
    admin_token: str = ""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _enrol(url: str, admin: ApiClient, site_id: str) -> Signer:
    signer = Signer()
    code = admin.create_enrolment_code(site_id)["code"].replace("-", "")
    signature = signer.key.sign(enrolment_message(code, signer.key.public_key))
    answer = admin.enrol(
        {"code": code, "public_key": signer.key.public_key.to_b64(), "signature": b64encode(signature)}
    )
    signer.kiosk_id = answer["kiosk_id"]
    return signer


def _sync(url: str, signer: Signer, events: list[Any], clock: Clock) -> None:
    clock.now += MINUTE
    response = requests.post(
        f"{url}/v1/kiosks/{signer.kiosk_id}/events",
        data=encode_batch(events),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def _populate(url: str, admin: ApiClient, clock: Clock) -> None:
    """Two sites and kiosks, six cards, and taps that earn tokens or carry each flag."""
    main_site = admin.add_site("Repair café", tokens_per_hour=10)["site_id"]
    pilot = admin.add_site("Pilot", tokens_per_hour=6, allow_uncredentialed=True)["site_id"]
    admin.add_issuer_key(PrivateKey.generate().public_key.to_b64())
    clock.now = T0 - 24 * 60 * MINUTE  # the kiosks enrol before the first shift they record
    one, two = _enrol(url, admin, main_site), _enrol(url, admin, pilot)
    clock.now = T0
    cards = [admin.register_card(name=f"Volunteer {i}", site_id=main_site)["card_id"] for i in range(4)]
    spare = admin.register_card(volunteer_id=admin.list_cards()[0]["volunteer_id"])["card_id"]
    pilot_card = admin.register_card(
        name="Pilot volunteer", site_id=pilot, uid=bytes.fromhex("04a1b2c3d4e5f6")
    )["card_id"]
    stranger = ids.new_id(ids.CARD)

    wall = T0 - 10 * 60 * MINUTE
    for round_ in range(3):  # three shifts for each card: 12 check-ins, 12 check-outs
        batch = [one.tap(EventKind.CHECK_IN, card, wall + i * MINUTE) for i, card in enumerate(cards)]
        wall += 45 * MINUTE + round_ * 7 * MINUTE
        batch += [one.tap(EventKind.CHECK_OUT, card, wall + i * MINUTE) for i, card in enumerate(cards)]
        wall += 10 * MINUTE
        _sync(url, one, batch, clock)
    _sync(
        url,
        one,
        [
            one.tap(EventKind.CHECK_IN, stranger, wall),  # unknown_card
            one.tap(EventKind.DENIED, stranger, wall + MINUTE),
            one.tap(EventKind.CHECK_IN, spare, 1_500_000_000_000),  # clock_out_of_range
            one.tap(EventKind.CHECK_OUT, spare, wall + 2 * MINUTE),
        ],
        clock,
    )
    _sync(
        url,
        two,
        [
            two.tap(EventKind.CHECK_IN, pilot_card, wall),
            two.tap(EventKind.CHECK_OUT, pilot_card, wall + 90 * MINUTE),
        ],
        clock,
    )
    admin.block_card(cards[3], reason="lost")
    admin.set_site_policy(pilot, allow_uncredentialed=False)
    wall += 100 * MINUTE
    clock.now = max(clock.now, wall)
    _sync(
        url,
        one,
        [
            one.tap(EventKind.CHECK_IN, cards[0], wall),
            one.tap(EventKind.CHECK_IN, cards[3], wall + MINUTE),  # card_blocked
            one.tap(EventKind.CHECK_OUT, cards[0], wall + 61 * MINUTE),
            one.tap(EventKind.CHECK_OUT, cards[1], wall + 62 * MINUTE),  # without a check-in
        ],
        clock,
    )
    _sync(url, two, [two.tap(EventKind.CHECK_IN, pilot_card, wall + 5 * MINUTE)], clock)  # uncredentialed
    # The next day's first append closes the day in a ``totals`` entry (server.tlog): the public totals
    # are the sums of those entries (server.tlog.published_sums), so both audits hold the route to them.
    clock.now += 24 * 60 * MINUTE
    admin.add_site("Stadtbibliothek", tokens_per_hour=10)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    folder = tmp_path_factory.mktemp("audit") / "server"
    init = init_data_dir(folder, origin=ORIGIN)
    clock = Clock()
    with (
        open_data_dir(folder, now_ms=clock) as ctx,
        serve_in_thread(create_app(ctx, verify_workers=0)) as url,
    ):
        with ApiClient(url, admin_token=init.admin_token) as admin:
            _populate(url, admin, clock)
        yield Ledger(folder, url, init.log_verifier_key, ctx.server_key, init.admin_token)


@pytest.fixture(autouse=True)
def _no_home_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kept checkpoints go to the test's folder, never the real ~/.local/share."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def _copy(ledger: Ledger, target: Path) -> Path:
    """A consistent copy of the data folder, as a backup would make."""
    target.mkdir()
    for name in ("server.key", "uid-pseudonym.key"):
        (target / name).write_bytes((ledger.folder / name).read_bytes())
    with sqlite3.connect(ledger.folder / "ledger.db") as src, sqlite3.connect(target / "ledger.db") as dst:
        src.backup(dst)
    return target


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", "ledger", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _mirror(ledger: Ledger, target: Path) -> Path:
    """A mirror of the server's log, exported from a copy of its data folder."""
    return export_mirror(_copy(ledger, target.with_name(target.name + "-data")), target)


def _entries(mirror: Path) -> list[bytes]:
    source = MirrorSource(mirror)
    size = claimed_size(source.checkpoint())
    return [entry for piece in source.pieces(size) for entry in piece.entries]


def _forge(mirror: Path, entries: list[bytes]) -> None:
    """Serve ``entries`` instead: rewrite every entry bundle of the checkpoint (its tiles stay)."""
    size = claimed_size((mirror / "checkpoint").read_bytes())
    for n, width in bundles_for(size):
        bundle = format_bundle(entries[n * 256 : n * 256 + width])
        (mirror / entry_bundle_path(n, width)).write_bytes(bundle)


def _event_at(entry: bytes) -> tuple[str, int] | None:
    obj = parse_entry(entry)
    if obj["kind"] != "event":
        return None
    event = parse_event(obj["body"])
    return event.kiosk, event.seq


def _pick_event(mirror: Path) -> tuple[int, str, int]:
    """An event entry between two of the same kiosk's events: ``(index, kiosk, seq)``."""
    entries = _entries(mirror)
    for index in range(len(entries) // 2, len(entries) - 1):
        before, here, after = (_event_at(entries[i]) for i in (index - 1, index, index + 1))
        if before and here and after and before[0] == here[0] == after[0]:
            return index, here[0], here[1]
    raise AssertionError("no three consecutive events of one kiosk")


# -- clean ledgers ---------------------------------------------------------------------------------
def test_a_clean_mirror_passes_with_the_published_key_and_needs_it(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    mirror = _mirror(ledger, tmp_path / "mirror")
    code, _, err = _audit(capsys, str(mirror), "--workers", "1")
    assert code == 2 and "bad_key" in err and "--key" in err  # a mirror has no key to offer
    state = tmp_path / "state"
    args = [str(mirror), "--key", ledger.verifier_key, "--state", str(state), "--workers", "1"]
    code, out, err = _audit(capsys, *args)
    assert code == 0, out
    assert "OK: every check passed" in out and err == ""
    assert len(list(state.iterdir())) == 1
    assert "mode:        public" in out and "balances:" not in out  # balances are the auditor's
    assert "replay:      0 shifts" in out  # sealed: the public replays no tap, it checks chains and totals
    code, out, err = _audit(capsys, *args, "--auditor-data", str(auditor_folder(mirror)))
    assert code == 0, out
    assert "mode:        auditor" in out and "balances:    5 volunteer(s) compared" in out
    assert "replay:      0 shifts" not in out and "0 redemptions" in out  # every event opened, replayed
    auditor = auditor_folder(mirror)  # personal data under pseudonyms: only its owner reads it
    assert stat.S_IMODE(auditor.stat().st_mode) == 0o700
    assert stat.S_IMODE((auditor / "balances.json").stat().st_mode) == 0o600
    assert not (mirror / "v1/log/balances").exists() and (mirror / "v1/log/totals").is_file()


def test_a_clean_url_passes_with_the_published_key_and_keeps_its_checkpoint(
    ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    state = tmp_path / "state"
    token = tmp_path / "auditor.token"
    token.write_text(ledger.admin_token)  # the admin token holds audit_log
    args = [ledger.url, "--key", ledger.verifier_key, "--state", str(state), "--json", "--workers", "1"]
    code, out, err = _audit(capsys, *args, "--auditor-token", str(token))
    assert out, err
    report = json.loads(out)
    assert code == 0, out
    assert report["ok"] and report["problem_count"] == 0 and err == ""
    assert (
        report["origin"] == ORIGIN
        and report["kiosks"] == 2
        and report["events"] == report["signatures_checked"]
    )
    assert report["balances_compared"] == 5 and report["paid_shifts"] >= 13
    assert report["mode"] == "auditor" and report["totals_compared"] == report["totals_covered"]
    assert report["opened"] == report["events"] + report["card_commitments"] + 1  # and the block
    assert sorted(p.name.split("-")[0] for p in state.iterdir()) == ["checkpoint", "openings.jsonl"]

    code, out, _ = _audit(capsys, *args)  # the second run compares with the first one's checkpoint
    assert code == 0 and json.loads(out)["kept_checkpoints"] == 1


def test_the_mirrors_and_their_server_agree_on_everything(ledger: Ledger, tmp_path: Path, capsys):
    fetched = tmp_path / "fetched"
    assert main(["verify", "mirror", ledger.url, str(fetched)]) == 0
    assert json.loads(capsys.readouterr().out)["fetched"] > 0
    assert main(["verify", "mirror", ledger.url, str(fetched)]) == 0  # up to date: nothing to fetch
    assert json.loads(capsys.readouterr().out)["fetched"] == 0
    exported = _mirror(ledger, tmp_path / "exported")
    reports = []
    for source in (str(fetched), str(exported), ledger.url):
        code, out, _ = _audit(capsys, source, "--key", ledger.verifier_key, "--json", "--workers", "2")
        assert code == 0, out
        reports.append(json.loads(out))
    by_fetched, by_export, by_url = reports
    for name in (
        "checkpoint",
        "entries",
        "events",
        "shifts",
        "paid_shifts",
        "volunteers",
        "balances_compared",
    ):
        assert by_fetched[name] == by_export[name] == by_url[name]
    assert by_fetched["workers"] == 2
    assert sorted(p.relative_to(fetched) for p in fetched.rglob("*")) == sorted(
        p.relative_to(exported) for p in exported.rglob("*")
    )  # the same files: the export writes what the server serves


def test_a_mirror_follows_its_log_and_keeps_older_partial_tiles_until_the_full_tile(tmp_path: Path, capsys):
    """A reader of the older checkpoint still finds its partial tiles (c2sp.org/tlog-tiles deletes them
    only once the full tile exists; that case: test_provisioning_audit_tiles.py)."""
    data, mirror = tmp_path / "server", tmp_path / "mirror"
    init = init_data_dir(data, origin=ORIGIN)
    with (
        open_data_dir(data) as ctx,
        serve_in_thread(create_app(ctx, verify_workers=0)) as url,
        ApiClient(url, admin_token=init.admin_token) as admin,
    ):
        admin.add_site("One", tokens_per_hour=1)
        assert main(["verify", "mirror", url, str(mirror)]) == 0
        first = json.loads(capsys.readouterr().out)
        admin.add_site("Two", tokens_per_hour=2)
        assert main(["verify", "mirror", url, str(mirror)]) == 0
        second = json.loads(capsys.readouterr().out)
    assert second["size"] == first["size"] + 1
    assert second["fetched"] == 2  # the partial bundle and level-0 tile at the new size
    partials = sorted(p.relative_to(mirror).as_posix() for p in (mirror / "tile").rglob("*.p/*"))
    old, new = first["size"], second["size"]
    assert partials == [
        f"tile/0/000.p/{old}",
        f"tile/0/000.p/{new}",
        f"tile/entries/000.p/{old}",
        f"tile/entries/000.p/{new}",
    ]
    code, out, _ = _audit(capsys, str(mirror), "--key", init.log_verifier_key, "--workers", "1")
    assert code == 0, out


def test_the_server_exports_its_log_for_an_auditor(ledger: Ledger, tmp_path: Path, capsys):
    folder = _copy(ledger, tmp_path / "copy")
    assert main(["server", "export-log", "--data", str(folder), "--out", str(tmp_path / "mirror")]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["written"] > 0 and exported["kept"] == 0
    code, out, _ = _audit(capsys, str(tmp_path / "mirror"), "--key", ledger.verifier_key, "--workers", "1")
    assert code == 0, out


def test_a_url_needs_a_key_unless_told_to_trust_the_server_unsafely(ledger: Ledger, tmp_path: Path, capsys):
    code, _, err = _audit(capsys, ledger.url)
    assert code == 2 and "bad_key" in err and "--key" in err

    code, out, err = _audit(capsys, ledger.url, "--trust-server-key", "--workers", "1")
    assert code == 0, out
    assert "UNSAFE" in err


def test_a_key_of_another_log_fails_the_checkpoint(ledger: Ledger, tmp_path: Path, capsys):
    other = init_data_dir(tmp_path / "other", origin=ORIGIN).log_verifier_key
    code, out, _ = _audit(capsys, ledger.url, "--key", other, "--workers", "1")
    assert code == 1
    assert "the latest checkpoint does not verify" in out and "[note_unverified]" in out


def test_progress_goes_to_stderr_only(ledger: Ledger, tmp_path: Path, capsys):
    mirror = _mirror(ledger, tmp_path / "mirror")
    args = ["--key", ledger.verifier_key, "--json", "--progress", "--workers", "1"]
    code, out, err = _audit(capsys, str(mirror), *args)
    assert code == 0
    json.loads(out)
    assert "\rauditing [" in err and "100%" in err


# -- tampering -------------------------------------------------------------------------------------
def _tamper_edit_body(entries: list[bytes], index: int) -> None:
    entry = parse_entry(entries[index])
    ref = parse_event(entry["body"]).ref or ""
    body = entry["body"].replace(ref.encode(), ("0" if ref[0] != "0" else "1").encode() + ref[1:].encode())
    entries[index] = private_event_entry(body, entry["sig"], received_ms=entry["received_ms"])


def _tamper_edit_day(entries: list[bytes], index: int) -> None:
    entry = parse_entry(entries[index])
    entries[index] = private_event_entry(entry["body"], entry["sig"], received_ms=entry["received_ms"] - 1)


def _tamper_delete(entries: list[bytes], index: int) -> None:
    del entries[index]


def _tamper_reorder(entries: list[bytes], index: int) -> None:
    entries[index], entries[index + 1] = entries[index + 1], entries[index]


def _tamper_insert(entries: list[bytes], index: int) -> None:
    entries.insert(index, entries[index - 1])  # the kiosk's previous event again, a replay


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_tamper_edit_body, "seq {seq}: the signature does not verify"),
        (_tamper_edit_day, "seq {seq}: the opening does not open the sealed event: its received_ms"),
        (_tamper_delete, "seq {next}: seq jumps from {prev} to {next}"),
        (_tamper_reorder, "seq {next}: seq jumps from {prev} to {next}"),
        (_tamper_insert, "seq {prev}: seq {prev} comes again"),
    ],
    ids=["edit", "day", "delete", "reorder", "insert"],
)
def test_tampering_with_one_entry_is_named(ledger: Ledger, tmp_path: Path, capsys, tamper, expected):
    mirror = _mirror(ledger, tmp_path / "mirror")
    index, kiosk, seq = _pick_event(mirror)
    entries = _entries(mirror)
    tamper(entries, index)
    _forge(mirror, entries)
    args = [str(mirror), "--key", ledger.verifier_key, "--workers", "1"]
    code, out, _ = _audit(capsys, *args, "--auditor-data", str(auditor_folder(mirror)))
    assert code == 1
    where = "" if "opening" in expected else f"kiosk {kiosk} "  # the opening's finding names the entry
    line = f"entry {index}: {where}" + expected.format(seq=seq, prev=seq - 1, next=seq + 1)
    assert line.replace(f"seq {seq}: the opening", "the opening") in out, out
    assert "FAILED" in out


def _edit_opening(mirror: Path, index: int, **change: Any) -> None:
    """Change the auditor's opening item of entry ``index`` (the server's word on it)."""
    path = auditor_folder(mirror) / "openings.jsonl"
    items = [json.loads(line) for line in path.read_text().splitlines()]
    for item in items:
        if item["index"] == index:
            item.update(change)
    path.write_text("".join(json.dumps(item) + "\n" for item in items))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"flags": ["card_blocked"]}, "flags_mismatch"),  # another verdict than the rules give
        ({"issued": 99}, "entry_totals_mismatch"),  # another amount than the rules pay
        ({"salt": "0" * 32}, "opening_mismatch"),  # does not open the event's commitment
    ],
    ids=["flags", "issued", "salt"],
)
def test_the_auditor_names_an_opening_that_disagrees_with_the_rules(
    ledger: Ledger, tmp_path: Path, capsys, change: dict[str, Any], code: str
):
    mirror = _mirror(ledger, tmp_path / "mirror")
    index, _, _ = _pick_event(mirror)
    args = [str(mirror), "--key", ledger.verifier_key, "--workers", "1", "--json"]
    assert _audit(capsys, *args)[0] == 0  # the public sees nothing of it: the opening is not public
    _edit_opening(mirror, index, **change)
    status, out, _ = _audit(capsys, *args, "--auditor-data", str(auditor_folder(mirror)))
    assert status == 1
    assert index in [p.get("index") for p in json.loads(out)["problems"] if p["code"] == code], out


def test_an_edit_that_keeps_every_signature_is_found_by_the_root(ledger: Ledger, tmp_path: Path, capsys):
    mirror = _mirror(ledger, tmp_path / "mirror")
    state = ["--key", ledger.verifier_key, "--state", str(tmp_path / "state"), "--workers", "1"]
    assert _audit(capsys, str(mirror), *state)[0] == 0  # the auditor keeps the checkpoint it saw
    index, _, _ = _pick_event(mirror)
    entries = _entries(mirror)
    entry = parse_entry(entries[index])
    another_day = entry["received_ms"] + 86_400_000  # still a day, so only the hashes can tell
    entries[index] = private_event_entry(entry["body"], entry["sig"], received_ms=another_day)
    _forge(mirror, entries)
    code, out, _ = _audit(capsys, str(mirror), *state, "--json")
    report = json.loads(out)
    assert code == 1
    codes = {p["code"]: p for p in report["problems"]}
    assert codes["leaf_mismatch"]["index"] == index
    assert "root_mismatch" in codes and "log_inconsistent" in codes


def test_an_altered_balance_names_the_volunteer(ledger: Ledger, tmp_path: Path, capsys):
    folder = _copy(ledger, tmp_path / "copy")
    with sqlite3.connect(folder / "ledger.db") as conn:
        volunteer, balance = conn.execute(
            "SELECT volunteer_id, SUM(delta) FROM ledger_entries GROUP BY volunteer_id LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE ledger_entries SET delta = delta + 7 WHERE entry_id = "
            "(SELECT MIN(entry_id) FROM ledger_entries WHERE volunteer_id = ?)",
            (volunteer,),
        )
        # A careful forger keeps the stored balance in step with the entries.
        conn.execute("UPDATE balances SET balance = balance + 7 WHERE volunteer_id = ?", (volunteer,))
    mirror = export_mirror(folder, tmp_path / "mirror")  # the server publishes the totals it holds
    args = [str(mirror), "--key", ledger.verifier_key, "--workers", "1"]
    code, out, _ = _audit(capsys, *args)
    # The server's totals are the sums of the log's totals entries, for the entries they cover: the
    # public audit holds them to those entries (the server's signed word) and sees the moved tokens.
    assert code == 1 and "[totals_mismatch]" in out, out
    code, out, _ = _audit(capsys, *args, "--auditor-data", str(auditor_folder(mirror)))
    assert code == 1  # the auditor sees the totals move, and whose balance
    assert "the server's totals at size" in out and "[totals_mismatch]" in out
    assert f"volunteer {volunteer}: the server says {balance + 7} tokens, the log gives {balance}" in out


def test_a_kept_checkpoint_the_log_does_not_extend_means_history_was_rewritten(
    ledger: Ledger, tmp_path: Path, capsys
):
    state = tmp_path / "state"
    forged = Checkpoint(ORIGIN, 5, bytes(32))  # signed by the server, for a tree it no longer has
    history.keep(state, sign_checkpoint(forged, ledger.server_key), forged)
    longer = Checkpoint(ORIGIN, 10**6, bytes(range(32)))
    history.keep(state, sign_checkpoint(longer, ledger.server_key), longer)
    code, out, _ = _audit(
        capsys, ledger.url, "--key", ledger.verifier_key, "--state", str(state), "--workers", "1"
    )
    assert code == 1
    assert "checkpoint-000000000005-" in out and "history was rewritten [log_inconsistent]" in out
    assert "has size 1000000, but the log now holds only" in out
    assert len(list(state.iterdir())) == 3  # the new checkpoint is kept as evidence too


def test_the_report_is_capped_but_counts_everything(ledger: Ledger, tmp_path: Path, capsys):
    mirror = _mirror(ledger, tmp_path / "mirror")
    entries = _entries(mirror)
    events = [i for i, e in enumerate(entries) if _event_at(e)]
    for i in events:  # every signature forged and the time of day shown: two problems per event
        entry = parse_entry(entries[i])
        entries[i] = make_entry(
            "event",
            version=2,
            body=b64encode(entry["body"]),
            sig=b64encode(bytes(64)),
            received_ms=entry["received_ms"] + 1,
        )
    _forge(mirror, entries)
    code, out, _ = _audit(capsys, str(mirror), "--key", ledger.verifier_key, "--workers", "1")
    assert code == 1
    counts = f"received_not_day: {len(events)}"
    assert out.count("[bad_signature]") + out.count("[received_not_day]") == 50
    assert "more (all problems by code:" in out and counts in out and f"bad_signature: {len(events)}" in out


def test_a_volunteers_receipt_verifies_offline(ledger: Ledger, tmp_path: Path, capsys):
    entries = _entries(_mirror(ledger, tmp_path / "mirror"))
    index = next(i for i, entry in enumerate(entries) if _event_at(entry))
    kiosk, seq = _event_at(entries[index]) or ("", 0)
    receipt = requests.get(f"{ledger.url}/v1/kiosks/{kiosk}/events/{seq}/proof", timeout=10).json()
    (tmp_path / "entry").write_bytes(base64.b64decode(receipt["entry"]))
    (tmp_path / "proof").write_text(receipt["proof"])
    by_index = requests.get(f"{ledger.url}/v1/log/entries/{index}/proof", timeout=10)
    assert receipt["index"] == index and by_index.content == receipt["proof"].encode()

    args = ["verify", "proof", "--key", ledger.verifier_key, "--leaf-file", str(tmp_path / "entry")]
    assert main([*args, str(tmp_path / "proof")]) == 0
    assert json.loads(capsys.readouterr().out)["index"] == index
    (tmp_path / "entry").write_bytes(entries[index + 1])
    assert main([*args, str(tmp_path / "proof")]) == 1
    assert "bad_proof" in capsys.readouterr().err


def test_a_hole_in_the_log_is_named(ledger: Ledger, tmp_path: Path, capsys):
    mirror = _mirror(ledger, tmp_path / "mirror")
    index, _, seq = _pick_event(mirror)
    entries = _entries(mirror)
    entries[index] = entries[index + 1] = b""  # served as empty entries: nothing to read there
    _forge(mirror, entries)
    code, out, _ = _audit(capsys, str(mirror), "--key", ledger.verifier_key, "--workers", "1")
    assert code == 1
    assert (
        f"entry {index}: entries {index}–{index + 1} are missing from the log's storage [missing_entry]"
        in out
    )
    assert f"seq jumps from {seq - 1} to {seq + 2}: events are missing" in out  # the kiosk's next event
