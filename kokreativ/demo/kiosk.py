"""The demo's kiosk: the day replayed offline, and an hour worked after a power cut (acts 4 and 5)."""

from __future__ import annotations

import io
from typing import Any

from hardware.console import ConsoleIndicator
from hardware.emulator import EmulatedType2Tag
from hardware.indicator import Indicator, RecordingIndicator
from hardware.reader import Tap
from hardware.simulated import SimulatedReader
from kokreativ.demo.ledger import StoryClock
from kokreativ.demo.script import (
    COPY_UID,
    DAY,
    UNKNOWN_UID,
    VOLUNTEERS,
    StoryDay,
    format_hours,
    format_time,
    wind_to,
)
from protocol import localtime
from provisioning.client import ApiClient
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk
from terminal.trust import TrustStore


def tap_kiosk(config: KioskConfig, outbox: Outbox, clock: SimulatedClock, indicator: Indicator) -> Kiosk:
    """The kiosk's tap logic on the demo's clock, as its service would build it."""
    return Kiosk(
        config=config,
        key=load_key(config.key_path),
        outbox=outbox,
        clock=clock,
        indicator=indicator,
        trust=TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id),
    )


def power_cut(
    config: KioskConfig,
    outbox: Outbox,
    sticker: EmulatedType2Tag,
    card_id: str,
    admin: ApiClient,
    server_clock: StoryClock,
    say: Any,
) -> bool:
    """Bo works an hour at the kiosk after a power cut left its clock at 1970; True if paid at real time.

    The kiosk has no battery clock and here no NTP either: both taps carry 1970 and
    ``synced: false``.  The sync's signed clock sample lets the server date them by its
    own clock (a ``clock_ref`` in the log), so the shift pays, at the right time.  The
    server's clock lives through the same hour.
    """
    clock = SimulatedClock(5_000, synced=False, boot_id="00000000-0000-4000-8000-000000000002")
    kiosk = tap_kiosk(config, outbox, clock, RecordingIndicator())
    say(
        f"   {format_time(server_clock.now_ms())} Power cut at the kiosk: it boots with its clock at 1970 "
        "and no NTP. Bo works an hour:"
    )
    tap = Tap(uid=sticker.uid, ndef=sticker.ndef_message)
    for hours in (0, 1):
        clock.advance(hours * 3600)
        server_clock.advance(hours * 3600)
        at = f"{localtime.local(clock.wall_ms):%Y-%m-%d %H:%M}"  # the epoch is 01:00 in Berlin
        say(f"     kiosk clock {at}  Bo  {kiosk.handle_tap(tap).kind}")
    # The network is back at once: the sync's sample shares the check-out's monotonic reading.
    with SyncClient(config, outbox, clock=clock) as client:
        synced = client.sync_once()
    shift = admin.request("GET", f"/v1/cards/{card_id}/shifts")["shifts"][-1]
    say(
        f"     synced ({synced.error or 'ok'}): the server dated the shift {format_time(shift['start_ms'])}–"
        f"{format_time(shift['end_ms'])} by its own clock, {format_hours(shift['minutes'])}, "
        f"{shift['tokens']} tokens, {shift['status']}"
    )
    return synced.ok and (shift["status"], shift["minutes"]) == ("paid", 60)


def replay_day(
    config: KioskConfig, day: StoryDay, clock: SimulatedClock, stickers: list[EmulatedType2Tag], say: Any
) -> None:
    """Act 4: the kiosk records :data:`DAY` offline on a simulated reader, its ``clock`` run on tap by tap."""
    reader = SimulatedReader()
    lights = io.StringIO()
    outbox = Outbox(config.outbox_path)
    try:
        kiosk = tap_kiosk(config, outbox, clock, ConsoleIndicator(lights))
        for step in DAY:
            wind_to(clock, day.ms(step.clock))
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
                detail += f", shift {format_hours(outcome.shift_minutes)} ≈ {outcome.tokens} tokens"
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
