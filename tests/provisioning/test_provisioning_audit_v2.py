"""``verify ledger`` over a v2 log (no card IDs): the public audit, and the auditor's with openings.

The mirrors are synthetic, made with the protocol's own functions (v2 events
with :func:`protocol.events.committed_event`, entries with
``make_entry(..., version=2)``, bundles with :mod:`protocol.tiles`), so each
test says exactly which entry, opening or total is wrong.  The end-to-end run
against the real server is the lead's (it needs branch A's v2 ingest).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol import ids
from protocol.checkpoint import Checkpoint, sign_checkpoint
from protocol.commitments import commit_value, new_salt
from protocol.encoding import b64encode
from protocol.events import GENESIS_PREV, ClockEvidence, EventKind, committed_event, sign_event
from protocol.keys import PrivateKey
from protocol.logentry import make_entry
from protocol.merkle import leaf_hash, node_hash
from protocol.note import NoteVerifier
from protocol.tiles import TILE_WIDTH, bundles_for, entry_bundle_path, format_bundle
from provisioning.audit import AuditOptions, AuditReport, MirrorSource, audit_ledger
from provisioning.audit.auditor import REGISTRATION_DOMAIN, FolderAuditor, write_private_lines

ORIGIN = "v2.test/ledger"
T0 = 1_764_400_000_000
HOUR = 3_600_000
BOOT = "0b7c2f2e-1111-4222-8333-944455556666"


def _mth(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@dataclass
class Log:
    """A v2 log being written, the openings the server would keep, and what it would answer."""

    server_key: PrivateKey = field(default_factory=PrivateKey.generate)
    kiosk_key: PrivateKey = field(default_factory=PrivateKey.generate)
    site: str = field(default_factory=lambda: ids.new_id(ids.SITE))
    kiosk: str = field(default_factory=lambda: ids.new_id(ids.KIOSK))
    entries: list[bytes] = field(default_factory=list)
    openings: dict[int, dict[str, Any]] = field(default_factory=dict)
    seq: int = 0
    head: str = GENESIS_PREV

    def add(self, kind: str, opening: dict[str, Any] | None = None, **fields: Any) -> int:
        self.entries.append(make_entry(kind, version=2, **fields))
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
        return self.add("card", {"card": card, "volunteer": volunteer, "salt": salt}, ref=ref, at_ms=T0)

    def tap(self, kind: EventKind, card: str, at_ms: int, *, issued: int = 0) -> int:
        self.seq += 1
        clock = ClockEvidence(wall_ms=at_ms, synced=True, boot_id=BOOT, mono_ms=at_ms - T0)
        event, opening = committed_event(
            kiosk=self.kiosk, seq=self.seq, prev=self.head, kind=kind, card=card, clock=clock
        )
        signed = sign_event(event, self.kiosk_key, opening)
        self.head = signed.hash
        return self.add(
            "event",
            opening.to_json(),
            body=b64encode(signed.body),
            sig=b64encode(signed.signature),
            received_ms=at_ms + 1000,
            flags=[],
            issued=issued,
            redeemed=0,
        )

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.for_key(ORIGIN, self.server_key.public_key)

    def publish(self, folder: Path, *, issued: int, redeemed: int = 0) -> Path:
        """The public mirror: checkpoint, entry bundles and ``v1/log/totals``."""
        size = len(self.entries)
        root = _mth([leaf_hash(e) for e in self.entries])
        for n, width in bundles_for(size):
            path = folder / entry_bundle_path(n, width)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(format_bundle(self.entries[n * TILE_WIDTH : n * TILE_WIDTH + width]))
        (folder / "checkpoint").write_bytes(sign_checkpoint(Checkpoint(ORIGIN, size, root), self.server_key))
        totals = {"size": size, "issued": issued, "redeemed": redeemed, "in_circulation": issued - redeemed}
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


def _shift_log(issued: int = 10) -> tuple[Log, dict[str, int]]:
    """A site, a kiosk, a card and one hour's shift at 10 tokens an hour: indices of its entries.

    ``issued`` is what the check-out's entry says it issued (the rules pay 10).
    """
    log = Log()
    log.setup()
    at = {"card": log.register(CARD, VOLUNTEER)}
    at["in"] = log.tap(EventKind.CHECK_IN, CARD, T0 + HOUR)
    at["out"] = log.tap(EventKind.CHECK_OUT, CARD, T0 + 2 * HOUR, issued=issued)
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


# -- the public audit --------------------------------------------------------------------------------
def test_the_public_audit_checks_signatures_chains_and_totals_without_any_card(tmp_path: Path):
    log, _ = _shift_log()
    report = _audit(log.publish(tmp_path / "mirror", issued=10), log, tmp_path / "state")
    text = "\n".join(report.lines())
    assert report.ok, text
    assert report.mode == "public" and report.entry_versions == [2]
    assert report.signatures_checked == 2 and report.kiosks == 1
    assert (report.issued, report.redeemed, report.totals_compared) == (10, 0, 5)
    assert report.card_commitments == 1 and report.opened == 0 and report.balances_compared is None
    assert CARD not in text and VOLUNTEER not in text
    assert (
        "10 tokens issued, 0 redeemed, 10 in circulation, compared with the public totals at size 5" in text
    )


def test_the_public_audit_catches_totals_that_are_not_the_entries_sum(tmp_path: Path):
    log, _ = _shift_log()
    report = _audit(log.publish(tmp_path / "mirror", issued=12), log, tmp_path / "state")
    assert _codes(report) == {"totals_mismatch": [None]}


def test_the_public_audit_catches_a_forged_signature_and_a_broken_chain(tmp_path: Path):
    log, at = _shift_log()
    forged = json.loads(log.entries[at["out"]])
    forged["sig"] = b64encode(bytes(64))
    log.entries[at["out"]] = json.dumps(forged, separators=(",", ":"), sort_keys=True).encode()
    log.head = "ab" * 32  # the next event names a head the kiosk never had
    log.tap(EventKind.CHECK_IN, CARD, T0 + 3 * HOUR)
    report = _audit(log.publish(tmp_path / "mirror", issued=10), log, tmp_path / "state")
    assert _codes(report) == {"bad_signature": [at["out"]], "chain_broken": [at["out"] + 1]}


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
def test_the_auditor_opens_every_commitment_and_matches_the_balances_exactly(tmp_path: Path):
    log, _ = _shift_log()
    mirror = log.publish(tmp_path / "mirror", issued=10)
    auditor = log.hand_to_auditor(tmp_path / "auditor", {VOLUNTEER: 10})
    state = tmp_path / "state"
    report = _audit(mirror, log, state, auditor)
    assert report.ok, "\n".join(report.lines())
    assert report.mode == "auditor" and report.opened == 3 and report.openings_held == 3
    assert report.balances_compared == 1 and report.paid_shifts == 1 and report.volunteers == 1
    kept = state / "openings.jsonl"  # personal data: only the auditor may read its copy
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(state.stat().st_mode) == 0o700
    assert len(kept.read_text().splitlines()) == 3

    report = _audit(mirror, log, state, auditor)  # a second run reads the kept openings, fetches none
    assert report.ok and len(kept.read_text().splitlines()) == 3


def test_the_auditor_names_a_missing_and_a_wrong_opening(tmp_path: Path):
    log, at = _shift_log()
    del log.openings[at["out"]]
    log.openings[at["card"]]["volunteer"] = ids.new_id(ids.VOLUNTEER)  # claims another owner
    mirror = log.publish(tmp_path / "mirror", issued=10)
    report = _audit(mirror, log, tmp_path / "state", log.hand_to_auditor(tmp_path / "a", {VOLUNTEER: 10}))
    codes = _codes(report)
    assert codes["opening_missing"] == [at["out"]] and codes["opening_mismatch"] == [at["card"]]


def test_the_auditor_catches_an_entry_whose_issued_is_not_what_the_rules_pay(tmp_path: Path):
    log, at = _shift_log(issued=11)
    mirror = log.publish(tmp_path / "mirror", issued=11)
    public = _audit(mirror, log, tmp_path / "state")
    assert public.ok  # the public can only sum what the entries say
    report = _audit(mirror, log, tmp_path / "state2", log.hand_to_auditor(tmp_path / "a", {VOLUNTEER: 10}))
    assert _codes(report) == {"entry_totals_mismatch": [at["out"]]}


def test_the_auditor_catches_a_balance_the_log_does_not_give(tmp_path: Path):
    log, _ = _shift_log()
    mirror = log.publish(tmp_path / "mirror", issued=10)
    report = _audit(mirror, log, tmp_path / "state", log.hand_to_auditor(tmp_path / "a", {VOLUNTEER: 13}))
    assert _codes(report) == {"balance_mismatch": [None]}
