"""Stateful property test of the economy: every balance is explained by the ledger, every entry by the log.

Issue 5.  A Hypothesis state machine (:class:`EconomyMachine`) drives the
ledger server's services directly, without HTTP: a real data folder with a
real SQLite ledger, real keys, real signatures, and a clock the machine
moves.  Its world is three volunteers with five cards (one an uncredentialed
``u_`` card, plus one card nobody registered), two check-in sites with three
kiosks, two shops with three terminals, and one coordinator key.  Its rules
run random sequences of taps and whole shifts, online and offline
redemptions (over the balance, over ``max_amount``, by blocked cards), lost
answers and their offline fallbacks with the same ID, voids (by the same
terminal, the same shop, another shop, too late, twice, naming another card),
kiosks that sync late or send a batch again, card blocks, review decisions,
overdraft acknowledgements, site rules, shop limits and manual shifts.

After every step it checks:

1. the stored balances equal the balances recomputed from the ledger entries
   (``Tx.balances() == Tx.summed_balances()``, volunteers without entries at 0);
2. no balance changes without an entry: each volunteer's balance moved by
   exactly the deltas of the entries added in the step, and every new entry
   points at the log entry that caused it (an ``event`` or a ``decision``,
   received when the entry was made, naming the same shift or redemption).
   The other way round too: every ``redeem`` or ``void`` event logged in the
   step that the rules did not refuse has its entry, and an online redemption
   never takes a balance below zero.  The log's entries are sealed (entry v2
   shows no card, kind, data, flags or exact time), so the machine reads
   those from the designated auditor's openings (``GET /v1/audit/openings``
   items): each opens its event, and its ``issued``/``redeemed`` are what the
   entry's ledger entries moved; each daily ``totals`` entry covers the
   entries since the previous one and sums their openings;
3. each volunteer's statement closes at the stored balance, and each shop's
   settlement equals what left volunteers' balances at that shop;

and when a run ends, ``kokreativ verify ledger``'s :func:`audit_ledger`
replays the log exported from the data folder and finds every balance as stored.

The meta-tests at the end break the server on purpose (with ``monkeypatch``)
and check that the machine notices each break, so a green run means something.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from protocol import (
    Event,
    EventKind,
    PrivateKey,
    SignedEvent,
    b64decode,
    b64encode,
    decision_hash,
    encode_batch,
    ids,
    parse_decision,
    sign_decision,
)
from protocol.decisions import committed_decision, cosign_message
from protocol.economy import decisions as economy_decisions
from protocol.logentry import parse_entry
from provisioning.audit import parse_verifier_keys
from provisioning.audit.sealed import OpenedEvent, open_event
from server import (
    admin,
    cards,
    coordinator_keys,
    decisions,
    ingest,
    ingest_store,
    openings,
    shops,
    statements,
    tlog,
)
from server.context import ServerContext
from server.datadir import LEDGER, InitResult, init_data_dir, open_data_dir
from server.errors import ServiceError
from server.models import LedgerEntry
from server.rules import ZONE
from server.shifts import Payroll, apply_taps
from server.storage import Tx
from tests.audit_helpers import audit_data_folder
from tests.server.server_helpers import HOUR, MINUTE, T0, FakeClock, FakeKiosk, enrol_fake_kiosk

DAY: Final = 24 * HOUR
ANCIENT_MS: Final = 1_500_000_000_000  # 2017: before any plausible kiosk clock
# Flags that leave a debited redemption debited; any other flag on a redeem or void means nothing moved.
REDEEM_KEEPS: Final = frozenset({"overdraft", "clock_out_of_range"})
LEDGER_KIND_OF_EVENT: Final = {"check_out": "shift", "redeem": "redeem", "void": "void"}
PAYING_DECISIONS: Final = frozenset({"review", "manual_shift"})

# Kiosks by name and the site they were enrolled at: check-in sites north and south, shops cafe and books.
SITE_OF: Final = {
    **{"north-1": "north", "north-2": "north", "south-1": "south"},
    **{"cafe-1": "cafe", "cafe-2": "cafe", "books-1": "books"},
}
CHECKIN_KIOSKS: Final = ("north-1", "north-2", "south-1")
CLOCKS: Final = st.sampled_from(("good", "good", "good", "ahead", "ancient"))
TERMINALS: Final = ("cafe-1", "cafe-2", "books-1")
# Cards by name: Ada has two, Cyd a credential card and a u_ card no site accepts, "stranger" is unregistered.
CARDS: Final = ("ada", "ada-spare", "bob", "cyd", "cyd-uid", "stranger")
REGISTERED: Final = CARDS[:-1]
# What a tap or a purchase presents: mostly cards that earn and spend, sometimes ones the server refuses.
PRESENTED: Final = st.sampled_from(("ada", "ada", "ada-spare", "bob", "bob", "cyd", "cyd-uid", "stranger"))

BONUSES: Final[dict[str, dict[str, Any]]] = {
    "night": {"percent": 150, "days": [0, 1, 2, 3, 4, 5, 6], "dates": [], "from": "22:00", "to": "06:00"},
    "weekend": {"percent": 200, "days": [5, 6], "dates": [], "from": "00:00", "to": "00:00"},
    "lunch_today": {"percent": 300, "days": [], "dates": ["<today>"], "from": "11:00", "to": "14:00"},
}

SETTINGS: Final = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
)

F = TypeVar("F", bound=Callable[..., Any])


def _step(func: F) -> F:
    """Mark a rule as running: the invariant marks the machine settled again once its checks pass.

    Teardown audits only a settled machine, so a failing step is reported as
    itself and not hidden behind the audit's view of the same damage.
    """

    @functools.wraps(func)
    def run(self: EconomyMachine, *args: Any, **kwargs: Any) -> Any:
        self.settled = False
        return func(self, *args, **kwargs)

    return run  # type: ignore[return-value]


@dataclasses.dataclass
class Outbox:
    """A kiosk's signing side and what it has not synced yet, as a terminal's outbox holds it."""

    kiosk: FakeKiosk
    pending: list[SignedEvent] = dataclasses.field(default_factory=list)
    last_batch: list[SignedEvent] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Sale:
    """A redemption a terminal signed: what a later void or offline fallback names."""

    rid: str
    card: str
    terminal: str
    amount: int
    online: bool

    def __repr__(self) -> str:
        mode = "online" if self.online else "offline"
        return f"Sale({self.card}@{self.terminal} {self.amount} {mode} {self.rid[-6:]})"


class Entry(NamedTuple):
    """A ledger row with its ``entry_id``, as the machine reads it from the file."""

    entry_id: int
    volunteer_id: str
    delta: int
    kind: str
    ref: int
    created_ms: int
    log_index: int | None


class EconomyMachine(RuleBasedStateMachine):
    """The economy's services under random use; see the module docstring for the invariants."""

    sales = Bundle("sales")

    def __init__(self, root: Path, *, audit: bool = True) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(dir=root))
        self.audit = audit
        self.settled = False  # until the invariant has passed once (Hypothesis checks it right after this)
        self.clock = FakeClock(T0)
        self.init: InitResult = init_data_dir(self.root / "data")
        self.ctx: ServerContext = open_data_dir(self.root / "data", now_ms=self.clock)
        self.db = sqlite3.connect(f"{(self.root / 'data' / LEDGER).as_uri()}?mode=ro", uri=True)
        self.sites = {
            name: admin.create_site(self.ctx, {"name": name, "tokens_per_hour": 60})["site_id"]
            for name in ("north", "south")
        }
        self.shops = {
            name: shops.create_shop(self.ctx, {"name": name})["site_id"] for name in ("cafe", "books")
        }
        self.outboxes = {
            name: self._enrol({**self.sites, **self.shops}[site]) for name, site in SITE_OF.items()
        }
        self.card_ids: dict[str, str] = {}
        self.volunteer_of: dict[str, str] = {}
        for name, owner, extra in (
            ("ada", None, {}),
            ("ada-spare", "ada", {}),
            ("bob", None, {}),
            ("cyd", None, {}),
            ("cyd-uid", "cyd", {"uid": "04a1b2c3d4e5f6"}),
        ):
            who = (
                {"name": name, "site_id": self.sites["north"]}
                if owner is None
                else {"volunteer_id": self.volunteer_of[self.card_ids[owner]]}
            )
            registered = cards.create_card(self.ctx, {**who, **extra})
            self.card_ids[name] = registered["card_id"]
            self.volunteer_of[registered["card_id"]] = registered["volunteer_id"]
        self.card_ids["stranger"] = ids.new_id(ids.CARD)
        self.volunteers = sorted(set(self.volunteer_of.values()))
        self.blocked: set[str] = set()
        self.coordinator = PrivateKey.generate()
        self.coordinator_id = coordinator_keys.register_coordinator(
            self.ctx, {"name": "Grace", "public_key": self.coordinator.public_key.to_b64()}
        )[0]["coordinator_id"]
        self.cosigner = PrivateKey.generate()  # four eyes: a second coordinator cosigns long shifts
        self.cosigner_id = coordinator_keys.register_coordinator(
            self.ctx, {"name": "Linus", "public_key": self.cosigner.public_key.to_b64()}
        )[0]["coordinator_id"]
        self.flags: dict[tuple[str, int], list[str]] = {}  # (kiosk_id, seq) -> flags as first answered
        self.last_decision: dict[str, str] | None = None
        for card, minutes in (("ada", 45), ("bob", 20)):  # tokens to spend from the first step on
            self._work(card, "north-1", minutes, send=True)
        self.balances: dict[str, int] = dict.fromkeys(self.volunteers, 0)  # after the last step
        self.seen_entry_id = 0
        self.totals_covered = 0  # the log's entries before this one are in a ``totals`` entry's range
        with self.ctx.storage.read() as tx:
            self.seen_log_size = tx.tlog_size()

    # -- the world -----------------------------------------------------------------------------
    def _enrol(self, site_id: str) -> Outbox:
        return Outbox(enrol_fake_kiosk(self.ctx, site_id))

    def _wall(self, clock: str) -> int:
        """A kiosk's wall clock: right, over a day ahead or years behind (both ``clock_out_of_range``)."""
        return {"good": self.clock.now, "ahead": self.clock.now + DAY + HOUR, "ancient": ANCIENT_MS}[clock]

    def _emit(self, name: str, event: SignedEvent, *, send: bool) -> None:
        outbox = self.outboxes[name]
        outbox.pending.append(event)
        if send:
            self._sync(name)

    def _sync(self, name: str) -> None:
        """Send the kiosk's outbox as one batch, which must be admitted whole."""
        outbox = self.outboxes[name]
        batch = outbox.pending
        answer = ingest.ingest_batch(self.ctx, outbox.kiosk.kiosk_id, encode_batch(batch))
        for event, result in zip(batch, answer["results"], strict=True):
            assert result["status"] == "accepted", result
            self.flags[(event.event.kiosk, event.event.seq)] = result["flags"]
        outbox.pending, outbox.last_batch = [], batch

    def _decide(
        self, kind: str, data: dict[str, Any], *, refusals: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """Sign and submit a decision; a refusal (only those in ``refusals`` may happen) changes nothing."""
        decision, opening = committed_decision(kind, self.coordinator_id, self.clock.now, data)  # v2
        wire = sign_decision(decision, self.coordinator, opening)
        size = self._log_size()
        try:
            answer = decisions.submit_decision(self.ctx, wire)
            if answer.get("pending"):  # over the four-eyes threshold: kept, applied once cosigned
                assert self._log_size() == size, "a decision waiting for four eyes was logged"
                body = b64decode(wire["body"], field="body")
                cosig = {
                    "coordinator": self.cosigner_id,
                    "sig": b64encode(self.cosigner.sign(cosign_message(body))),
                }
                wire = {**wire, "cosig": cosig}
                answer = decisions.submit_decision(self.ctx, wire)
        except ServiceError as exc:
            assert exc.reason.value in set(refusals), f"{kind} refused: {exc.reason.value}: {exc.message}"
            assert self._log_size() == size, "a refused decision was logged"
            return None
        assert answer["duplicate"] is False and answer["log_index"] == size
        self.last_decision = wire
        return answer

    def _log_size(self) -> int:
        with self.ctx.storage.read() as tx:
            return tx.tlog_size()

    def _review_items(self, item: str) -> list[dict[str, Any]]:
        return [entry for entry in admin.review(self.ctx)["items"] if entry["item"] == item]

    # -- time, taps and shifts -----------------------------------------------------------------
    @rule(
        ms=st.one_of(
            st.integers(1, 15).map(lambda minutes: minutes * MINUTE),  # within a shop's void window
            st.integers(1, 240).map(lambda minutes: minutes * MINUTE),
            st.integers(1, 3).map(lambda days: days * DAY),
        )
    )
    @_step
    def advance_time(self, ms: int) -> None:
        self.clock.now += ms

    @rule(
        kind=st.sampled_from((EventKind.CHECK_IN, EventKind.CHECK_OUT)),
        card=PRESENTED,
        kiosk=st.sampled_from((*CHECKIN_KIOSKS, *CHECKIN_KIOSKS, "cafe-2")),
        clock=CLOCKS,
        send=st.booleans(),
    )
    @_step
    def tap(self, kind: EventKind, card: str, kiosk: str, clock: str, send: bool) -> None:
        """One tap: taps that do not pair make forgotten check-outs, orphan check-outs and long shifts."""
        event = self.outboxes[kiosk].kiosk.event(kind, self.card_ids[card], self._wall(clock))
        self._emit(kiosk, event, send=send)

    @rule(
        card=st.sampled_from(REGISTERED),
        kiosk=st.sampled_from(CHECKIN_KIOSKS),
        minutes=st.integers(1, 16 * 60),
        send=st.booleans(),
    )
    @_step
    def work_shift(self, card: str, kiosk: str, minutes: int, send: bool) -> None:
        """A check-in ``minutes`` ago and a check-out now (longer than the site's maximum: review)."""
        self._work(card, kiosk, minutes, send=send)

    def _work(self, card: str, kiosk: str, minutes: int, *, send: bool) -> None:
        card_id, signer = self.card_ids[card], self.outboxes[kiosk].kiosk
        start = self.clock.now - minutes * MINUTE
        self._emit(kiosk, signer.event(EventKind.CHECK_IN, card_id, start), send=False)
        self._emit(kiosk, signer.event(EventKind.CHECK_OUT, card_id, self.clock.now), send=send)

    @precondition(lambda self: any(outbox.pending for outbox in self.outboxes.values()))
    @rule(data=st.data())
    @_step
    def sync(self, data: st.DataObject) -> None:
        """A kiosk that was offline syncs its outbox."""
        waiting = sorted(name for name, outbox in self.outboxes.items() if outbox.pending)
        self._sync(data.draw(st.sampled_from(waiting), label="kiosk"))

    @precondition(lambda self: any(outbox.last_batch for outbox in self.outboxes.values()))
    @rule(data=st.data(), with_pending=st.booleans())
    @_step
    def resend(self, data: st.DataObject, with_pending: bool) -> None:
        """A kiosk sends its last batch again (answer lost): each event a duplicate, answered alike."""
        sent = sorted(name for name, outbox in self.outboxes.items() if outbox.last_batch)
        outbox = self.outboxes[data.draw(st.sampled_from(sent), label="kiosk")]
        again = outbox.last_batch
        fresh = outbox.pending if with_pending else []
        answer = ingest.ingest_batch(self.ctx, outbox.kiosk.kiosk_id, encode_batch(again + fresh))
        results = answer["results"]
        assert len(results) == len(again) + len(fresh)
        for event, result in zip(again, results, strict=False):
            assert result == {
                "seq": event.event.seq,
                "status": "duplicate",
                "flags": self.flags[(event.event.kiosk, event.event.seq)],
            }
        for event, result in zip(fresh, results[len(again) :], strict=True):
            assert result["status"] == "accepted", result
            self.flags[(event.event.kiosk, event.event.seq)] = result["flags"]
        if fresh:
            outbox.pending, outbox.last_batch = [], fresh

    @precondition(lambda self: len(self.blocked) < 2)
    @rule(card=st.sampled_from(REGISTERED))
    @_step
    def block_card(self, card: str) -> None:
        cards.block_card(self.ctx, self.card_ids[card], {"reason": "lost"})
        self.blocked.add(card)

    # -- shops ---------------------------------------------------------------------------------
    @rule(
        target=sales,
        card=PRESENTED,
        terminal=st.sampled_from((*TERMINALS, *TERMINALS, "south-1")),  # a check-in kiosk: not_a_shop
        amount=st.one_of(st.integers(1, 20), st.integers(1, 80)),
        mode=st.sampled_from(("online", "online", "online_lost", "offline", "offline_synced")),
        clock=CLOCKS,
    )
    @_step
    def redeem(self, card: str, terminal: str, amount: int, mode: str, clock: str) -> Sale:
        """Online (synced at once, or its answer lost and left in the outbox), or offline (synced or not).

        A wrong terminal clock is flagged but still debits; its void will be too late.
        """
        online = mode.startswith("online")
        sale = Sale(ids.new_id(ids.REDEMPTION), card, terminal, amount, online)
        event = self._redeem_event(sale, online=online, wall_ms=self._wall(clock))
        self._emit(terminal, event, send=mode in ("online", "offline_synced"))
        return sale

    def _redeem_event(
        self, sale: Sale, *, online: bool, amount: int | None = None, wall_ms: int | None = None
    ) -> SignedEvent:
        data = {"amount": sale.amount if amount is None else amount, "id": sale.rid, "online": online}
        wall = self.clock.now if wall_ms is None else wall_ms
        return self.outboxes[sale.terminal].kiosk.event(
            EventKind.REDEEM, self.card_ids[sale.card], wall, data=data
        )

    @rule(sale=sales, same_amount=st.sampled_from((True, True, True, False)), send=st.booleans())
    @_step
    def offline_fallback(self, sale: Sale, same_amount: bool, send: bool) -> None:
        """No answer came: the terminal decides offline and signs a second ``redeem`` with the same ID."""
        event = self._redeem_event(sale, online=False, amount=None if same_amount else sale.amount + 1)
        self._emit(sale.terminal, event, send=send)

    @rule(
        sale=sales,
        by=st.sampled_from(("same_terminal", "same_terminal", "same_shop", "other_shop", "other_card")),
        send=st.sampled_from((True, True, False)),
    )
    @_step
    def void(self, sale: Sale, by: str, send: bool) -> None:
        """Void ``sale``: at its terminal or another of its shop, at another shop, or naming another card."""
        terminal, card = sale.terminal, sale.card
        if by == "same_shop":  # another terminal of the shop, where it has one
            others = [t for t in SITE_OF if SITE_OF[t] == SITE_OF[sale.terminal] and t != sale.terminal]
            terminal = others[0] if others else sale.terminal
        elif by == "other_shop":
            terminal = next(t for t in TERMINALS if SITE_OF[t] != SITE_OF[sale.terminal])
        elif by == "other_card":
            card = "bob" if card != "bob" else "ada"
        signer = self.outboxes[terminal].kiosk
        event = signer.event(EventKind.VOID, self.card_ids[card], self.clock.now, data={"id": sale.rid})
        self._emit(terminal, event, send=send)

    def _debited(self) -> list[tuple[str, str, str]]:
        """``(redemption ID, card ID, kiosk ID)`` of the redemptions that are debited and not voided."""
        rows = self.db.execute(
            "SELECT redemption_id, card_id, kiosk_id FROM redemptions WHERE status = 'debited' ORDER BY rowid"
        )
        return [tuple(row) for row in rows]

    @precondition(lambda self: bool(self._debited()))
    @rule(data=st.data())
    @_step
    def refund(self, data: st.DataObject) -> None:
        """The till voids a debited redemption (random ones rarely are): late if time has moved on."""
        rid, card_id, kiosk_id = data.draw(st.sampled_from(self._debited()), label="redemption")
        name = next(name for name, outbox in self.outboxes.items() if outbox.kiosk.kiosk_id == kiosk_id)
        event = self.outboxes[name].kiosk.event(EventKind.VOID, card_id, self.clock.now, data={"id": rid})
        self._emit(name, event, send=True)

    @rule(
        shop=st.sampled_from(("cafe", "books")),
        max_amount=st.integers(1, 60),
        offline_allowance=st.integers(0, 20),
        offline_daily_cap=st.sampled_from((0, 50, 200)),
        void_window_s=st.sampled_from((0, 60, 900, 3600, 86_400)),
    )
    @_step
    def shop_limits(
        self, shop: str, max_amount: int, offline_allowance: int, offline_daily_cap: int, void_window_s: int
    ) -> None:
        limits = {
            "site": self.shops[shop],
            "max_amount": max_amount,
            "offline_allowance": offline_allowance,
            "offline_daily_cap": offline_daily_cap,
            "void_window_s": void_window_s,
        }
        assert self._decide("shop_limits", limits) is not None

    # -- coordinators ----------------------------------------------------------------------------
    @rule(
        site=st.sampled_from(("north", "south")),
        tokens_per_hour=st.sampled_from((0, 6, 10, 60, 90, 600)),
        max_shift_hours=st.integers(1, 24),
        daily_cap=st.sampled_from((0, 0, 5, 60, 200)),
        bonuses=st.lists(st.sampled_from(sorted(BONUSES)), max_size=2, unique=True),
    )
    @_step
    def site_rules(
        self, site: str, tokens_per_hour: int, max_shift_hours: int, daily_cap: int, bonuses: list[str]
    ) -> None:
        today = datetime.datetime.fromtimestamp(self.clock.now / 1000, ZONE).date().isoformat()
        windows = [
            {**BONUSES[name], "dates": [today] if BONUSES[name]["dates"] else []} for name in sorted(bonuses)
        ]
        rules = {
            "site": self.sites[site],
            "tokens_per_hour": tokens_per_hour,
            "max_shift_hours": max_shift_hours,
            "daily_cap": daily_cap,
            "bonuses": windows,
        }
        assert self._decide("site_rules", rules) is not None

    @precondition(lambda self: bool(self._review_items("shift")))
    @rule(
        data=st.data(),
        approve=st.sampled_from((True, True, False)),
        minutes=st.integers(0, 15 * 60),
        correct=st.sampled_from((False, False, True)),
    )
    @_step
    def review(self, data: st.DataObject, approve: bool, minutes: int, correct: bool) -> None:
        """Approve (giving a missing start or end, or correcting both) or reject a shift under review."""
        item = data.draw(st.sampled_from(self._review_items("shift")), label="shift")
        start = end = 0
        if approve and item["in_kiosk"] is None:  # an orphan check-out: say when it started
            start = item["end_ms"] - minutes * MINUTE
        if approve and item["end_ms"] is None:  # a forgotten check-out: say when it ended
            end = min(item["start_ms"] + minutes * MINUTE, self.clock.now)
        if approve and correct:
            end = min(item["start_ms"] + minutes * MINUTE, self.clock.now)
            start = end - minutes * MINUTE
        ruling = {
            "shift": item["ref"],
            "action": "approve" if approve else "reject",
            "start_ms": max(start, 0),
            "end_ms": max(end, 0),
            "reason": "confirmed_by_site" if approve else "not_worked",
        }
        # A recorded time from a kiosk whose clock was wrong can make the shift end in the future,
        # run backwards or last longer than a week: the server refuses to pay such a shift.
        self._decide("review", ruling, refusals=("bad_field",))

    @precondition(lambda self: bool(self._review_items("overdraft")))
    @rule(data=st.data())
    @_step
    def acknowledge(self, data: st.DataObject) -> None:
        item = data.draw(st.sampled_from(self._review_items("overdraft")), label="overdraft")
        assert (
            self._decide("acknowledge", {"redemption": item["redemption_id"], "reason": "seen"}) is not None
        )

    @rule(
        card=st.sampled_from(REGISTERED),
        site=st.sampled_from(("north", "south")),
        hours_ago=st.integers(0, 72),
        minutes=st.integers(-30, 600),
    )
    @_step
    def manual_shift(self, card: str, site: str, hours_ago: int, minutes: int) -> None:
        """A shift added by hand; one that does not end after it starts is refused (``bad_field``)."""
        start = self.clock.now - hours_ago * HOUR
        shift = {
            "card": self.card_ids[card],
            "site": self.sites[site],
            "start_ms": start,
            "end_ms": start + minutes * MINUTE,
            "reason": "forgot_card",
        }
        self._decide("manual_shift", shift, refusals=("bad_field",) if minutes <= 0 else ())

    @precondition(lambda self: self.last_decision is not None)
    @rule()
    @_step
    def resend_decision(self) -> None:
        """The coordinator's laptop sends its last decision again: answered as a duplicate, applied once."""
        assert self.last_decision is not None
        size = self._log_size()
        answer = decisions.submit_decision(self.ctx, self.last_decision)
        assert answer["duplicate"] is True
        assert self._log_size() == size

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def books_balance(self) -> None:
        """(1) stored == summed, (2) every change is a new entry with a logged cause, (3) statements agree."""
        with self.ctx.storage.read() as tx:
            stored = {**dict.fromkeys(self.volunteers, 0), **tx.balances()}
            summed = {**dict.fromkeys(self.volunteers, 0), **tx.summed_balances()}
            log_size = tx.tlog_size()
            assert stored == summed, (
                f"stored balances differ from the ledger entries' sums: {stored} != {summed}"
            )
            new = self._entries_since(self.seen_entry_id)
            moved = {
                v: stored.get(v, 0) - self.balances.get(v, 0) for v in stored.keys() | self.balances.keys()
            }
            explained = dict.fromkeys(moved, 0)
            for entry in new:
                explained[entry.volunteer_id] = explained.get(entry.volunteer_id, 0) + entry.delta
            assert moved == explained, (
                f"a balance changed without a ledger entry: moved {moved}, new entries explain {explained}"
            )
            self._check_causes(tx, new, log_size)
        self._check_statements(stored)
        self.balances = stored
        self.seen_entry_id = max([self.seen_entry_id, *(entry.entry_id for entry in new)])
        self.seen_log_size = log_size
        self.settled = True

    def _entries_since(self, entry_id: int) -> list[Entry]:
        rows = self.db.execute(
            "SELECT entry_id, volunteer_id, delta, kind, ref, created_ms, log_index FROM ledger_entries "
            "WHERE entry_id > ? ORDER BY entry_id",
            (entry_id,),
        )
        return [Entry(*row) for row in rows]

    @staticmethod
    def _openings_from(tx: Tx, first: int) -> dict[int, dict[str, Any]]:
        """The designated auditor's opening items (``GET /v1/audit/openings``) of entries ``first`` on.

        Read in the invariant's transaction (the route would open a second one), as the route pages.
        """
        items: dict[int, dict[str, Any]] = {}
        while page := tx.openings_after(first - 1, openings.MAX_LIMIT):
            items.update((opening.log_index, opening.to_json()) for opening in page)
            first = page[-1].log_index + 1
        return items

    def _opened(
        self, where: str, index: int, logged: dict[str, Any], items: dict[int, dict[str, Any]]
    ) -> OpenedEvent:
        """The event of log entry ``index`` opened by its item: a v2 entry shows no kind, data or flags."""
        assert index in items, f"{where}: log entry {index} has no opening"
        return open_event(items[index], logged["body"], received_day=logged["received_ms"])

    def _check_causes(self, tx: Tx, new: list[Entry], log_size: int) -> None:
        """Each new entry points at the logged fact that caused it; each fact that moves tokens has one.

        The log's entries are sealed: what an event was, when exactly it came and what the
        rules made of it are in the auditor's openings, which must agree with the ledger too.
        """
        first = min([self.seen_log_size, *(e.log_index for e in new if e.log_index is not None)])
        items = self._openings_from(tx, max(first, 0))
        running = dict(self.balances)
        for entry in new:
            where = f"entry {entry.entry_id} ({entry.kind} {entry.delta:+})"
            assert entry.log_index is not None and 0 <= entry.log_index < log_size, f"{where}: no log entry"
            data = tx.tlog_entry(entry.log_index)
            assert data is not None, f"{where}: log entry {entry.log_index} is missing"
            logged = parse_entry(data)
            assert logged["kind"] in ("event", "decision"), f"{where}: caused by a {logged['kind']} entry"
            online = False
            if logged["kind"] == "event":
                opened = self._opened(where, entry.log_index, logged, items)
                cause_ms, online = opened.received_ms, opened.event.data.get("online") is True
                self._check_event_cause(where, entry, opened.event, opened.flags)
            else:
                cause_ms = logged["received_ms"]  # a decision's entry keeps its exact time
                self._check_decision_cause(where, entry, logged["body"])
            assert entry.created_ms == cause_ms, f"{where}: made at another time than its cause"
            running[entry.volunteer_id] = running.get(entry.volunteer_id, 0) + entry.delta
            if entry.kind == "redeem" and online:
                assert running[entry.volunteer_id] >= 0, f"{where}: an online redemption overdrew the balance"
        # The other way round: a redeem or void the rules did not refuse moved tokens, in one entry; and
        # each opening's issued/redeemed is what its entry's ledger entries moved.
        caused = {(entry.log_index, entry.kind) for entry in new}
        moved: dict[int, list[int]] = {}  # log index -> [issued, redeemed] by its new ledger entries
        for entry in new:
            issued, redeemed = moved.setdefault(entry.log_index or 0, [0, 0])
            shift = entry.kind == "shift"  # pay is issued; a debit is redeemed, a void's credit takes back
            moved[entry.log_index or 0] = [issued + entry.delta * shift, redeemed - entry.delta * (not shift)]
        for index in range(self.seen_log_size, log_size):
            data = tx.tlog_entry(index)
            assert data is not None
            logged = parse_entry(data)
            if logged["kind"] == "totals":
                self._check_totals(tx, index, logged, items)
            if logged["kind"] not in ("event", "decision"):
                continue
            assert index in items, f"log entry {index}: a {logged['kind']} without an opening"
            said = [items[index]["issued"], items[index]["redeemed"]]
            assert said == moved.get(index, [0, 0]), (
                f"log entry {index}: its opening says issued/redeemed {said}, "
                f"its ledger entries moved {moved.get(index, [0, 0])}"
            )
            if logged["kind"] != "event":
                continue
            opened = self._opened(f"log entry {index}", index, logged, items)
            kind = opened.event.kind.value
            if kind == "redeem" and set(opened.flags) <= REDEEM_KEEPS:
                assert (index, "redeem") in caused, f"log entry {index}: a debited redemption left no entry"
            if kind == "void" and not opened.flags:
                assert (index, "void") in caused, f"log entry {index}: an accepted void left no entry"

    def _check_totals(
        self, tx: Tx, index: int, logged: dict[str, Any], items: dict[int, dict[str, Any]]
    ) -> None:
        """A daily ``totals`` entry sums its range's openings, right after the previous one's range."""
        assert logged["first"] == self.totals_covered <= logged["last"] < index, (
            f"totals entry {index} covers {logged['first']}..{logged['last']}, "
            f"entries from {self.totals_covered} were uncovered"
        )
        items = {**items, **self._openings_from(tx, logged["first"])}
        summed = [0, 0]
        for item in (items.get(i) for i in range(logged["first"], logged["last"] + 1)):
            if item is not None and item["kind"] in ("event", "event_sealed", "decision"):
                summed = [summed[0] + item["issued"], summed[1] + item["redeemed"]]
        assert [logged["issued"], logged["redeemed"]] == summed, (
            f"totals entry {index} says issued/redeemed {[logged['issued'], logged['redeemed']]}, "
            f"its range's openings {summed}"
        )
        self.totals_covered = logged["last"] + 1

    def _check_event_cause(self, where: str, entry: Entry, event: Event, flags: tuple[str, ...]) -> None:
        kind = event.kind.value
        assert LEDGER_KIND_OF_EVENT.get(kind) == entry.kind, f"{where}: caused by a {kind} event"
        if entry.kind == "shift":
            shift = self.db.execute(
                "SELECT out_kiosk, out_seq, volunteer_id, tokens, status FROM shifts WHERE shift_id = ?",
                (entry.ref,),
            ).fetchone()
            assert shift == (event.kiosk, event.seq, entry.volunteer_id, entry.delta, "paid"), (
                f"{where}: the check-out {event.kiosk}/{event.seq} did not close shift {entry.ref} ({shift})"
            )
            return
        assert set(flags) <= (REDEEM_KEEPS if kind == "redeem" else set()), (
            f"{where}: the {kind} event was refused ({list(flags)}) yet moved tokens"
        )
        redemption = self.db.execute(
            "SELECT redemption_id, volunteer_id, amount FROM redemptions WHERE rowid = ?", (entry.ref,)
        ).fetchone()
        sign = -1 if kind == "redeem" else 1
        assert redemption == (event.data["id"], entry.volunteer_id, sign * entry.delta), (
            f"{where}: the {kind} event names {event.data['id']}, the entry redemption {redemption}"
        )

    def _check_decision_cause(self, where: str, entry: Entry, body: bytes) -> None:
        decision = parse_decision(body)
        assert entry.kind == "shift" and decision.kind in PAYING_DECISIONS, (
            f"{where}: caused by a {decision.kind} decision"
        )
        shift = self.db.execute(
            "SELECT decision, volunteer_id, tokens, status FROM shifts WHERE shift_id = ?", (entry.ref,)
        ).fetchone()
        assert shift == (decision_hash(body), entry.volunteer_id, entry.delta, "paid"), (
            f"{where}: the {decision.kind} decision did not pay shift {entry.ref} ({shift})"
        )

    def _check_statements(self, stored: dict[str, int]) -> None:
        """(3) every volunteer's statement closes at the stored balance; every shop settles its debits."""
        for volunteer_id in self.volunteers:
            content = statements.volunteer_statement(self.ctx, volunteer_id, {}).content
            assert isinstance(content, dict)
            assert content["closing_balance"] == stored[volunteer_id], (
                f"statement of {volunteer_id}: {content}"
            )
        for shop, site_id in self.shops.items():
            content = statements.shop_statement(self.ctx, site_id, {}).content
            assert isinstance(content, dict)
            (moved,) = self.db.execute(
                "SELECT COALESCE(SUM(e.delta), 0) FROM ledger_entries e "
                "JOIN redemptions r ON r.rowid = e.ref WHERE e.kind IN ('redeem', 'void') AND r.site_id = ?",
                (site_id,),
            ).fetchone()
            assert content["to_settle"] == -moved, (
                f"{shop} settles {content['to_settle']}, balances lost {-moved}"
            )

    # -- the end of a run ----------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            if self.audit and self.settled:
                self._audit()
        finally:
            self.db.close()
            self.ctx.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def _audit(self) -> None:
        """(4) ``kokreativ verify ledger`` on the exported log: its replay gives every stored balance."""
        report = audit_data_folder(
            self.root / "data",
            parse_verifier_keys([self.init.log_verifier_key]),
            self.root / "auditor",
            keep_state=False,
        )
        assert report.ok, "the audit disagrees:\n" + "\n".join(report.lines())
        assert report.balances_compared == len(self.volunteers)


def _machine(root: Path, *, audit: bool = True) -> type[EconomyMachine]:
    """The machine for one test: each run gets a fresh data folder under ``root``."""

    class Run(EconomyMachine):
        def __init__(self) -> None:
            super().__init__(root, audit=audit)

    return Run


@pytest.fixture(autouse=True)
def _daily_totals_for_a_small_world(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the daily ``totals`` entries close for the machine's three volunteers.

    Published, a range stays open until it moved tokens for five people
    (``server.tlog.MIN_PUBLIC_COUNT``, tested in ``test_server_private_log``); the
    machine checks the totals themselves, so its small world closes every day.
    """
    monkeypatch.setattr(tlog, "MIN_PUBLIC_COUNT", 1)


def test_every_balance_is_explained_by_the_ledger_and_the_log(tmp_path: Path) -> None:
    run_state_machine_as_test(_machine(tmp_path), settings=SETTINGS)


# -- the machine catches a broken server ------------------------------------------------------------
# Each break below is a small, deliberate server bug; the meta-test checks that the machine reports it,
# and with which check.  The breaks reach into the storage connection: they are bugs, after all.
_ADD_ENTRY: Final = (
    "INSERT INTO ledger_entries (volunteer_id, delta, kind, ref, created_ms, log_index) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_ADD_TO_BALANCE: Final = (
    "INSERT INTO balances (volunteer_id, balance) VALUES (?, ?) "
    "ON CONFLICT (volunteer_id) DO UPDATE SET balance = balance + excluded.balance"
)
_REAL_INSERT: Final = Tx.insert_ledger_entries
_REAL_APPLY_TAPS: Final = apply_taps
_REAL_LEDGER_MOVES: Final = Tx.ledger_moves
_REAL_RANGE_MOVES: Final = Tx.range_moves


def _void_not_credited(self: Tx, entries: Iterable[LedgerEntry]) -> None:
    """A void's entry is written, but the stored balance never gets the tokens back."""
    entries = list(entries)
    self._conn.executemany(_ADD_ENTRY, entries)
    self._conn.executemany(_ADD_TO_BALANCE, ((e.volunteer_id, e.delta) for e in entries if e.kind != "void"))


def _void_rewrites_history(self: Tx, entries: Iterable[LedgerEntry]) -> None:
    """A void zeroes its redemption's entry instead of adding its own: the sums agree, history does not."""
    for entry in entries:
        if entry.kind == "void":
            self._conn.execute(
                "UPDATE ledger_entries SET delta = delta + ? WHERE kind = 'redeem' AND ref = ?",
                (entry.delta, entry.ref),
            )
        else:
            self._conn.execute(_ADD_ENTRY, entry)
        self._conn.execute(_ADD_TO_BALANCE, (entry.volunteer_id, entry.delta))


def _pay_blames_the_wrong_fact(self: Tx, entries: Iterable[LedgerEntry]) -> None:
    """Shift pay points at the log entry just before the one that caused it."""
    moved = [
        e._replace(log_index=e.log_index - 1) if e.kind == "shift" and e.log_index else e for e in entries
    ]
    _REAL_INSERT(self, moved)


def _decision_pays_without_entry(tx: Tx, site: Any, shift: Any, end_ms: int, c: Any) -> None:
    """A review or manual shift is paid into the stored balance, with no ledger entry."""
    tokens = Payroll(tx, site).pay(shift, end_ms)
    shift.decision = c.digest
    tx._conn.execute(_ADD_TO_BALANCE, (shift.volunteer_id, tokens))


def _ingest_pays_double(tx: Tx, site: Any, taps: Any, now_ms: int) -> dict[tuple[str, int], str]:
    """Ingest pays shifts at twice the site's rate: the books agree with themselves, not with the rules."""
    doubled = dataclasses.replace(site, tokens_per_hour=2 * site.tokens_per_hour)
    return _REAL_APPLY_TAPS(tx, doubled, taps, now_ms)


def _openings_overstate_pay(self: Tx, first_index: int) -> dict[int, tuple[int, int]]:
    """The openings (and so the daily totals) say each paying entry issued one token more than it did."""
    moves = _REAL_LEDGER_MOVES(self, first_index)
    return {index: (issued + (issued > 0), redeemed) for index, (issued, redeemed) in moves.items()}


def _totals_count_a_phantom_sale(self: Tx, first: int, last: int) -> tuple[int, int]:
    """The daily ``totals`` entry says one token more was redeemed than the openings of its range."""
    issued, redeemed = _REAL_RANGE_MOVES(self, first, last)
    return issued, redeemed + 1


class Break(NamedTuple):
    target: Any
    name: str
    bug: Callable[..., None]
    caught_by: str  # a pattern of the failure message: which check saw it


BREAKS: Final = {
    "void_not_credited": Break(Tx, "insert_ledger_entries", _void_not_credited, "stored balances differ"),
    "decision_pays_without_entry": Break(
        economy_decisions, "_pay", _decision_pays_without_entry, "stored balances differ"
    ),
    # An entry rewritten in a later step moves a balance with no new entry; one rewritten in the step
    # that made it no longer matches its redemption.  Either way the machine names the rewrite.
    "void_rewrites_history": Break(
        Tx,
        "insert_ledger_entries",
        _void_rewrites_history,
        r"a balance changed without a ledger entry|\(redeem \+0\): the redeem event names",
    ),
    "pay_blames_the_wrong_fact": Break(
        Tx, "insert_ledger_entries", _pay_blames_the_wrong_fact, r"entry \d+ \(shift \+\d+\): caused by"
    ),
    "ingest_pays_double": Break(ingest_store, "apply_taps", _ingest_pays_double, "the audit disagrees"),
    # The log's entries are sealed: the auditor's openings say what each moved, and must say it right.
    "openings_overstate_pay": Break(
        Tx, "ledger_moves", _openings_overstate_pay, r"log entry \d+: its opening says issued/redeemed"
    ),
    "totals_count_a_phantom_sale": Break(
        Tx, "range_moves", _totals_count_a_phantom_sale, r"totals entry \d+ says issued/redeemed"
    ),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_the_machine_catches_a_broken_server(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = BREAKS[name]
    monkeypatch.setattr(broken.target, broken.name, broken.bug)
    hunt = settings(
        SETTINGS,
        max_examples=200,  # an upper bound: the hunt stops at the first failing example
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        report_multiple_bugs=False,
        print_blob=False,
    )
    # Only the audit-only bug needs the audit; the others patch code the audit's replay shares.
    machine = _machine(tmp_path, audit=name == "ingest_pays_double")
    with pytest.raises(AssertionError, match=broken.caught_by):
        run_state_machine_as_test(machine, settings=hunt)
