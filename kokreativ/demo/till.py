"""The demo's shop till: sales offline within its limits, and online, authorised by the server."""

from __future__ import annotations

from typing import Any

from hardware.emulator import EmulatedType2Tag
from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from kokreativ.demo.ledger import StoryClock
from kokreativ.demo.script import VOLUNTEERS
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.shop import CardAtTill, ShopTill, TillOutcome
from terminal.sync import SyncClient


def at_till(
    config: KioskConfig,
    clock: SimulatedClock,
    stickers: list[EmulatedType2Tag],
    sales: list[tuple[int, int, str]],
    say: Any,
    *,
    server_clock: StoryClock | None = None,
) -> bool:
    """Ring up ``sales`` (volunteer, tokens, item) at the shop till; True if each ended as expected.

    The online attempt is made only when the server is up: the till's own sync
    client finds out, exactly as at a real till.  Nobody can overdraw online.
    Two minutes pass before each sale, on ``server_clock`` too when the server is up.
    """
    with (
        Outbox(config.outbox_path) as outbox,
        SyncClient(config, outbox, connect_timeout_s=1.0, clock=clock) as sync,
    ):
        till = ShopTill(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=sync.trust,
            sync=sync,
            # Its signed balance queries carry the story's time, which the server's clock shares.
            now_ms=lambda: clock.now().wall_ms,
        )
        sync.sync_once()  # what the till's background sync does: it learns whether the server is up
        ok = True
        for who, amount, item in sales:
            clock.advance(120)
            if server_clock is not None:
                server_clock.advance(120)
            seen = till.present(Tap(uid=stickers[who].uid, ndef=stickers[who].ndef_message))
            name = VOLUNTEERS[who].split()[0]
            if not isinstance(seen, CardAtTill):
                say(f"     {name:<6} card refused: {seen.reason}")
                ok = False
                continue
            shown = "unknown here" if seen.balance is None else f"{seen.balance} tokens"
            result = till.redeem(seen, amount)
            after = "" if result.balance is None else f", new balance {result.balance}"
            why = f" ({result.reason})" if result.reason else ""
            sale = f"{item} for {amount:>3} tokens (balance {shown})"
            say(f"     {name:<6} {sale}: {result.outcome}{why}{after}")
            # Each sale here fits the offline allowance, or is more than the volunteer has.
            covered = seen.balance is None or seen.balance >= amount
            expected = {TillOutcome.PAID, TillOutcome.PAID_OFFLINE} if covered else {TillOutcome.DECLINED}
            ok = ok and result.outcome in expected
        if sync.sync_once().ok:
            say(f"     the till synced: {outbox.pending_count()} entries still waiting")
        return ok
