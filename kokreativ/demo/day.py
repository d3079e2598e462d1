"""The demo's day, act by act: each act is one function, and :func:`run_demo` runs them in order.

1–3. a server data folder, then the coordinator provisions a site, cards, a kiosk and a shop;
4.   the server is down: the kiosk replays the day and the till sells offline;
5.   the server is back: the kiosk syncs, the till sells online, a power cut costs nobody an hour;
6–7. the results, a public audit of the log and the designated auditor's;
8.   a forger edits the database, and the audit catches it;
9.   where a display is, the kiosk's screen in a window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kokreativ.demo import history as past
from kokreativ.demo.audit import designated_audit, public_audit, tamper_and_audit
from kokreativ.demo.kiosk import power_cut, replay_day
from kokreativ.demo.ledger import StoryClock, ledger_server
from kokreativ.demo.provision import Provisioned, provision
from kokreativ.demo.results import print_report, print_review
from kokreativ.demo.script import (
    BACK_ONLINE,
    OPENS,
    POWER_CUT,
    PRESETS,
    REVIEW,
    SHOP_NAME,
    SHOP_OFFLINE,
    SHOP_ONLINE,
    VOLUNTEERS,
    StoryDay,
    wind_to,
)
from kokreativ.demo.till import at_till
from kokreativ.demo.window import open_window
from kokreativ.localserver import free_port
from protocol.localtime import ZONE_NAME
from provisioning.audit.report import AuditReport
from provisioning.client import ApiClient
from terminal.clock import SimulatedClock
from terminal.outbox import Outbox
from terminal.outbox.checkpoints import LogCheckpoint
from terminal.sync import SyncClient, SyncResult


@dataclass(frozen=True)
class BackOnline:
    """What act 5 gathered while the server was up again."""

    sync: SyncResult  # the kiosk's sync once the server was back
    shop_ok: bool
    power_cut_ok: bool
    report: list[dict[str, Any]]
    review: list[dict[str, Any]]
    verify: dict[str, Any]  # the server's re-verification
    settlement: dict[str, Any]  # the shop's statement
    witnessed: LogCheckpoint | None  # the checkpoint the kiosk verified as a witness
    audit: AuditReport  # the public audit over HTTP
    audit_office: AuditReport  # the designated auditor's, with openings and balances
    pending: int  # events still in the kiosk's outbox

    @property
    def ok(self) -> bool:
        """Every event synced and verified, every sale and the power-cut shift as expected."""
        return bool(
            self.verify["ok"]
            and self.shop_ok
            and self.power_cut_ok
            and self.settlement.get("to_settle") == 7  # Bo's coffee offline (2) and Alex's book online (5)
            and self.pending == 0
            and self.sync.error is None
            and self.audit.ok
            and self.audit_office.ok
            and self.witnessed is not None
        )


@dataclass(frozen=True)
class Clocks:
    """The story's clocks: the server's, the check-in kiosk's and the shop till's."""

    server: StoryClock
    kiosk: SimulatedClock
    till: SimulatedClock


@dataclass(frozen=True)
class DayOutcome:
    """The day told: whether it all checked out, and what ``demo --serve`` carries on with."""

    ok: bool
    setup: Provisioned
    day: StoryDay
    server_dir: Path
    port: int
    clock: StoryClock  # where the story left the server's clock: the next morning


def run_demo(workdir: Path, out: TextIO, *, keep: bool = False, window: bool = False) -> int:
    """Run the demo in ``workdir``; return 0 when every event synced and verified.

    The story is of a day two days ago (UTC): the server lives through it on a
    :class:`StoryClock`, the kiosk and the till on simulated clocks, all moved
    forward act by act (:mod:`kokreativ.demo.ledger` says why).  With ``window``
    the kiosk screen opens afterwards (see the package docstring).
    """
    outcome = play_day(workdir, out)
    print(
        f"\nDemo {'succeeded' if outcome.ok else 'FAILED'}." + (f" Files are in {workdir}" if keep else ""),
        file=out,
        flush=True,
    )
    if window and outcome.ok:
        setup = outcome.setup

        def say(text: str = "") -> None:
            print(text, file=out, flush=True)

        open_window(setup.config, setup.stickers, outcome.server_dir, outcome.port, outcome.clock, say)
    return 0 if outcome.ok else 1


def play_day(workdir: Path, out: TextIO, *, history: bool = False) -> DayOutcome:
    """Acts 1–8 in ``workdir``, told on ``out``; the server is stopped when it returns.

    With ``history`` (``demo --serve``) the server first lives through six
    months of other sites and shops (:mod:`kokreativ.demo.history`), so the
    public page has closed months to show; the story's day follows unchanged.
    """

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    server_dir = workdir / "server"
    port = free_port()
    day = StoryDay.before(dt.datetime.now(dt.UTC).date())
    clock = StoryClock(past.start_ms(day) if history else day.ms(OPENS))

    from server.datadir import init_data_dir

    init = init_data_dir(server_dir, now_ms=clock.now_ms)
    say(f"1. Ledger server data folder {server_dir}")
    if history:
        lived = past.live_history(workdir, server_dir, port, init.admin_token, clock, day)
        say(
            f"   Its past, {_month_name(lived.months[0])} to {_month_name(lived.months[-1])}: "
            f"{len(past.SITES)} other sites and {len(past.SHOPS)} shops, {lived.volunteers} volunteers,\n"
            f"   {lived.shifts} shifts and {lived.redemptions} redemptions, booked month by month "
            f"(for the public page)"
        )
        clock.move_to(day.ms(OPENS))

    setup = provision(workdir, server_dir, port, init.admin_token, clock, say)
    kiosk_clock = SimulatedClock(start_wall_ms=clock.now_ms())  # switched on when it was enrolled
    shop_clock = _offline(setup, day, kiosk_clock, say)
    clocks = Clocks(clock, kiosk_clock, shop_clock)
    online = _back_online(setup, day, clocks, server_dir, port, init.log_verifier_key, workdir, say)
    _print_results(setup, online, day.next_day(), say)
    _print_log(online, init.log_origin, init.log_verifier_key, say)
    tampered = tamper_and_audit(
        server_dir, setup.cards[2].volunteer_id, init.log_verifier_key, workdir, say, at_ms=clock.now_ms()
    )
    return DayOutcome(online.ok and tampered, setup, day, server_dir, port, clock)


def _month_name(month: str) -> str:
    """``2026-06`` reads ``June 2026``."""
    return dt.date(int(month[:4]), int(month[5:]), 1).strftime("%B %Y")


def _offline(setup: Provisioned, day: StoryDay, kiosk_clock: SimulatedClock, say: Any) -> SimulatedClock:
    """Act 4: with the server down, the kiosk records the day and the till sells Bo a coffee.

    Returns the till's clock, which act 5 carries on.
    """
    say(
        "4. Server stopped: the network is down. "
        f"Replaying a day of taps at the kiosk (times in {ZONE_NAME}):"
    )
    replay_day(setup.config, day, kiosk_clock, setup.stickers, say)
    shop_clock = SimulatedClock(start_wall_ms=day.ms(SHOP_OFFLINE))
    say(f"   {SHOP_OFFLINE} At the shop, still offline (the till decides within its limits):")
    at_till(setup.shop_config, shop_clock, setup.stickers, [(1, PRESETS[0][1], "Kaffee")], say)
    return shop_clock


def _back_online(
    setup: Provisioned,
    day: StoryDay,
    clocks: Clocks,
    server_dir: Path,
    port: int,
    verifier_key: str,
    workdir: Path,
    say: Any,
) -> BackOnline:
    """Act 5: a sync that fails offline, then the server is back: sync, sales, a power cut, the audit."""
    config = setup.config
    outbox = Outbox(config.outbox_path)
    try:
        with SyncClient(config, outbox, clock=clocks.kiosk) as client:
            offline = client.sync_once()
        say(
            f"   sync while offline: {offline.error or 'ok'}; "
            f"{outbox.pending_count()} events wait in the outbox"
        )

        clocks.server.move_to(day.ms(BACK_ONLINE))
        wind_to(clocks.kiosk, day.ms(BACK_ONLINE))
        with ledger_server(server_dir, port, clocks.server) as url:
            say(f"5. {BACK_ONLINE} Server back at {url}; syncing")
            with SyncClient(config, outbox, clock=clocks.kiosk) as client:
                result = client.sync_once()
            say(
                f"   sent {result.sent}, acknowledged by verified receipt {result.acknowledged}, "
                f"still pending {result.pending}, error {result.error or 'none'}"
            )
            clocks.server.move_to(day.ms(SHOP_ONLINE))
            wind_to(clocks.till, day.ms(SHOP_ONLINE))
            say(f"   {SHOP_ONLINE} At the shop, online again (the server authorises each redemption):")
            sales = [(0, 5, "Buch"), (2, 40, "Fahrrad")]
            shop_ok = at_till(
                setup.shop_config, clocks.till, setup.stickers, sales, say, server_clock=clocks.server
            )
            clocks.server.move_to(day.ms(POWER_CUT))
            with ApiClient(url, admin_token=setup.admin_token) as admin:
                power_cut_ok = power_cut(
                    config, outbox, setup.stickers[1], setup.cards[1].card_id, admin, clocks.server, say
                )
                # The next morning the coordinator reads the results: by now Chris's shift, open since
                # 14:00, is longer than any shift may be, so it waits for review as a missing check-out.
                clocks.server.move_to(day.next_day().ms(REVIEW))
                report, review, verify = admin.report(), admin.review(), admin.verify()
                answer = admin.statement("shops", setup.shop["site_id"])
                settlement = answer if isinstance(answer, dict) else {}
            witnessed = outbox.log_checkpoint()
            audit = public_audit(url, verifier_key, workdir)
            audit_office = designated_audit(url, setup.admin_token, verifier_key, workdir)
        pending = outbox.pending_count()
    finally:
        outbox.close()
    return BackOnline(
        result,
        shop_ok,
        power_cut_ok,
        report,
        review,
        verify,
        settlement,
        witnessed,
        audit,
        audit_office,
        pending,
    )


def _print_results(setup: Provisioned, online: BackOnline, morning: StoryDay, say: Any) -> None:
    """Act 6: balances and shifts, the review queue, the shop's settlement, the server's re-verification."""
    say(f"6. Results, as the coordinator reads them the next morning ({morning.date.isoformat()}, {REVIEW})")
    ours = {card.volunteer_id for card in setup.cards}  # not the volunteers of the past (demo --serve)
    print_report([row for row in online.report if row["volunteer_id"] in ours], say)
    print_review(online.review, {c.card_id: n for c, n in zip(setup.cards, VOLUNTEERS, strict=True)}, say)
    settlement, verify = online.settlement, online.verify
    say(
        f"   Shop settlement for {SHOP_NAME!r}: {settlement['count']} redemptions, "
        f"{settlement['redeemed']} tokens redeemed, {settlement['voided']} voided, "
        f"{settlement['to_settle']} to settle"
    )
    say(
        f"   Re-verification on the server: {verify['events']} events from {verify['kiosks']} kiosk(s), "
        f"signatures and hash chain {'OK' if verify['ok'] else 'FAILED'}"
    )
    for problem in verify.get("problems", []):
        say(f"     problem: {problem}")


def _print_log(online: BackOnline, log_origin: str, verifier_key: str, say: Any) -> None:
    """Act 7: what the kiosk witnessed of the transparency log, the public audit and the auditor's."""
    say("7. Transparency log")
    if online.witnessed is not None:
        say(
            f"   the kiosk, as a witness, verified checkpoint {log_origin} size {online.witnessed.size}\n"
            f"   and the inclusion proof of each of its events"
        )
    audit = online.audit
    # A public entry names no card, kind, time or amount: a stranger learns the economy's totals only
    # from the daily ``totals`` entries, the first appended on the day after the story's day.
    covered = audit.totals_covered or 0
    summed = (
        f"{audit.issued} tokens issued and {audit.redeemed} redeemed by the totals entries "
        f"(entries 0..{covered - 1})"
        if covered
        else "no totals entry yet (the day's comes with the next day's first entry)"
    )
    say(
        f"   public audit with verifier key {verifier_key[:40]}…:\n"
        f"   {audit.entries} log entries, Merkle root matches the signed checkpoint,\n"
        f"   {audit.signatures_checked} sealed event signatures, {audit.kiosks} kiosk chain(s), "
        f"{audit.card_commitments} card commitment(s),\n"
        f"   {summed}: {'OK' if audit.ok else 'FAILED'}"
    )
    for problem in audit.problems.shown[:10]:
        say(f"     {problem}")
    office = online.audit_office
    compared = "compared" if office.totals_compared is not None else "NOT compared"
    say(
        f"   designated auditor (openings and balances through its audit_log token):\n"
        f"   {office.opened} commitment(s) opened, {office.events} events replayed, "
        f"{office.issued} tokens issued and {office.redeemed} redeemed, as the public totals say "
        f"({compared}),\n"
        f"   {office.balances_compared} balance(s) as the server's: {'OK' if office.ok else 'FAILED'}"
    )
    for problem in office.problems.shown[:10]:
        say(f"     {problem}")
