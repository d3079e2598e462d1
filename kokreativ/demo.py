"""``kokreativ demo``: one simulated day, end to end, on embedded defaults.

It runs the real parts: a ledger server process on loopback with SQLite in
a temporary folder, the coordinator's provisioning over the admin API (an
issuer key, cards carrying signed credentials), a kiosk enrolled with a fresh
key, the kiosk core with a simulated reader and clock, the sync client and
the server's own re-verification.  The server is stopped while the day is
replayed, to show that the kiosk works offline, checking credentials too.

At the end an auditor re-checks the public log with nothing but the published
verifier key, and then catches a dishonest edit of the server's database.

Where a display is available (``DISPLAY`` or ``WAYLAND_DISPLAY`` is set) the
demo then opens the kiosk's screen in a window, with the server running and a
simulated reader: keys 1, 2 and 3 tap the three volunteers' cards, any other
key an unknown card, and a long press with PIN 1234 opens the coordinator menu.
Closing the window ends the demo.  Without a display (or with ``--no-window``)
the demo stays headless.

The cards are issued exactly as ``kokreativ provision card issue`` does,
through nfcpy's real code, onto emulated NTAG215 stickers (nfcpy's ``udp``
driver; :mod:`hardware.emulator`), which end up read-only.  The kiosk then
replays the day with those tags' UIDs and NDEF bytes on a simulated reader
and clock; ``make test`` also reads such tags through nfcpy at the kiosk.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from hardware.console import ConsoleIndicator
from hardware.emulator import EmulatedType2Tag, serve_tag
from hardware.indicator import Indicator, RecordingIndicator
from hardware.nfc import write_one_tag
from hardware.reader import Tap
from hardware.simulated import SimulatedReader
from kokreativ.localserver import free_port, ledger_server
from protocol import PrivateKey
from protocol.note import NoteVerifier
from provisioning.audit.ledger import AuditOptions, audit_ledger
from provisioning.audit.sources import HttpSource, MirrorSource
from provisioning.cards import IssuedCard, issue_card
from provisioning.client import ApiClient
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig, write_config
from terminal.enrol import enrol_kiosk
from terminal.keystore import create_key, load_key
from terminal.outbox import Outbox
from terminal.pin import hash_pin
from terminal.service import open_service
from terminal.shop import CardAtTill, ShopTill, TillOutcome
from terminal.sync import SyncClient
from terminal.tap import Kiosk
from terminal.trust import TrustStore
from terminal.ui.app import KeyHandler

SITE_NAME = "Freizeitheim Linden"
SHOP_NAME = "Stadtteilladen Linden"
PRESETS = (("Kaffee", 2), ("Brötchen", 1))
TOKENS_PER_HOUR = 10
VOLUNTEERS = ("Alex Beispiel", "Bo Muster", "Chris Probe")
UNKNOWN_UID = bytes.fromhex("04deadbeef0001")
COPY_UID = bytes.fromhex("04c0ffee000001")  # a "magic" card whose UID its owner chose


@dataclass(frozen=True)
class ScriptedTap:
    """One step of the simulated day: at ``clock`` (HH:MM:SS), ``who`` taps."""

    clock: str
    who: int | None  # index into VOLUNTEERS; None is a card kokreativ does not know
    note: str = ""
    copy: bool = False  # not the volunteer's card but a copy of its credential on another tag


# 08:00-20:10 at one community centre.  Alex double-taps by accident, someone tries a copy of Bo's card,
# Chris never checks out.
DAY: tuple[ScriptedTap, ...] = (
    ScriptedTap("08:00:00", 0),
    ScriptedTap("08:00:04", 0, "accidental double tap"),
    ScriptedTap("09:15:00", 1),
    ScriptedTap("12:30:00", 0),
    ScriptedTap("13:05:00", None, "a card kokreativ never issued"),
    ScriptedTap("13:20:00", 1, "Bo's credential copied onto a magic card", copy=True),
    ScriptedTap("14:00:00", 2, "Chris will forget to check out"),
    ScriptedTap("17:45:00", 1),
    ScriptedTap("18:00:00", 0),
    ScriptedTap("20:10:00", 0),
)


def _hours(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d} h"


def _local(ms: int | None) -> str:
    if ms is None:
        return "  …  "
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%H:%M")


def run_demo(workdir: Path, out: TextIO, *, keep: bool = False, window: bool = False) -> int:
    """Run the demo in ``workdir``; return 0 when every event synced and verified.

    With ``window`` the kiosk screen opens afterwards (see the module docstring).
    """

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    server_dir = workdir / "server"
    kiosk_dir = workdir / "kiosk"
    port = free_port()

    from server.datadir import init_data_dir

    init = init_data_dir(server_dir)
    say(f"1. Ledger server data folder {server_dir}")

    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    day_start = dt.datetime.combine(day, dt.time(8, 0), tzinfo=dt.UTC)
    with ledger_server(server_dir, port) as url:
        say(f"2. Ledger server running at {url}")
        with ApiClient(url, admin_token=init.admin_token) as admin:
            site = admin.add_site(SITE_NAME, tokens_per_hour=TOKENS_PER_HOUR)
            # The issuer key stays on the coordinator's machine; the server learns its public half.
            issuer_key = create_key(workdir / "coordinator" / "issuer.key")
            key_id = admin.add_issuer_key(issuer_key.public_key.to_b64())["key_id"]
            stickers = [
                EmulatedType2Tag(bytes([0x04, i + 1, 0x10, 0x20, 0x30, 0x40, 0x50])) for i in range(3)
            ]
            cards = [
                _issue_onto(sticker, admin, issuer_key, name, int(day_start.timestamp()))
                for name, sticker in zip(VOLUNTEERS, stickers, strict=True)
            ]
            code = admin.create_enrolment_code(site["site_id"])
            _, config = enrol_kiosk(url, code["code"], kiosk_dir)  # the kiosk never sees the admin token
            shop = admin.add_shop(SHOP_NAME, presets=[{"label": label, "amount": n} for label, n in PRESETS])
            shop_code = admin.create_enrolment_code(shop["site_id"])["code"]
            _, shop_config = enrol_kiosk(url, shop_code, workdir / "shop")  # a shop code: a shop terminal
        locked = "all read-only" if all(sticker.read_only for sticker in stickers) else "NOT all locked"
        say(
            f"3. Provisioned site {SITE_NAME!r} ({TOKENS_PER_HOUR} tokens/h), issuer key {key_id}, "
            f"kiosk {config.kiosk_id};\n"
            f"   {len(cards)} cards with signed credentials written onto NTAG215 stickers "
            f"through nfcpy, {locked};\n"
            f"   shop {SHOP_NAME!r} (offline allowance {shop['shop']['offline_allowance']} tokens per card) "
            f"with its till {shop_config.kiosk_id}"
        )

    say("4. Server stopped: the network is down. Replaying a day of taps at the kiosk (times in UTC):")
    _replay_day(config, day_start, stickers, say)
    shop_clock = SimulatedClock(start_wall_ms=int(day_start.timestamp() * 1000) + 10 * 3_600_000)
    say("   At the shop, still offline (the till decides within its limits):")
    _at_till(shop_config, shop_clock, stickers, [(1, PRESETS[0][1], "Kaffee")], say)

    outbox = Outbox(config.outbox_path)
    try:
        with SyncClient(config, outbox) as client:
            offline = client.sync_once()
        say(
            f"   sync while offline: {offline.error or 'ok'}; "
            f"{outbox.pending_count()} events wait in the outbox"
        )

        with ledger_server(server_dir, port) as url:
            say(f"5. Server back at {url}; syncing")
            with SyncClient(config, outbox) as client:
                result = client.sync_once()
            say(
                f"   sent {result.sent}, acknowledged by verified receipt {result.acknowledged}, "
                f"still pending {result.pending}, error {result.error or 'none'}"
            )
            say("   At the shop, online again (the server authorises each redemption):")
            shop_clock.advance(3600)
            shop_ok = _at_till(shop_config, shop_clock, stickers, [(0, 5, "Buch"), (2, 40, "Fahrrad")], say)
            with ApiClient(url, admin_token=init.admin_token) as admin:
                power_cut_ok = _power_cut(config, outbox, stickers[1], cards[1].card_id, admin, say)
                report, review, verify = admin.report(), admin.review(), admin.verify()
                answer = admin.statement("shops", shop["site_id"])
                settlement = answer if isinstance(answer, dict) else {}
            witnessed = outbox.log_checkpoint()
            # An auditor's view: only the public log and the published verifier key, no admin token.
            audit = audit_ledger(
                HttpSource(url),
                AuditOptions(
                    verifiers=[NoteVerifier.parse(init.log_verifier_key)],
                    state_dir=workdir / "auditor",
                    workers=1,
                ),
            )
        pending = outbox.pending_count()
    finally:
        outbox.close()

    say("6. Results")
    _print_report(report, say)
    _print_review(review, {c.card_id: n for c, n in zip(cards, VOLUNTEERS, strict=True)}, say)
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
    say("7. Transparency log")
    if witnessed is not None:
        say(
            f"   the kiosk, as a witness, verified checkpoint {init.log_origin} size {witnessed.size}\n"
            f"   and the inclusion proof of each of its events"
        )
    say(
        f"   public audit with verifier key {init.log_verifier_key[:40]}…:\n"
        f"   {audit.entries} log entries, Merkle root matches the signed checkpoint,\n"
        f"   {audit.signatures_checked} event signatures, {audit.kiosks} kiosk chain(s), "
        f"{audit.balances_compared} balances replayed and matched: {'OK' if audit.ok else 'FAILED'}"
    )
    for problem in audit.problems.shown[:10]:
        say(f"     {problem}")
    tampered = _tamper_and_audit(server_dir, cards[2].volunteer_id, init.log_verifier_key, workdir, say)
    ok = (
        verify["ok"]
        and shop_ok
        and power_cut_ok
        and settlement.get("to_settle") == 7  # Bo's coffee offline (2) and Alex's book online (5)
        and pending == 0
        and result.error is None
        and audit.ok
        and witnessed is not None
        and tampered
    )
    say(f"\nDemo {'succeeded' if ok else 'FAILED'}." + (f" Files are in {workdir}" if keep else ""))
    if window and ok:
        _open_window(config, stickers, server_dir, port, say)
    return 0 if ok else 1


DEMO_PIN = "1234"


def demo_keys(reader: Callable[[], SimulatedReader | None], stickers: list[EmulatedType2Tag]) -> KeyHandler:
    """Keys 1–3 tap the volunteers' stickers, any other character an unknown card."""

    def on_key(char: str) -> bool:
        target = reader()
        if target is None or not char.isprintable():
            return False
        if char in "123" and len(char) == 1:
            sticker = stickers[int(char) - 1]
            return target.present_card(sticker.uid, sticker.ndef_message)
        return target.present_card(UNKNOWN_UID, None)

    return on_key


