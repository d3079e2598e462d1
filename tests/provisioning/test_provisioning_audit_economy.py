"""``verify ledger`` over a ledger with shops, redemptions, voids, coordinator keys and every decision kind.

The ledger is built once per module through the server's own services (real
SQLite in a real data folder, a movable clock): a check-in site and two shops
with terminals, kiosks signing real events (:class:`FakeKiosk`), and
coordinators signing real decisions with their own keys, one of which is
revoked.  The audit reads the log the server publishes (exported as a tile
mirror, or over HTTP), must replay all of it with the economy rules and agree
on every flag and balance; each tampering test then changes a copy of the
folder the way an operator with database access could, so the server
publishes the change, and the audit must name what changed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protocol import (
    Decision,
    EventKind,
    PrivateKey,
    SignedEvent,
    b64decode,
    coordinator_id,
    encode_batch,
    ids,
    sign_decision,
)
from protocol.decisions import committed_decision
from protocol.events import parse_event
from protocol.logentry import decision_entry, parse_entry
from protocol.note import NoteVerifier
from provisioning.audit import AuditOptions, AuditReport, HttpSource, MirrorSource, audit_ledger
from provisioning.audit.auditor import HttpAuditor
from provisioning.audit.replay import SHOP_MAX_SHIFT_HOURS, SHOP_TOKENS_PER_HOUR
from server import admin, cards, coordinator_keys, decisions, ingest, shops
from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.errors import ServiceError
from server.people import people
from server.runner import serve_in_thread
from tests.audit_helpers import auditor_of, export_mirror
from tests.server.server_helpers import HOUR, MINUTE, T0, FakeClock, FakeKiosk, enrol_fake_kiosk

ORIGIN = "economy.test/ledger"
WHOLE_DAY_150 = {"percent": 150, "days": [0, 1, 2, 3, 4, 5, 6], "dates": [], "from": "00:00", "to": "00:00"}


@dataclass
class Economy:
    """The built ledger, and where its interesting entries are."""

    folder: Path
    verifier_key: str
    volunteers: int
    decisions: int
    redemptions: int
    overdraft: tuple[str, int] = ("", 0)  # (kiosk, seq) of the offline redeem that overdrew
    overdraft_volunteer: str = ""
    review_index: int = 0  # log index of a review decision that paid a shift
    admin_token: str = ""  # holds audit_log: the auditor's routes answer it


class Builder:
    """The coordinator's, kiosks' and server's sides of the scenario, in-process."""

    def __init__(self, ctx: Any, clock: FakeClock) -> None:
        self.ctx, self.clock = ctx, clock
        self.flags: dict[str, list[str]] = {}

    def enrol(self, site_id: str) -> FakeKiosk:
        return enrol_fake_kiosk(self.ctx, site_id)

    def card(self, name: str, **fields: Any) -> tuple[str, str]:
        """A new volunteer's card; their home site is the first site (issue 17: each has one)."""
        with self.ctx.storage.read() as tx:
            home = tx.list_sites()[0].site_id
        answer = cards.create_card(self.ctx, {"name": name, "site_id": home, **fields})
        return answer["card_id"], answer["volunteer_id"]

    def send(self, kiosk: FakeKiosk, *named: tuple[str, SignedEvent]) -> None:
        """One batch; each event's flags are kept under its name."""
        answer = ingest.ingest_batch(self.ctx, kiosk.kiosk_id, encode_batch([event for _, event in named]))
        for (name, _), result in zip(named, answer["results"], strict=True):
            assert result["status"] == "accepted"
            self.flags[name] = result["flags"]

    def decide(self, key: PrivateKey, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        decision, opening = committed_decision(kind, coordinator_id(key.public_key), self.clock.now, data)
        return decisions.submit_decision(self.ctx, sign_decision(decision, key, opening))


def redeem(kiosk: FakeKiosk, card: str, amount: int, wall_ms: int, *, rid: str, online: bool) -> SignedEvent:
    return kiosk.event(EventKind.REDEEM, card, wall_ms, data={"amount": amount, "id": rid, "online": online})


def void(kiosk: FakeKiosk, card: str, wall_ms: int, *, rid: str) -> SignedEvent:
    return kiosk.event(EventKind.VOID, card, wall_ms, data={"id": rid})


def _build(folder: Path) -> Economy:
    init = init_data_dir(folder, origin=ORIGIN)
    clock = FakeClock(T0 - 24 * HOUR)  # set up a day before the shifts, so none is dated before enrolment
    with open_data_dir(folder, now_ms=clock) as ctx:
        b = Builder(ctx, clock)
        earn = admin.create_site(ctx, {"name": "Repair café", "tokens_per_hour": 60, "max_shift_hours": 8})
        limits = {"max_amount": 40, "offline_allowance": 10, "offline_daily_cap": 100, "void_window_s": 900}
        shop = shops.create_shop(ctx, {"name": "Laden", **limits})
        # A shop that allows uncredentialed cards: a shop entry, then a site entry.
        cafe = shops.create_shop(ctx, {"name": "Café", "allow_uncredentialed": True})
        with ctx.storage.read() as tx:  # what a shop entry leaves out, the replay must know
            stored = tx.get_site(shop["site_id"])
        assert stored is not None
        assert (stored.tokens_per_hour, stored.max_shift_hours) == (
            SHOP_TOKENS_PER_HOUR,
            SHOP_MAX_SHIFT_HOURS,
        )
        kiosk, till, till2, cafe_till = (b.enrol(s["site_id"]) for s in (earn, shop, shop, cafe))
        ada, bob, cy, dee, eve, fay = (b.card(name) for name in ("Ada", "Bob", "Cy", "Dee", "Eve", "Fay"))
        pilot = b.card("Pilot", uid="04a1b2c3d4e5f6")
        boss, old = PrivateKey.generate(), PrivateKey.generate()
        for key in (boss, old):
            coordinator_keys.register_coordinator(
                ctx, {"name": "Grace", "public_key": key.public_key.to_b64()}
            )

        clock.now = T0
        # Shifts: paid, an orphan check-out, one never closed, one too long, an uncredentialed card.
        start = T0 - 3 * HOUR
        b.send(
            kiosk,
            ("ada in", kiosk.event(EventKind.CHECK_IN, ada[0], start)),
            ("bob in", kiosk.event(EventKind.CHECK_IN, bob[0], start)),
            ("cy in", kiosk.event(EventKind.CHECK_IN, cy[0], start)),
            ("dee in", kiosk.event(EventKind.CHECK_IN, dee[0], T0 - 12 * HOUR)),
            ("pilot in", kiosk.event(EventKind.CHECK_IN, pilot[0], start)),
            ("ada out", kiosk.event(EventKind.CHECK_OUT, ada[0], start + HOUR)),
            ("bob out", kiosk.event(EventKind.CHECK_OUT, bob[0], start + 30 * MINUTE)),
            ("bob orphan", kiosk.event(EventKind.CHECK_OUT, bob[0], start + 60 * MINUTE)),
            ("dee out", kiosk.event(EventKind.CHECK_OUT, dee[0], T0 - HOUR)),
        )
        orphan = {"kiosk": kiosk.kiosk_id, "seq": 8}
        assert b.flags["pilot in"] == ["uncredentialed_card"]

        # Decisions: new rules (a bonus and a daily cap), reviews, a manual shift.
        site_rules = {
            "tokens_per_hour": 60,
            "max_shift_hours": 8,
            "daily_cap": 90,
            "bonuses": [WHOLE_DAY_150],
        }
        b.decide(boss, "site_rules", {"site": earn["site_id"], **site_rules})
        approve = {"action": "approve", "reason": "forgot_check_in"}
        review = b.decide(
            boss, "review", {"shift": orphan, **approve, "start_ms": start + 40 * MINUTE, "end_ms": 0}
        )
        assert review["result"]["tokens"] == 30  # 20 minutes at 150 %
        reject = {"action": "reject", "start_ms": 0, "end_ms": 0, "reason": "too_long"}
        b.decide(boss, "review", {"shift": {"kiosk": kiosk.kiosk_id, "seq": 4}, **reject})
        manual = {
            "card": dee[0],
            "site": earn["site_id"],
            "start_ms": T0 - 26 * HOUR,
            "end_ms": T0 - 25 * HOUR,
        }
        b.decide(boss, "manual_shift", {**manual, "reason": "paper_list"})
        # A policy change logs a site entry: the cap and bonus must survive it in the replay too.
        admin.set_site_policy(ctx, earn["site_id"], {"allow_uncredentialed": True})
        b.send(
            kiosk,
            ("ada in 2", kiosk.event(EventKind.CHECK_IN, ada[0], T0 - 50 * MINUTE)),
            ("ada out 2", kiosk.event(EventKind.CHECK_OUT, ada[0], T0 - 10 * MINUTE)),  # 60 worth, 30 paid
        )
        clock.now = T0 + 6 * HOUR  # cy's open shift is overdue now, so on the review list
        overdue = {
            "shift": {"kiosk": kiosk.kiosk_id, "seq": 3},
            **approve,
            "start_ms": 0,
            "end_ms": T0 - HOUR,
        }
        b.decide(boss, "review", overdue | {"reason": "forgot_check_out"})

        # A coordinator whose key is revoked: the decision before counts, the one after is refused.
        b.decide(old, "shop_limits", {"site": shop["site_id"], **limits, "max_amount": 45})
        coordinator_keys.revoke_coordinator(ctx, coordinator_id(old.public_key))
        with pytest.raises(ServiceError) as refused:
            b.decide(old, "shop_limits", {"site": shop["site_id"], **limits})
        assert refused.value.reason.value == "coordinator_revoked"

        # Redemptions: online, over the limit, declined and its offline fallback, retries, voids.
        now = clock.now
        names = ("ada", "eve", "bob", "cy", "fay", "pilot", "old", "big")
        rid = {name: ids.new_id(ids.REDEMPTION) for name in names}
        b.send(  # fay earns 30 just before she spends 25: the redemption must see them
            kiosk,
            ("fay in", kiosk.event(EventKind.CHECK_IN, fay[0], now - 30 * MINUTE)),
            ("fay out", kiosk.event(EventKind.CHECK_OUT, fay[0], now - 10 * MINUTE)),
        )
        b.send(
            till,
            ("fay 25", redeem(till, fay[0], 25, now - MINUTE, rid=rid["fay"], online=True)),
            ("till tap", till.event(EventKind.CHECK_IN, ada[0], now - 2 * MINUTE)),  # at a shop: pays nothing
            ("ada 20", redeem(till, ada[0], 20, now - MINUTE, rid=rid["ada"], online=True)),
            ("ada 50", redeem(till, ada[0], 50, now - MINUTE, rid=ids.new_id(ids.REDEMPTION), online=True)),
            ("eve online", redeem(till, eve[0], 8, now - MINUTE, rid=rid["eve"], online=True)),
            ("eve offline", redeem(till, eve[0], 8, now, rid=rid["eve"], online=False)),
            ("bob 10", redeem(till, bob[0], 10, now - 30 * MINUTE, rid=rid["bob"], online=False)),
            ("pilot", redeem(till, pilot[0], 5, now, rid=ids.new_id(ids.REDEMPTION), online=False)),
            (
                "stranger",
                redeem(till, ids.new_id(ids.CARD), 5, now, rid=ids.new_id(ids.REDEMPTION), online=True),
            ),
            ("mismatch", redeem(till, ada[0], 11, now, rid=rid["bob"], online=True)),
            # Offline beyond the till's bound: held for review, then approved or rejected below.
            ("ada old", redeem(till, ada[0], 5, now - 4 * 24 * HOUR, rid=rid["old"], online=False)),
            ("dee big", redeem(till, dee[0], 20, now, rid=rid["big"], online=False)),
        )
        overdraft = (till.kiosk_id, till.seq - 6)
        b.send(till2, ("eve again", redeem(till2, eve[0], 8, now, rid=rid["eve"], online=False)))
        b.send(
            kiosk, ("not a shop", redeem(kiosk, ada[0], 5, now, rid=ids.new_id(ids.REDEMPTION), online=True))
        )
        b.send(
            cafe_till, ("pilot at cafe", redeem(cafe_till, pilot[0], 5, now, rid=rid["pilot"], online=False))
        )
        cards.block_card(ctx, cy[0], {"reason": "lost"})
        b.send(till, ("blocked", redeem(till, cy[0], 5, clock.now, rid=rid["cy"], online=True)))
        b.send(
            till,
            ("void", void(till, ada[0], now, rid=rid["ada"])),
            ("void again", void(till, ada[0], now, rid=rid["ada"])),
            ("void late", void(till, bob[0], now, rid=rid["bob"])),
            ("void unknown", void(till, ada[0], now, rid=ids.new_id(ids.REDEMPTION))),
        )
        b.send(cafe_till, ("void elsewhere", void(cafe_till, eve[0], now, rid=rid["eve"])))
        b.decide(boss, "acknowledge", {"redemption": rid["eve"], "reason": "accepted"})
        held_review = {"action": "approve", "reason": "confirmed_by_shop"}
        b.decide(boss, "redemption_review", {"redemption": rid["big"], **held_review})
        b.decide(boss, "redemption_review", {"redemption": rid["old"], **held_review, "action": "reject"})
        with ctx.storage.read() as tx:
            volunteers = len(people(ctx, tx))
    assert b.flags == {
        "ada in": [],
        "bob in": [],
        "cy in": [],
        "dee in": [],
        "pilot in": ["uncredentialed_card"],
        "ada out": [],
        "bob out": [],
        "bob orphan": [],
        "dee out": [],
        "ada in 2": [],
        "ada out 2": [],
        "fay in": [],
        "fay out": [],
        "fay 25": [],
        "till tap": [],
        "ada 20": [],
        "ada 50": ["amount_over_limit"],
        "eve online": ["insufficient_balance"],
        "eve offline": ["overdraft"],
        "bob 10": [],
        "pilot": ["uncredentialed_card"],
        "stranger": ["unknown_card"],
        "mismatch": ["redemption_mismatch"],
        "ada old": ["redeem_backdated"],
        "dee big": ["offline_over_allowance"],
        "eve again": ["already_redeemed"],
        "not a shop": ["not_a_shop"],
        "pilot at cafe": ["overdraft"],
        "blocked": ["card_blocked"],
        "void": [],
        "void again": ["already_voided"],
        "void late": ["void_too_late"],
        "void unknown": ["unknown_redemption"],
        "void elsewhere": ["void_other_shop"],
    }
    with _db(folder / "ledger.db") as conn:
        counts = [
            conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("decisions", "redemptions")
        ]
    assert counts == [9, 7]  # refused redemptions leave no row; a declined one does until its fallback
    return Economy(
        folder,
        init.log_verifier_key,
        volunteers=volunteers,
        decisions=counts[0],
        redemptions=counts[1],
        overdraft=overdraft,
        overdraft_volunteer=eve[1],
        review_index=review["log_index"],
        admin_token=init.admin_token,
    )


@pytest.fixture(scope="module")
def economy(tmp_path_factory: pytest.TempPathFactory) -> Economy:
    return _build(tmp_path_factory.mktemp("economy") / "server")


@contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to ``path`` that commits on success and is closed after."""
    with closing(sqlite3.connect(path)) as conn, conn:
        yield conn


def _audit(folder: Path, verifier_key: str, state: Path, workers: int = 1) -> AuditReport:
    """Audit what the server of ``folder`` publishes, exported next to ``state``."""
    mirror = export_mirror(folder, state.with_name(state.name + "-mirror"))
    source = MirrorSource(mirror)
    try:
        options = AuditOptions(
            [NoteVerifier.parse(verifier_key)], state_dir=state, workers=workers, auditor=auditor_of(mirror)
        )
        return audit_ledger(source, options)
    finally:
        source.close()


def _copy(economy: Economy, target: Path) -> Path:
    """A consistent copy of the data folder, as a backup would make."""
    target.mkdir()
    for name in ("server.key", "uid-pseudonym.key"):
        (target / name).write_bytes((economy.folder / name).read_bytes())
    with _db(economy.folder / "ledger.db") as src, _db(target / "ledger.db") as dst:
        src.backup(dst)
    return target


def _entries(folder: Path) -> list[bytes]:
    with _db(folder / "ledger.db") as conn:
        return [bytes(row[0]) for row in conn.execute("SELECT entry FROM tlog_entries ORDER BY idx")]


def _replace_entry(folder: Path, index: int, entry: bytes) -> None:
    with _db(folder / "ledger.db") as conn:
        conn.execute("UPDATE tlog_entries SET entry = ? WHERE idx = ?", (entry, index))


def _codes(report: AuditReport) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for problem in report.problems.shown:
        found.setdefault(problem.code, []).append(problem.index)
    return found


# -- a clean ledger ------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_every_flag_shift_redemption_and_decision_replays_to_the_servers_balances(
    economy: Economy, tmp_path: Path, workers: int
):
    report = _audit(economy.folder, economy.verifier_key, tmp_path / "state", workers)
    assert report.ok, "\n".join(report.lines())
    assert report.balances_compared == economy.volunteers == 7
    assert report.decisions == economy.decisions
    assert report.redemptions == economy.redemptions
    assert "OK: every check passed" in report.lines()


def test_the_url_and_the_mirror_agree(economy: Economy, tmp_path: Path):
    with (
        open_data_dir(_copy(economy, tmp_path / "copy")) as ctx,
        serve_in_thread(create_app(ctx, verify_workers=0)) as url,
    ):
        source, auditor = HttpSource(url), HttpAuditor(url, economy.admin_token)
        try:
            options = AuditOptions(
                [NoteVerifier.parse(economy.verifier_key)], state_dir=tmp_path, workers=1, auditor=auditor
            )
            report = audit_ledger(source, options)
        finally:
            source.close()
            auditor.close()
    assert report.ok, "\n".join(report.lines())
    assert report.balances_compared == economy.volunteers
    assert report.decisions == economy.decisions


# -- tampering -----------------------------------------------------------------------------------------
def _index_of_event(folder: Path, kiosk: str, seq: int) -> int:
    for index, data in enumerate(_entries(folder)):
        entry = parse_entry(data)
        if entry["kind"] == "event":
            event = parse_event(entry["body"])
            if (event.kiosk, event.seq) == (kiosk, seq):
                return index
    raise AssertionError(f"no event {kiosk} seq {seq} in the log")


def test_a_decision_whose_signature_was_altered_is_named(economy: Economy, tmp_path: Path):
    folder = _copy(economy, tmp_path / "copy")
    index = economy.review_index
    entry = parse_entry(_entries(folder)[index])
    assert entry["kind"] == "decision"
    sig = bytes([entry["sig"][0] ^ 0x01]) + entry["sig"][1:]
    _replace_entry(folder, index, decision_entry(entry["body"], sig, received_ms=entry["received_ms"]))
    report = _audit(folder, economy.verifier_key, tmp_path / "state")
    assert not report.ok
    assert index in _codes(report)["bad_signature"]
    problem = next(p for p in report.problems.shown if p.code == "bad_signature")
    assert "review decision's signature does not verify with coordinator key o_" in problem.message


def test_a_decision_signed_by_a_key_the_log_never_registered_is_named(economy: Economy, tmp_path: Path):
    folder = _copy(economy, tmp_path / "copy")
    index = economy.review_index
    entry = parse_entry(_entries(folder)[index])
    body = json.loads(entry["body"])
    intruder = PrivateKey.generate()
    forged = Decision(
        body["kind"], coordinator_id(intruder.public_key), body["at_ms"], body["data"], body["nonce"]
    )
    wire = sign_decision(forged, intruder)
    signed = (b64decode(wire["body"], field="body"), b64decode(wire["sig"], field="sig"))
    _replace_entry(folder, index, decision_entry(*signed, received_ms=entry["received_ms"]))
    report = _audit(folder, economy.verifier_key, tmp_path / "state")
    assert index in _codes(report)["unknown_coordinator"]


def test_a_changed_redeem_flag_is_named(economy: Economy, tmp_path: Path):
    """A sealed log shows no flags: the auditor checks the server's word, its opening, by the rules."""
    folder = _copy(economy, tmp_path / "copy")
    index = _index_of_event(folder, *economy.overdraft)
    assert "flags" not in parse_entry(_entries(folder)[index])
    with _db(folder / "ledger.db") as conn:
        (flags,) = conn.execute("SELECT flags FROM openings WHERE log_index = ?", (index,)).fetchone()
        assert json.loads(flags) == ["overdraft"]
        conn.execute("UPDATE openings SET flags = '[]' WHERE log_index = ?", (index,))
    report = _audit(folder, economy.verifier_key, tmp_path / "state")
    kiosk, seq = economy.overdraft
    line = f"entry {index}: kiosk {kiosk} seq {seq}: the log says flags [], the rules give ['overdraft']"
    assert any(line in text for text in report.lines()), "\n".join(report.lines())


def test_a_redemption_edited_in_the_database_is_named(economy: Economy, tmp_path: Path):
    folder = _copy(economy, tmp_path / "copy")
    volunteer = economy.overdraft_volunteer
    with _db(folder / "ledger.db") as conn:
        (balance,) = conn.execute(
            "SELECT SUM(delta) FROM ledger_entries WHERE volunteer_id = ?", (volunteer,)
        ).fetchone()
        conn.execute(
            "UPDATE ledger_entries SET delta = delta + 30 WHERE volunteer_id = ? AND kind = 'redeem'",
            (volunteer,),
        )
        # A careful forger keeps the stored balance in step with the entries.
        conn.execute("UPDATE balances SET balance = balance + 30 WHERE volunteer_id = ?", (volunteer,))
    report = _audit(folder, economy.verifier_key, tmp_path / "state")
    # The public totals are the log's own daily totals, which the edit cannot move; the balances the
    # server answers can, and the auditor names whose.
    assert _codes(report) == {"balance_mismatch": [None]}
    assert str(report.problems.shown[0]) == (
        f"volunteer {volunteer}: the server says {balance + 30} tokens, "
        f"the log gives {balance} [balance_mismatch]"
    )


def test_a_balance_edited_behind_the_url_is_named(economy: Economy, tmp_path: Path):
    folder = _copy(economy, tmp_path / "copy")
    volunteer = economy.overdraft_volunteer
    with _db(folder / "ledger.db") as conn:
        conn.execute("UPDATE balances SET balance = balance + 30 WHERE volunteer_id = ?", (volunteer,))
    with open_data_dir(folder) as ctx, serve_in_thread(create_app(ctx, verify_workers=0)) as url:
        source, auditor = HttpSource(url), HttpAuditor(url, economy.admin_token)
        try:
            options = AuditOptions(
                [NoteVerifier.parse(economy.verifier_key)], state_dir=tmp_path, workers=1, auditor=auditor
            )
            report = audit_ledger(source, options)
        finally:
            source.close()
            auditor.close()
    assert _codes(report) == {"balance_mismatch": [None]}
    assert report.problems.shown[0].volunteer_id == volunteer
