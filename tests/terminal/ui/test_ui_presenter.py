"""The screen's state machine, driven by hand with a fake clock: no Kivy, no threads."""

from __future__ import annotations

import pytest

from hardware.reader import ReaderStatus
from protocol import Reason
from terminal.tap import Outcome, TapOutcome
from terminal.ui.model import Layout, Tone
from terminal.ui.presenter import EnrolResult, Mode
from terminal.ui.screens import KioskStatus
from tests.terminal.ui.ui_helpers import INFO, NOW, Harness


def test_a_tap_result_returns_to_idle() -> None:
    h = Harness()
    assert h.screen.name == "idle"
    h.presenter.show_outcome(TapOutcome(Outcome.CHECK_IN, "c_x", NOW, seq=1))
    assert (h.screen.name, h.presenter.mode) == ("check_in", Mode.RESULT)
    h.wait(3.9)
    assert h.screen.name == "check_in"
    h.wait(0.2)
    assert h.screen.name == "idle"


def test_denied_stays_longer_and_the_next_tap_replaces_it() -> None:
    h = Harness()
    h.presenter.show_outcome(TapOutcome(Outcome.DENIED, "u_x", NOW, seq=1, reason=Reason.CARD_BLOCKED))
    h.wait(5)
    assert h.screen.name == "denied_blocked"
    h.presenter.show_outcome(TapOutcome(Outcome.CHECK_IN, "c_y", NOW, seq=2))
    assert h.screen.name == "check_in"


def test_status_updates_redraw_idle_only_when_they_change() -> None:
    h = Harness()
    status = KioskStatus(online=True, pending=2, last_sync_ms=NOW, reader=ReaderStatus.OK)
    h.presenter.update_status(status)
    h.presenter.update_status(status)
    assert [s.name for s in h.shown] == ["idle", "idle"]
    assert h.screen.status is not None and h.screen.status.pending == "2 Einträge warten"
    h.wait(61)  # the clock's minute changed
    assert len(h.shown) == 3 and h.screen.clock == "08:01"


def test_enrolment_then_pin() -> None:
    h = Harness(info=None)
    assert (h.screen.name, h.screen.layout) == ("enrol_code", Layout.KEYPAD)
    h.type("12345")
    h.presenter.press_action("submit")
    assert h.screen.error == "Der Code hat 20 Ziffern."
    assert h.actions.calls == []
    h.type("678901234567890129999")  # the 21st digit and later are ignored
    assert h.screen.entry == "1234 5678 9012 3456 7890"
    h.presenter.press_key("back")
    h.presenter.press_key("2")
    h.presenter.press_action("submit")
    assert h.screen.name == "enrol_busy" and h.screen.busy
    assert h.actions.calls == [("enrol", "12345678901234567892")]
    h.presenter.show_outcome(TapOutcome(Outcome.CHECK_IN, "c_x", NOW))  # no kiosk yet: ignored
    assert h.screen.name == "enrol_busy"

    h.presenter.enrol_finished(EnrolResult(INFO))
    assert h.screen.name == "enrol_done" and "Standort: Tafel Linden" in h.screen.lines
    h.presenter.press_action("continue")
    assert h.screen.name == "pin_set"
    h.type("47")
    h.presenter.press_action("ok")
    assert h.screen.error == "Die PIN hat mindestens 4 Ziffern."
    h.type("11")
    h.presenter.press_action("ok")
    assert h.screen.name == "pin_confirm" and h.screen.entry == ""
    h.type("4712")
    h.presenter.press_action("ok")
    assert (h.screen.name, h.screen.error) == (
        "pin_set",
        "Die beiden PINs sind verschieden. Bitte neu eingeben.",
    )
    h.type("4711")
    h.presenter.press_action("ok")
    h.type("4711")
    h.presenter.press_action("ok")
    assert h.screen.busy and h.actions.calls[-1] == ("save_pin", "4711")
    h.presenter.pin_saved(True)
    assert (h.screen.name, h.screen.tone) == ("pin_saved", Tone.OK)
    assert h.presenter.pin_set
    h.wait(5)
    assert h.screen.name == "idle"


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("enrolment_code_used", "Der Code ist ungültig, abgelaufen oder schon benutzt."),
        ("server_unreachable", "Der Server ist nicht erreichbar. Netzwerk prüfen und nochmal versuchen."),
        ("rate_limited", "Zu viele falsche Codes. Eine Viertelstunde warten, dann nochmal versuchen."),
        ("kiosk_revoked", "Fehler: kiosk_revoked"),
    ],
)
def test_a_failed_enrolment_goes_back_to_the_keypad(reason: str, text: str) -> None:
    h = Harness(info=None)
    h.type("12345678901234567890")
    h.presenter.press_action("submit")
    h.presenter.enrol_finished(EnrolResult(None, reason))
    assert (h.screen.name, h.screen.error, h.screen.entry) == ("enrol_code", text, "1234 5678 9012 3456 7890")
    assert h.actions.calls[-1] == ("signal", "error")


