"""``verify ledger`` over a sealed v2 log: the public audit, and the auditor's with openings.

The mirrors are synthetic, made with the protocol's own functions (v2 events
with :func:`protocol.events.committed_event`, entries with
:func:`protocol.logentry.private_event_entry` and ``make_entry(..., version=2)``,
bundles with :mod:`protocol.tiles`), so each test says exactly which entry,
opening or total is wrong.  Every check has a tamper test: the same log with
one piece of its evidence altered, and the finding it must give.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from protocol import ids
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.commitments import Opening, commit_value, new_salt
from protocol.encoding import b64encode
from protocol.events import GENESIS_PREV, ClockEvidence, Event, EventKind, committed_event, sign_event
from protocol.keys import PrivateKey
from protocol.logentry import make_entry, private_event_entry, public_day
from protocol.merkle import leaf_hash, node_hash
from protocol.note import NoteVerifier
from protocol.tiles import TILE_WIDTH, bundles_for, entry_bundle_path, format_bundle
from provisioning.audit import AuditOptions, AuditReport, MirrorSource, audit_ledger
from provisioning.audit.auditor import REGISTRATION_DOMAIN, FolderAuditor, write_private_lines

ORIGIN = "v2.test/ledger"
DAY = 86_400_000
T0 = 1_764_400_000_000 // DAY * DAY + 8 * 3_600_000  # 08:00 UTC
HOUR = 3_600_000
BOOT = "0b7c2f2e-1111-4222-8333-944455556666"


def _mth(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _json(entry: bytes) -> dict[str, Any]:
    return json.loads(entry)


def _bytes(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Log:
    """A sealed v2 log being written, the openings the server would keep, and what it would answer."""

    server_key: PrivateKey = field(default_factory=PrivateKey.generate)
    kiosk_key: PrivateKey = field(default_factory=PrivateKey.generate)
    site: str = field(default_factory=lambda: ids.new_id(ids.SITE))
    kiosk: str = field(default_factory=lambda: ids.new_id(ids.KIOSK))
    entries: list[bytes] = field(default_factory=list)
    openings: dict[int, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0
    head: str = GENESIS_PREV
    covered: int = 0  # entries covered by totals entries so far
    moved: dict[int, tuple[int, int]] = field(default_factory=dict)  # index -> what the rules move

    def add(self, kind: str, opening: dict[str, Any] | None = None, **fields: Any) -> int:
        self.entries.append(make_entry(kind, version=2, **fields))
        return self._opened(opening)

    def _opened(self, opening: dict[str, Any] | None) -> int:
        index = len(self.entries) - 1
        if opening is not None:
            self.openings[index] = {"index": index, **opening}
        return index

    def setup(self) -> None:
        self.add(
            "site",
            site_id=self.site,
            tokens_per_hour=10,
            max_shift_hours=12,
            allow_uncredentialed=False,
            at_ms=T0,
        )
        self.add(
            "kiosk_enrolled",
            kiosk_id=self.kiosk,
            site_id=self.site,
            public_key=self.kiosk_key.public_key.to_b64(),
            at_ms=T0,
        )

    def register(self, card: str, volunteer: str) -> int:
        salt = new_salt()
        ref = commit_value(REGISTRATION_DOMAIN, salt, f"{card}|{volunteer}")
        return self.add(
            "card", {"kind": "card", "card": card, "volunteer": volunteer, "salt": salt}, ref=ref, at_ms=T0
        )

    def _decided(self, at_ms: int, issued: int, redeemed: int) -> dict[str, Any]:
        return {
            "kiosk": self.kiosk,
            "seq": self.seq,
            "received_ms": at_ms + 1000,
            "flags": [],
            "issued": issued,
            "redeemed": redeemed,
        }

    def tap(
        self,
        kind: EventKind,
        card: str,
        at_ms: int,
        *,
        issued: int = 0,
        redeemed: int = 0,
        data: dict[str, Any] | None = None,
    ) -> int:
        """A v2 event in an entry v2, and its opening item as ``/v1/audit/openings`` gives it."""
        self.seq += 1
        clock = ClockEvidence(wall_ms=at_ms, synced=True, boot_id=BOOT, mono_ms=at_ms - T0)
        event, opening = committed_event(
            kiosk=self.kiosk, seq=self.seq, prev=self.head, kind=kind, card=card, clock=clock, data=data
        )
        signed = sign_event(event, self.kiosk_key, opening)
        self.head = signed.hash
        self.entries.append(private_event_entry(signed.body, signed.signature, received_ms=at_ms + 1000))
        item = {
            "kind": "event",
            "card": opening.card,
            "salt": opening.salt,
            "sealed": dict(opening.sealed or {}),
            **self._decided(at_ms, issued, redeemed),
        }
        index = self._opened(item)
        if issued or redeemed:
            self.moved[index] = (issued, redeemed)
        return index

    def tap_v1(self, kind: EventKind, card: str, at_ms: int, *, issued: int = 0) -> int:
        """A v1 event (it names its card) logged as ``event_sealed``; its bytes go to the auditor."""
        self.seq += 1
        clock = ClockEvidence(wall_ms=at_ms, synced=True, boot_id=BOOT, mono_ms=at_ms - T0)
        event = Event(kiosk=self.kiosk, seq=self.seq, prev=self.head, kind=kind, card=card, clock=clock)
        signed = sign_event(event, self.kiosk_key)
        opening = Opening.fresh(card)
        index = self.add(
            "event_sealed",
            {
                "kind": "event",
                "card": card,
                "salt": opening.salt,
                "body": b64encode(signed.body),
                "sig": b64encode(signed.signature),
                **self._decided(at_ms, issued, 0),
            },
            kiosk=self.kiosk,
            seq=self.seq,
            hash=signed.hash,
            prev=self.head,
            ref=opening.ref,
            received_ms=public_day(at_ms + 1000),
        )
        self.head = signed.hash
        if issued:
            self.moved[index] = (issued, 0)
        return index

    def close_day(self, at_ms: int) -> int:
        """The ``totals`` entry the server appends at a new day's first append: every entry since the last."""
        first, last = self.covered, len(self.entries) - 1
        issued = sum(self.moved.get(i, (0, 0))[0] for i in range(first, last + 1))
        redeemed = sum(self.moved.get(i, (0, 0))[1] for i in range(first, last + 1))
        self.covered = last + 1
        return self.add("totals", first=first, last=last, issued=issued, redeemed=redeemed, at_ms=at_ms)

    def alter(self, index: int, **fields: Any) -> None:
        """Change fields of entry ``index`` after the fact (the tamper tests' evidence)."""
        self.entries[index] = _bytes({**_json(self.entries[index]), **fields})

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.for_key(ORIGIN, self.server_key.public_key)

    def publish(
        self, folder: Path, *, issued: int, redeemed: int = 0, totals_size: int | None = None
    ) -> Path:
        """The public mirror: checkpoint, entry bundles, ``v1/log/totals`` (for ``totals_size`` entries)."""
        size = len(self.entries)
        root = _mth([leaf_hash(e) for e in self.entries])
        for n, width in bundles_for(size):
            path = folder / entry_bundle_path(n, width)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(format_bundle(self.entries[n * TILE_WIDTH : n * TILE_WIDTH + width]))
        (folder / "checkpoint").write_bytes(sign_checkpoint(Checkpoint(ORIGIN, size, root), self.server_key))
        totals = {
            "size": size if totals_size is None else totals_size,
            "issued": issued,
            "redeemed": redeemed,
            "in_circulation": issued - redeemed,
        }
        (folder / "v1/log").mkdir(parents=True, exist_ok=True)
        (folder / "v1/log/totals").write_text(json.dumps(totals))
        return folder

    def hand_to_auditor(self, folder: Path, balances: dict[str, int]) -> Path:
        """The auditor's material: ``balances.json`` and ``openings.jsonl``, as the server gives them."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "balances.json").write_text(json.dumps({"size": len(self.entries), "balances": balances}))
        write_private_lines(
            folder / "openings.jsonl", [self.openings[i] for i in sorted(self.openings)], append=False
        )
        return folder


CARD = ids.new_id(ids.CARD)
VOLUNTEER = ids.new_id(ids.VOLUNTEER)


def _shift_log(issued: int = 10, *, closed: bool = True) -> tuple[Log, dict[str, int]]:
    """A site, a kiosk, a card and one hour's shift at 10 tokens an hour, then the day's totals entry.

    ``issued`` is what the check-out's opening says it issued (the rules pay 10).
    """
    log = Log()
    log.setup()
    at = {"card": log.register(CARD, VOLUNTEER)}
    at["in"] = log.tap(EventKind.CHECK_IN, CARD, T0 + HOUR)
    at["out"] = log.tap(EventKind.CHECK_OUT, CARD, T0 + 2 * HOUR, issued=issued)
    if closed:
        at["totals"] = log.close_day(T0 + DAY)
    return log, at


def _audit(mirror: Path, log: Log, state: Path, auditor: Path | None = None) -> AuditReport:
    source = MirrorSource(mirror)
    options = AuditOptions(
        [log.verifier],
        state_dir=state,
        workers=1,
        auditor=None if auditor is None else FolderAuditor(auditor),
    )
    try:
        return audit_ledger(source, options)
    finally:
        source.close()


def _codes(report: AuditReport) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for problem in report.problems.shown:
        found.setdefault(problem.code, []).append(problem.index)
    return found


def _auditor_audit(log: Log, tmp_path: Path, balances: dict[str, int], *, issued: int = 10) -> AuditReport:
    mirror = log.publish(tmp_path / "mirror", issued=issued)
    return _audit(mirror, log, tmp_path / "state", log.hand_to_auditor(tmp_path / "auditor", balances))


# -- the public audit --------------------------------------------------------------------------------
def test_the_public_audit_checks_signatures_chains_and_totals_without_any_card(tmp_path: Path):
    log, _ = _shift_log()
    report = _audit(log.publish(tmp_path / "mirror", issued=10), log, tmp_path / "state")
    text = "\n".join(report.lines())
    assert report.ok, text
    assert report.mode == "public" and report.entry_versions == [2]
    assert report.signatures_checked == 2 and report.kiosks == 1
    assert (report.issued, report.redeemed, report.totals_compared, report.totals_covered) == (10, 0, 6, 5)
    assert report.card_commitments == 1 and report.opened == 0 and report.balances_compared is None
    assert report.shifts == 0  # nothing is replayed: kind, clock and card are sealed
    assert CARD not in text and VOLUNTEER not in text
    assert "10 tokens issued, 0 redeemed, 10 in circulation by the totals entries" in text
    assert "compared with the public totals at size 6" in text


def test_the_public_audit_catches_totals_that_are_not_the_totals_entries_sum(tmp_path: Path):
    log, _ = _shift_log()
    report = _audit(log.publish(tmp_path / "mirror", issued=12), log, tmp_path / "state")
    assert _codes(report) == {"totals_mismatch": [None]}


def test_events_after_the_last_totals_entry_make_the_public_totals_incomparable_not_wrong(tmp_path: Path):
    log, _ = _shift_log()
    log.tap(EventKind.CHECK_IN, CARD, T0 + DAY + HOUR)  # the next day: not covered yet
    report = _audit(log.publish(tmp_path / "mirror", issued=12), log, tmp_path / "state")
    text = "\n".join(report.lines())
    assert report.ok, text
    assert report.totals_compared is None and report.public_totals == (7, 12, 0)
    assert "count events after the last totals entry: not compared" in text


def test_public_totals_of_exactly_the_covered_entries_are_compared_though_events_follow(tmp_path: Path):
    """The server's totals are the totals entries' sums, for the entries they cover (issue 19)."""
    log, _ = _shift_log()  # entries 0..4, then the totals entry covering them
    log.tap(EventKind.CHECK_IN, CARD, T0 + DAY + HOUR)  # the next day: not covered yet
    report = _audit(log.publish(tmp_path / "mirror", issued=10, totals_size=5), log, tmp_path / "state")
    assert report.ok and report.totals_compared == 5, "\n".join(report.lines())
    wrong = _audit(log.publish(tmp_path / "wrong", issued=12, totals_size=5), log, tmp_path / "state2")
    assert _codes(wrong) == {"totals_mismatch": [None]}


@pytest.mark.parametrize(
    ("first", "last"),
    [(1, 4), (0, 3), (0, 9)],  # a gap before, a gap after (the next range starts too late), past itself
)
def test_the_public_audit_catches_totals_ranges_that_do_not_run_on(tmp_path: Path, first: int, last: int):
    log, at = _shift_log()
    log.alter(at["totals"], first=first, last=last)
    log.tap(EventKind.CHECK_IN, CARD, T0 + DAY + HOUR)
    log.covered = 6
    log.close_day(T0 + 2 * DAY)
    report = _audit(log.publish(tmp_path / "mirror", issued=10), log, tmp_path / "state")
    gaps = _codes(report).get("totals_range_gap", [])
    assert gaps and set(gaps) <= {at["totals"], at["totals"] + 2}, report.lines()


def test_the_public_audit_catches_a_forged_signature_and_a_broken_chain(tmp_path: Path):
    log, at = _shift_log()
    log.alter(at["out"], sig=b64encode(bytes(64)))
    log.head = "ab" * 32  # the next event names a head the kiosk never had
    log.tap(EventKind.CHECK_IN, CARD, T0 + 3 * HOUR)
    report = _audit(log.publish(tmp_path / "mirror", issued=10), log, tmp_path / "state")
    assert _codes(report) == {"bad_signature": [at["out"]], "chain_broken": [at["out"] + 2]}


def test_the_public_audit_catches_an_entry_that_shows_the_time_of_day(tmp_path: Path):
    log, at = _shift_log()
    log.alter(at["in"], received_ms=T0 + HOUR + 1000)
    report = _audit(log.publish(tmp_path / "mirror", issued=10), log, tmp_path / "state")
    assert _codes(report) == {"received_not_day": [at["in"]]}


def test_a_sealed_v1_event_is_chained_by_its_hash_and_prev(tmp_path: Path):
    log, _ = _shift_log(closed=False)
    sealed = log.tap_v1(EventKind.CHECK_IN, CARD, T0 + 3 * HOUR)
    after = log.tap(EventKind.CHECK_OUT, CARD, T0 + 4 * HOUR, issued=10)
    log.close_day(T0 + DAY)
    report = _audit(log.publish(tmp_path / "mirror", issued=20), log, tmp_path / "state")
    assert report.ok, "\n".join(report.lines())
    assert report.sealed == 1 and report.events == 4

    true_hash = _json(log.entries[sealed])["hash"]
    log.alter(sealed, hash="ee" * 32)  # the next event's prev no longer names it
    report = _audit(log.publish(tmp_path / "m2", issued=20), log, tmp_path / "s2")
    assert _codes(report) == {"chain_broken": [after]}

    log.alter(sealed, hash=true_hash, prev="dd" * 32)  # names a prev the kiosk's chain never had
    report = _audit(log.publish(tmp_path / "m3", issued=20), log, tmp_path / "s3")
    assert _codes(report) == {"chain_broken": [sealed]}


def test_a_hand_over_starts_each_kiosk_chain_where_the_old_log_left_it(tmp_path: Path):
    log = Log()
    log.seq, log.head = 41, "cd" * 32
    log.add(
        "handover",
        old_origin="v2.test/ledger-old",
        old_size=900,
        old_root="ef" * 32,
        kiosks={log.kiosk: {"seq": 41, "head": "cd" * 32}},
        at_ms=T0,
    )
    log.setup()
    log.register(CARD, VOLUNTEER)
    log.tap(EventKind.CHECK_IN, CARD, T0 + HOUR)
    report = _audit(log.publish(tmp_path / "mirror", issued=0), log, tmp_path / "state")
    assert report.ok, "\n".join(report.lines())
    assert report.handover is not None and report.handover["old_size"] == 900

    log.entries[0] = make_entry(
        "handover", version=2, old_origin="o", old_size=900, old_root="ef" * 32, kiosks={}, at_ms=T0
    )
    report = _audit(log.publish(tmp_path / "forged", issued=0), log, tmp_path / "state2")
    assert _codes(report) == {"sequence_gap": [4]}  # without the head, seq 42 jumps from 0


# -- the auditor's audit -----------------------------------------------------------------------------
def test_the_auditor_opens_every_event_and_matches_every_figure_exactly(tmp_path: Path):
    log, _ = _shift_log()
    log.tap(EventKind.CHECK_IN, CARD, T0 + DAY + HOUR)  # after the last totals entry: the replay counts it
    mirror = log.publish(tmp_path / "mirror", issued=10)
    auditor = log.hand_to_auditor(tmp_path / "auditor", {VOLUNTEER: 10})
    state = tmp_path / "state"
    report = _audit(mirror, log, state, auditor)
    assert report.ok, "\n".join(report.lines())
    assert report.mode == "auditor" and report.opened == 4 and report.openings_held == 4
    assert report.balances_compared == 1 and report.paid_shifts == 1 and report.volunteers == 1
    assert report.totals_compared == 7  # the replay counts every entry, covered by a totals entry or not
    kept = state / "openings.jsonl"  # personal data: only the auditor may read its copy
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(state.stat().st_mode) == 0o700
    assert len(kept.read_text().splitlines()) == 4

    report = _audit(mirror, log, state, auditor)  # a second run reads the kept openings, fetches none
    assert report.ok and len(kept.read_text().splitlines()) == 4


def test_the_auditor_catches_a_public_total_the_replay_does_not_give(tmp_path: Path):
    log, _ = _shift_log()
    log.tap(EventKind.CHECK_OUT, CARD, T0 + DAY + HOUR)  # no open shift: pays nothing
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 10}, issued=15)
    assert _codes(report) == {"totals_mismatch": [None]}


def test_the_auditor_names_a_missing_and_a_wrong_opening(tmp_path: Path):
    log, at = _shift_log()
    del log.openings[at["out"]]
    log.openings[at["card"]]["volunteer"] = ids.new_id(ids.VOLUNTEER)  # claims another owner
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 10})
    codes = _codes(report)
    assert codes["opening_missing"] == [at["out"]] and codes["opening_mismatch"] == [at["card"]]


@pytest.mark.parametrize(
    "change",
    [
        {"card": ids.new_id(ids.CARD)},  # another card
        {"sealed": "kind"},  # another kind: a check-out said to be a check-in
        {"sealed": "clock"},  # another time
        {"received_ms": T0 - DAY},  # received on another day than the entry shows
        {"seq": 9},  # another chain place
    ],
    ids=["card", "kind", "clock", "received_day", "seq"],
)
def test_an_opening_that_does_not_open_its_event_is_named(tmp_path: Path, change: dict[str, Any]):
    log, at = _shift_log()
    item = log.openings[at["out"]]
    if change.get("sealed") == "kind":
        item["sealed"] = {**item["sealed"], "kind": "check_in"}
    elif change.get("sealed") == "clock":
        item["sealed"] = {**item["sealed"], "clock": {**item["sealed"]["clock"], "wall_ms": T0}}
    else:
        item.update(change)
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 10})
    assert _codes(report).get("opening_mismatch") == [at["out"]], report.lines()


def test_the_auditor_checks_each_events_flags(tmp_path: Path):
    log, at = _shift_log()
    log.openings[at["in"]]["flags"] = ["card_blocked"]
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 10})
    assert _codes(report) == {"flags_mismatch": [at["in"]]}


def test_the_auditor_catches_an_opening_whose_issued_is_not_what_the_rules_pay(tmp_path: Path):
    log, at = _shift_log(issued=11)
    assert _audit(log.publish(tmp_path / "mirror", issued=11), log, tmp_path / "public").ok  # sums only
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 10}, issued=10)
    assert _codes(report) == {"entry_totals_mismatch": [at["out"]], "totals_range_mismatch": [at["totals"]]}


def test_the_auditor_catches_a_totals_entry_the_replay_does_not_give(tmp_path: Path):
    log, at = _shift_log()
    log.alter(at["totals"], issued=13)
    assert _audit(log.publish(tmp_path / "mirror", issued=13), log, tmp_path / "public").ok  # sums only
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 10}, issued=10)
    assert _codes(report) == {"totals_range_mismatch": [at["totals"]]}


def test_the_auditor_catches_a_balance_the_log_does_not_give(tmp_path: Path):
    log, _ = _shift_log()
    report = _auditor_audit(log, tmp_path, {VOLUNTEER: 13})
    assert _codes(report) == {"balance_mismatch": [None]}


def test_the_auditor_opens_a_sealed_v1_event_and_checks_its_signature(tmp_path: Path):
    log, _ = _shift_log(closed=False)
    sealed = log.tap_v1(EventKind.CHECK_IN, CARD, T0 + 3 * HOUR)
    log.tap(EventKind.CHECK_OUT, CARD, T0 + 4 * HOUR, issued=10)
    log.close_day(T0 + DAY)
    report = _auditor_audit(log, tmp_path / "ok", {VOLUNTEER: 20}, issued=20)
    assert report.ok, "\n".join(report.lines())
    assert report.opened == 5 and report.paid_shifts == 2

    log.openings[sealed]["sig"] = b64encode(bytes(64))
    report = _auditor_audit(log, tmp_path / "sig", {VOLUNTEER: 20}, issued=20)
    assert _codes(report) == {"bad_signature": [sealed]}

    log.openings[sealed]["body"] = log.openings[sealed]["body"][:-4] + "AAAA"
    report = _auditor_audit(log, tmp_path / "body", {VOLUNTEER: 20}, issued=20)
    assert _codes(report).get("opening_mismatch") == [sealed]


def test_the_auditor_replays_a_redemption_from_its_sealed_amount(tmp_path: Path):
    log, _ = _shift_log(closed=False)
    shop = ids.new_id(ids.SITE)
    log.add(
        "shop",
        site_id=shop,
        max_amount=50,
        offline_allowance=0,
        offline_daily_cap=0,
        void_window_s=600,
        at_ms=T0,
    )
    till_key = PrivateKey.generate()
    till = ids.new_id(ids.KIOSK)
    log.add("kiosk_enrolled", kiosk_id=till, site_id=shop, public_key=till_key.public_key.to_b64(), at_ms=T0)
    log.kiosk, log.kiosk_key, log.seq, log.head = till, till_key, 0, GENESIS_PREV
    data = {"amount": 4, "id": ids.new_id(ids.REDEMPTION), "online": True}
    buy = log.tap(EventKind.REDEEM, CARD, T0 + 3 * HOUR, redeemed=4, data=data)
    log.close_day(T0 + DAY)
    mirror = log.publish(tmp_path / "mirror", issued=10, redeemed=4)
    report = _audit(mirror, log, tmp_path / "s", log.hand_to_auditor(tmp_path / "a", {VOLUNTEER: 6}))
    assert report.ok, "\n".join(report.lines())
    assert report.redemptions == 1

    log.openings[buy]["redeemed"] = 5
    report = _audit(mirror, log, tmp_path / "s2", log.hand_to_auditor(tmp_path / "a2", {VOLUNTEER: 6}))
    assert _codes(report) == {"entry_totals_mismatch": [buy]}