def display_available() -> bool:
    """Whether a window can be shown: an X11 or Wayland display is set."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_window(
    config: KioskConfig, stickers: list[EmulatedType2Tag], server_dir: Path, port: int, say: Any
) -> None:
    """The kiosk screen with the server up and a simulated reader, until the window is closed."""
    from terminal.ui.app import kivy_post, prepare_kivy, run_app  # Kivy only when a window opens
    from terminal.ui.controller import ScreenController

    write_config(config.data_dir / "kiosk.toml", replace(config, coordinator_pin=hash_pin(DEMO_PIN)))
    say(
        "9. The kiosk screen: keys 1, 2, 3 tap Alex's, Bo's and Chris's cards, other keys an unknown card;\n"
        f"   hold the screen 3 s and enter PIN {DEMO_PIN} for the coordinator menu. Close the window to end."
    )
    prepare_kivy(fullscreen=False)
    with ledger_server(server_dir, port):
        controller = ScreenController(
            config_path=config.data_dir / "kiosk.toml",
            post=kivy_post,
            open_runtime=partial(
                open_service, stdin=io.StringIO(), stdout=io.StringIO(), reader="sim", indicator="console"
            ),
        )

        def current_reader() -> SimulatedReader | None:
            service = controller.service
            return (
                service.reader
                if service is not None and isinstance(service.reader, SimulatedReader)
                else None
            )

        run_app(controller, on_key=demo_keys(current_reader, stickers), title="kokreativ demo kiosk")


def _tamper_and_audit(
    server_dir: Path, volunteer_id: str, verifier_key: str, workdir: Path, say: Any
) -> bool:
    """Play a dishonest operator who pays Chris 50 tokens in the database; True if the audit catches it."""
    conn = sqlite3.connect(server_dir / "ledger.db")
    try:
        with conn:
            conn.execute(
                "INSERT INTO ledger_entries (volunteer_id, delta, kind, ref, created_ms) "
                "VALUES (?, 50, 'shift', ?, 0)",
                (volunteer_id, 10**9),
            )
            # A careful forger keeps the stored balance in step with the entries.
            conn.execute(
                "INSERT INTO balances (volunteer_id, balance) VALUES (?, 50) "
                "ON CONFLICT (volunteer_id) DO UPDATE SET balance = balance + 50",
                (volunteer_id,),
            )
    finally:
        conn.close()
    from server.logexport import export_tiles  # the server's side: it publishes its tiles as files

    # The server publishes what its database now says; the auditor reads only that (here exported
    # to a mirror of the log's tiles, as `kokreativ server export-log` does, instead of over HTTP).
    mirror = export_tiles(server_dir, workdir / "log-mirror")
    source = MirrorSource(Path(mirror.folder))
    try:
        audit = audit_ledger(
            source,
            AuditOptions(
                verifiers=[NoteVerifier.parse(verifier_key)], state_dir=workdir / "auditor", workers=1
            ),
        )
    finally:
        source.close()
    say(
        "8. A dishonest operator pays Chris 50 tokens straight into the database; auditing the published log:"
    )
    for problem in audit.problems.shown[:3]:
        say(f"     {problem}")
    say(f"   {'caught' if not audit.ok else 'NOT caught'}")
    return not audit.ok


def _tap_kiosk(config: KioskConfig, outbox: Outbox, clock: SimulatedClock, indicator: Indicator) -> Kiosk:
    """The kiosk's tap logic on the demo's clock, as its service would build it."""
    return Kiosk(
        config=config,
        key=load_key(config.key_path),
        outbox=outbox,
        clock=clock,
        indicator=indicator,
        trust=TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id),
    )


def _power_cut(
    config: KioskConfig, outbox: Outbox, sticker: EmulatedType2Tag, card_id: str, admin: ApiClient, say: Any
) -> bool:
    """Bo works an hour at the kiosk after a power cut left its clock at 1970; True if paid at real time.

    The kiosk has no battery clock and here no NTP either: both taps carry 1970 and
    ``synced: false``.  The sync's signed clock sample lets the server date them by its
    own clock (a ``clock_ref`` in the log), so the shift pays, at the right time.
    """
    clock = SimulatedClock(5_000, synced=False, boot_id="00000000-0000-4000-8000-000000000002")
    kiosk = _tap_kiosk(config, outbox, clock, RecordingIndicator())
    say("   Power cut at the kiosk: it boots with its clock at 1970 and no NTP. Bo works an hour:")
    tap = Tap(uid=sticker.uid, ndef=sticker.ndef_message)
    for hours in (0, 1):
        clock.advance(hours * 3600)
        at = dt.datetime.fromtimestamp(clock.wall_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
        say(f"     kiosk clock {at}  Bo  {kiosk.handle_tap(tap).kind}")
    # The network is back at once: the sync's sample shares the check-out's monotonic reading.
    with SyncClient(config, outbox, clock=clock) as client:
        synced = client.sync_once()
    shift = admin.request("GET", f"/v1/cards/{card_id}/shifts")["shifts"][-1]
    say(
        f"     synced ({synced.error or 'ok'}): the server dated the shift {_local(shift['start_ms'])}–"
        f"{_local(shift['end_ms'])} by its own clock, {_hours(shift['minutes'])}, "
        f"{shift['tokens']} tokens, {shift['status']}"
    )
    return synced.ok and (shift["status"], shift["minutes"]) == ("paid", 60)


def _issue_onto(
    sticker: EmulatedType2Tag, admin: ApiClient, issuer_key: PrivateKey, name: str, now_s: int
) -> IssuedCard:
    """Issue a card for ``name`` onto ``sticker`` through nfcpy, as ``provision card issue`` does."""
    with serve_tag(sticker) as emulation:
        return issue_card(
            admin,
            issuer_key,
            lambda make: write_one_tag(emulation.path, make, lock=True, timeout_s=10),
            name=name,
            now_s=now_s,
        )


def _replay_day(config: KioskConfig, start: dt.datetime, stickers: list[EmulatedType2Tag], say: Any) -> None:
    clock = SimulatedClock(start_wall_ms=int(start.timestamp() * 1000))
    reader = SimulatedReader()
    lights = io.StringIO()
    outbox = Outbox(config.outbox_path)
    try:
        kiosk = _tap_kiosk(config, outbox, clock, ConsoleIndicator(lights))
        elapsed = 0.0
        for step in DAY:
            h, m, s = (int(part) for part in step.clock.split(":"))
            target = h * 3600 + m * 60 + s - 8 * 3600
            clock.advance(target - elapsed)
            elapsed = target
            if step.who is None:
                reader.present_card(UNKNOWN_UID, None)
                name = "(unknown)"
            else:
                sticker = stickers[step.who]
                reader.present_card(COPY_UID if step.copy else sticker.uid, sticker.ndef_message)
                name = VOLUNTEERS[step.who].split()[0] + (" (copy)" if step.copy else "")
            tap = reader.wait_for_tap(timeout=1.0)
            assert isinstance(tap, Tap)
            lights.seek(0)
            lights.truncate()
            outcome = kiosk.handle_tap(tap)
            detail = f"seq {outcome.seq}" if outcome.seq is not None else "nothing recorded"
            if outcome.shift_minutes is not None:
                detail += f", shift {_hours(outcome.shift_minutes)} ≈ {outcome.tokens} tokens"
            if outcome.reason:
                detail += f", reason {outcome.reason}"
            note = f"  ({step.note})" if step.note else ""
            say(
                f"   {step.clock[:5]}  {name:<11} {outcome.kind:<17} light {lights.getvalue().split()[0]:<7}"
                f" {detail}{note}"
            )
    finally:
        outbox.close()
        reader.close()


def _at_till(
    config: KioskConfig,
    clock: SimulatedClock,
    stickers: list[EmulatedType2Tag],
    sales: list[tuple[int, int, str]],
    say: Any,
) -> bool:
    """Ring up ``sales`` (volunteer, tokens, item) at the shop till; True if each ended as expected.

    The online attempt is made only when the server is up: the till's own sync
    client finds out, exactly as at a real till.  Nobody can overdraw online.
    """
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox, connect_timeout_s=1.0) as sync:
        till = ShopTill(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=sync.trust,
            sync=sync,
        )
        sync.sync_once()  # what the till's background sync does: it learns whether the server is up
        ok = True
        for who, amount, item in sales:
            clock.advance(120)
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


def _print_report(report: list[dict[str, Any]], say: Any) -> None:
    for volunteer in report:
        say(
            f"   {volunteer['name']:<14} balance {volunteer['balance']:>3} tokens, "
            f"{_hours(int(volunteer['minutes']))} paid"
        )
        for shift in volunteer["shifts"]:
            if shift["status"] == "open":
                say(f"       {_local(shift['start_ms'])}–  …    open, never checked out")
                continue
            reason = f" ({shift['reason']})" if shift.get("reason") else ""
            say(
                f"       {_local(shift['start_ms'])}–{_local(shift.get('end_ms'))}  "
                f"{shift['status']:<6} {_hours(int(shift['minutes'] or 0))}  "
                f"{shift['tokens'] or 0} tokens{reason}"
            )


def _print_review(review: list[dict[str, Any]], names: dict[str, str], say: Any) -> None:
    say(f"   Waiting for a coordinator's review: {len(review)}")
    for item in review:
        who = names.get(item["card_id"], item["card_id"])
        if item.get("item") == "overdraft":
            say(f"     {who}: overdraft, {item['amount']} tokens at a shop, balance {item['balance']}")
        else:
            say(f"     {who}: {item['reason']}, from {_local(item['start_ms'])} (UTC)")


def _run(args: argparse.Namespace) -> int:
    window = display_available() and not args.no_window
    if args.dir:
        workdir = Path(args.dir)
        workdir.mkdir(parents=True, exist_ok=False)
        return run_demo(workdir, sys.stdout, keep=True, window=window)
    with tempfile.TemporaryDirectory(prefix="kokreativ-demo-") as tmp:
        return run_demo(Path(tmp), sys.stdout, window=window)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "example:\n  kokreativ demo\n  kokreativ demo --dir /tmp/kk-demo   # keep the files"
    parser.add_argument("--dir", help="keep everything in this new folder instead of a temporary one")
    parser.add_argument("--no-window", action="store_true", help="stay headless even where a display is")
    parser.set_defaults(func=_run)