def test_skipping_the_pin_leaves_the_menu_to_coordinator_cards() -> None:
    h = Harness(info=None)
    h.type("12345678901234567890")
    h.presenter.press_action("submit")
    h.presenter.enrol_finished(EnrolResult(INFO))
    h.presenter.press_action("continue")
    h.presenter.press_action("skip")
    assert h.screen.name == "idle"
    h.presenter.long_press()
    assert h.screen.name == "pin_none"
    h.wait(5)
    h.presenter.show_outcome(TapOutcome(Outcome.COORDINATOR, "c_boss", NOW))
    assert h.screen.name == "menu"


def test_long_press_pin_opens_the_menu_and_inactivity_closes_it() -> None:
    h = Harness(pin_set=True)
    h.presenter.long_press()
    assert h.screen.name == "pin_entry"
    h.type("4711")
    assert h.screen.entry == "••••"
    h.presenter.press_action("ok")
    assert h.screen.busy and h.actions.calls[-1] == ("check_pin", "4711")
    h.presenter.pin_checked(True)
    assert h.screen.name == "menu"
    h.presenter.press_action("sync_now")
    assert h.actions.calls[-1] == ("sync_now", None)
    assert h.screen.lines == ("Sync läuft …",)
    h.wait(59)
    assert h.screen.name == "menu"
    h.presenter.press_action("close")
    assert h.screen.name == "idle"
    h.presenter.show_outcome(TapOutcome(Outcome.COORDINATOR, "c_boss", NOW))
    h.wait(61)
    assert h.screen.name == "idle"


def test_five_wrong_pins_lock_the_keypad() -> None:
    h = Harness(pin_set=True)
    h.presenter.long_press()
    for attempt in range(5):
        h.type("0000")
        h.presenter.press_action("ok")
        h.presenter.pin_checked(False)
        assert h.actions.calls[-1] == ("signal", "denied")
        if attempt < 4:
            assert h.screen.error == "Falsche PIN"
    assert h.screen.error == "Zu viele Versuche. Bitte in 5 Min. nochmal."
    checks = sum(1 for name, _ in h.actions.calls if name == "check_pin")
    h.type("4711")
    h.presenter.press_action("ok")
    assert sum(1 for name, _ in h.actions.calls if name == "check_pin") == checks  # not even checked
    h.wait(301)  # idle again, and the lock has run out
    h.presenter.long_press()
    assert h.screen.error == ""
    h.type("4711")
    h.presenter.press_action("ok")
    assert h.actions.calls[-1] == ("check_pin", "4711")


def test_touches_that_do_not_belong_to_the_screen_are_ignored() -> None:
    h = Harness()
    h.presenter.press_key("5")
    h.presenter.press_action("submit")
    h.presenter.pin_checked(True)
    h.presenter.enrol_finished(EnrolResult(INFO))
    assert [s.name for s in h.shown] == ["idle"]
    assert h.actions.calls == []


def test_every_tap_is_shown_even_when_it_reads_like_the_last() -> None:
    h = Harness()
    for card in ("c_a", "c_b"):
        h.presenter.show_outcome(TapOutcome(Outcome.CHECK_IN, card, NOW, seq=1))
    assert [s.name for s in h.shown] == ["idle", "check_in", "check_in"]
