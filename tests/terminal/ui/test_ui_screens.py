"""Screen builders: the right words, and colour, icon and sound that agree with the kiosk core."""

from __future__ import annotations

from datetime import UTC

from hypothesis import given
from hypothesis import strategies as st

from hardware.reader import ReaderStatus
from protocol import Reason
from terminal.tap import Outcome, TapOutcome, signal_of
from terminal.ui import screens
from terminal.ui.i18n import Translator
from terminal.ui.model import TONE_ICONS, Icon, Layout, Tone
from terminal.ui.screens import KioskInfo, KioskStatus

NOW = 1_795_939_200_000  # 2026-11-29 08:00 UTC
MINUTE = 60_000
DE = Translator("de", tz=UTC)
EN = Translator("en", tz=UTC)
INFO = KioskInfo(kiosk_id="k_" + "1" * 32, site_name="Tafel Linden", version="0.1.0")

outcomes = st.builds(
    TapOutcome,
    kind=st.sampled_from(Outcome),
    card_id=st.none() | st.just("c_" + "a" * 32),
    wall_ms=st.none() | st.integers(0, 2**42),
    shift_minutes=st.none() | st.integers(0, 24 * 60),
    tokens=st.none() | st.integers(0, 10_000),
    reason=st.none() | st.sampled_from(Reason),
    recorded_kind=st.none() | st.sampled_from(Outcome),
    abandoned_start_ms=st.none() | st.integers(0, 2**42),
    balance=st.none() | st.integers(0, 10**6),
    balance_as_of_ms=st.none() | st.integers(0, 2**42),
)


@given(outcomes, st.sampled_from([DE, EN]))
def test_colour_icon_and_sound_agree_with_the_core(outcome: TapOutcome, t: Translator) -> None:
    if outcome.kind is Outcome.COORDINATOR:
        return  # opens the menu instead of a result screen
    screen = screens.outcome_screen(t, outcome, now_ms=NOW)
    assert screen.layout is Layout.RESULT
    assert screen.signal == signal_of(outcome.kind)  # the buzzer and LEDs the core played
    assert screen.icon in TONE_ICONS[screen.tone]
    assert screen.title and all(screen.lines)


def test_check_in_names_the_time() -> None:
    outcome = TapOutcome(kind=Outcome.CHECK_IN, card_id="c_x", wall_ms=NOW + 2 * MINUTE, seq=1)
    screen = screens.outcome_screen(DE, outcome, now_ms=NOW)
    assert (screen.name, screen.tone, screen.icon) == ("check_in", Tone.OK, Icon.CHECK_IN)
    assert screen.title == "Willkommen!"
    assert screen.lines[0] == "Eingecheckt um 08:02"


def test_check_in_after_an_abandoned_shift_says_it_is_reviewed() -> None:
    outcome = TapOutcome(
        kind=Outcome.CHECK_IN, card_id="c_x", wall_ms=NOW, seq=2, abandoned_start_ms=NOW - 24 * 60 * MINUTE
    )
    lines = screens.outcome_screen(DE, outcome, now_ms=NOW).lines
    assert lines[-1] == "Die offene Schicht vom 28.11.2026 08:00 wird von der Koordination geprüft."


def test_check_out_shows_shift_tokens_and_the_balance_of_the_last_sync() -> None:
    outcome = TapOutcome(
        kind=Outcome.CHECK_OUT,
        card_id="c_x",
        wall_ms=NOW,
        seq=3,
        shift_minutes=135,
        tokens=22,
        balance=140,
        balance_as_of_ms=NOW - 30 * MINUTE,
    )
    screen = screens.outcome_screen(DE, outcome, now_ms=NOW)
    assert screen.title == "Danke! Ausgecheckt um 08:00"
    assert screen.lines == ("Schicht: 2 Std. 15 Min.", "+22 Token", "Kontostand 140 Token (Stand 07:30)")
    unknown = screens.outcome_screen(EN, TapOutcome(Outcome.CHECK_OUT, "c_x", NOW, tokens=1), now_ms=NOW)
    assert unknown.lines == ("Shift: 0 min", "+1 token", "Balance shown after the next sync")


def test_denied_reasons_in_plain_words() -> None:
    expected = {
        Reason.CARD_BLOCKED: "Karte gesperrt",
        Reason.UNKNOWN_CARD: "Karte unbekannt",
        Reason.CREDENTIAL_FORGED: "Karte unbekannt",
        Reason.UID_MISMATCH: "Karte unbekannt",
        Reason.CREDENTIAL_EXPIRED: "Karte abgelaufen",
        Reason.CREDENTIAL_NOT_YET_VALID: "Karte noch nicht gültig",
        Reason.UNKNOWN_ISSUER: "Hier nicht gültig",
        Reason.BAD_CREDENTIAL: "Karte nicht lesbar",
    }
    for reason, title in expected.items():
        screen = screens.outcome_screen(DE, TapOutcome(Outcome.DENIED, "u_x", NOW, reason=reason), now_ms=NOW)
        assert (screen.title, screen.tone, screen.icon) == (title, Tone.DENIED, Icon.CROSS), reason
        assert screen.name == f"denied_{screens.denied_group(reason)}"


def test_double_tap_and_errors() -> None:
    again = TapOutcome(Outcome.ALREADY_RECORDED, "c_x", NOW, recorded_kind=Outcome.CHECK_OUT)
    screen = screens.outcome_screen(EN, again, now_ms=NOW)
    assert (screen.tone, screen.title, screen.lines) == (
        Tone.INFO,
        "Already recorded",
        ("Your check-out is saved.",),
    )
    torn = TapOutcome(Outcome.ERROR, None, NOW, reason=Reason.TAP_INCOMPLETE)
    assert screens.outcome_screen(DE, torn, now_ms=NOW).title == "Bitte nochmal auflegen"
    crash = TapOutcome(Outcome.ERROR, None, None, message="OSError")
    assert screens.outcome_screen(DE, crash, now_ms=NOW).name == "error"
    for reason in (Reason.STORAGE_FULL, Reason.STORAGE_UNAVAILABLE):  # tapping again cannot help
        full = screens.outcome_screen(EN, TapOutcome(Outcome.ERROR, None, NOW, reason=reason), now_ms=NOW)
        assert (full.name, full.tone, full.title) == ("error_storage", Tone.ERROR, "Not saved")
        assert "coordinator" in full.lines[0]


def test_idle_status_line() -> None:
    status = KioskStatus(online=False, pending=3, last_sync_ms=NOW - 90 * MINUTE, reader=ReaderStatus.MISSING)
    screen = screens.idle_screen(DE, INFO, status, now_ms=NOW)
    assert (screen.title, screen.clock, screen.lines[0]) == ("Karte auflegen", "08:00", "Tafel Linden")
    assert screen.status is not None
    assert (screen.status.connection, screen.status.online) == ("Offline", False)
    assert screen.status.pending == "3 Einträge warten"
    assert screen.status.last_sync == "Letzter Sync 06:30"
    assert (screen.status.reader, screen.status.reader_ok) == ("Leser fehlt", False)
    alarm = KioskStatus(
        online=True, pending=0, last_sync_ms=None, reader=ReaderStatus.OK, alarm="fork_detected"
    )
    line = screens.idle_screen(EN, INFO, alarm, now_ms=NOW).status
    assert line is not None
    assert (line.connection, line.online, line.last_sync) == ("Alarm: fork_detected", False, "Never synced")


def test_menu_rows() -> None:
    status = KioskStatus(
        online=True,
        pending=0,
        last_sync_ms=NOW,
        reader=ReaderStatus.OK,
        sync_error=None,
        trust_issued_ms=None,
    )
    screen = screens.menu_screen(DE, INFO, status, now_ms=NOW)
    rows = dict(screen.rows)
    assert rows["Kiosk"] == INFO.kiosk_id
    assert rows["Software"] == "0.1.0"
    assert rows["Leser"] == "Leser bereit"
    assert rows["Letzte Übertragung"] == "in Ordnung"
    assert rows["Kartenliste vom"] == "keine – alle Karten werden abgelehnt"
    assert [a.action_id for a in screen.actions] == ["sync_now", "close"]


def test_enrolment_code_is_grouped_and_pin_is_masked() -> None:
    code = screens.enrol_code_screen(DE, server_url="https://l.example", digits="1234567890")
    assert code.entry == "1234 5678 90"
    assert "Server: https://l.example" in code.lines
    pin = screens.pin_entry_screen(DE, digits="4711")
    assert pin.entry == "••••" and "4711" not in pin.texts()


def test_a_server_that_answers_but_refuses_is_not_online() -> None:
    status = KioskStatus(
        online=True, pending=5, last_sync_ms=NOW, reader=ReaderStatus.OK, sync_error="kiosk_suspended"
    )
    line = screens.idle_screen(DE, INFO, status, now_ms=NOW).status
    assert line is not None
    assert (line.connection, line.online) == ("Sync-Fehler: kiosk_suspended", False)
