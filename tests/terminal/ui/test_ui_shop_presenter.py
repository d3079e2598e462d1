"""The till's state machine, driven by hand with a fake clock: no Kivy, no threads, no till."""

from __future__ import annotations

import dataclasses

import pytest

from hardware.reader import ReaderStatus
from protocol.trust import Preset
from terminal.shop import CardRefused, TillOutcome, VoidResult
from terminal.ui.base_presenter import Mode
from terminal.ui.model import Icon, Layout, Tone
from terminal.ui.screens import KioskStatus
from terminal.ui.shop_presenter import RECENT_LIMIT, ShopMode
from tests.terminal.ui.shop_helpers import CARD, LIMITS, REFUSED, STALE_CARD, ShopHarness, redeemed, sale
from tests.terminal.ui.ui_helpers import NOW

# -- the amount ------------------------------------------------------------------------------------


def test_the_till_starts_on_the_amount_keypad_with_presets_and_status() -> None:
    h = ShopHarness()
    s = h.screen
    assert (s.name, s.layout, s.tone, s.icon) == ("shop-idle", Layout.KEYPAD, Tone.NEUTRAL, Icon.COIN)
    assert s.title == "Betrag eingeben"
    assert s.lines == ("Token tippen oder ein Angebot wählen (höchstens 50 Token)",)
    assert [(c.action_id, c.label) for c in s.choices] == [
        ("preset:0", "Kaffee\n2 Token"),
        ("preset:1", "Kuchen\n3 Token"),
        ("preset:2", "Mittagessen\n6 Token"),
    ]
    assert [a.action_id for a in s.actions] == ["ok"]
    assert s.status is not None and s.long_press and s.accepts_long_press
    h.presenter.update_status(KioskStatus(online=False, pending=2, last_sync_ms=NOW, reader=ReaderStatus.OK))
    assert h.screen.status is not None
    assert (h.screen.status.connection, h.screen.status.pending) == ("Offline", "2 Einträge warten")


def test_typing_an_amount() -> None:
    h = ShopHarness()
    h.type("0")  # a leading zero is no amount
    assert h.screen.entry == ""
    h.type("123456")  # four digits at most
    assert h.screen.entry == "1234 Token"
    h.presenter.press_key("back")
    h.presenter.press_key("back")
    assert h.screen.entry == "12 Token"
    h.presenter.press_key("clear")
    assert h.screen.entry == ""
    h.type("1")
    assert h.screen.entry == "1 Token"


@pytest.mark.parametrize(
    ("typed", "error"),
    [("", "Bitte erst einen Betrag eingeben."), ("51", "Höchstens 50 Token pro Einkauf.")],
)
def test_no_amount_or_one_over_the_limit_is_refused_on_screen(typed: str, error: str) -> None:
    h = ShopHarness()
    h.type(typed)
    h.presenter.press_action("ok")
    assert (h.screen.name, h.screen.error) == ("shop-idle", error)
    assert h.presenter.mode is Mode.IDLE and h.actions.calls == []
    h.presenter.press_key("back")  # correcting the amount clears the complaint
    assert h.screen.error == ""


def test_the_limit_itself_is_accepted() -> None:
    h = ShopHarness()
    h.type("50")
    h.presenter.press_action("ok")
    assert (h.screen.name, h.screen.title) == ("shop-card", "Karte auflegen — 50 Token")


def test_a_preset_sets_the_amount_and_asks_for_the_card() -> None:
    h = ShopHarness()
    h.type("9")  # a preset replaces whatever was typed
    h.presenter.press_action("preset:1")
    assert h.presenter.amount == 3
    s = h.screen
    assert (s.name, s.layout, s.icon) == ("shop-card", Layout.RESULT, Icon.CARD)
    assert s.title == "Karte auflegen — 3 Token"
    assert s.lines == ("Kuchen", "Zum Bezahlen die Karte an das Lesefeld halten.")
    assert [a.action_id for a in s.actions] == ["cancel"]


def test_unknown_presets_do_nothing_and_new_limits_show_at_once() -> None:
    h = ShopHarness()
    for bad in ("preset:3", "preset:x", "preset:"):
        h.presenter.press_action(bad)
    assert [s.name for s in h.shown] == ["shop-idle"]
    h.presenter.update_limits(dataclasses.replace(LIMITS, max_amount=2, presets=(Preset("Tee", 1),)))
    assert [c.label for c in h.screen.choices] == ["Tee\n1 Token"]
    h.presenter.update_limits(dataclasses.replace(LIMITS, max_amount=2))  # presets back, Kuchen over the max
    h.presenter.press_action("preset:1")
    assert (h.screen.name, h.screen.error) == ("shop-idle", "Höchstens 2 Token pro Einkauf.")


def test_a_card_before_an_amount_only_shows_a_hint() -> None:
    h = ShopHarness()
    h.type("4")
    h.presenter.card_presented(CARD)
    assert (h.screen.name, h.screen.error, h.screen.entry) == ("shop-idle", "Erst Betrag eingeben", "4 Token")
    h.presenter.card_presented(CardRefused("tap_incomplete"))  # a card that left too soon: the same hint
    assert h.screen.error == "Erst Betrag eingeben"
    h.wait(3.1)
    assert (h.screen.error, h.screen.entry) == ("", "4 Token")
    assert h.actions.calls == []


def test_a_refused_card_is_red_even_before_an_amount_as_the_buzzer_says() -> None:
    h = ShopHarness()
    h.presenter.card_presented(REFUSED)
    assert (h.screen.name, h.screen.tone) == ("shop-denied-blocked", Tone.DENIED)
    h.wait(6.1)
    assert h.screen.name == "shop-idle"


# -- the card --------------------------------------------------------------------------------------


def test_waiting_for_the_card_can_be_cancelled_and_times_out() -> None:
    h = ShopHarness()
    h.type("5")
    h.presenter.press_action("ok")
    h.presenter.press_action("cancel")
    assert (h.screen.name, h.screen.entry) == ("shop-idle", "")
    h.type("5")
    h.presenter.press_action("ok")
    h.wait(59)
    assert h.screen.name == "shop-card"
    h.wait(2)
    assert h.screen.name == "shop-idle" and h.presenter.amount is None


def test_a_refused_card_gets_the_red_denied_screen_in_plain_words() -> None:
    h = ShopHarness()
    h.type("5")
    h.presenter.press_action("ok")
    h.presenter.card_presented(CardRefused(reason="credential_expired"))
    s = h.screen
    assert (s.name, s.tone, s.icon, s.title) == (
        "shop-denied-expired",
        Tone.DENIED,
        Icon.CROSS,
        "Karte abgelaufen",
    )
    assert s.lines == ("Bitte wende dich an die Koordination.",)
    assert h.actions.calls == []  # the till played "denied" when it refused the card
    h.wait(5.9)
    assert h.screen.name == "shop-denied-expired"
    h.wait(0.2)
    assert h.screen.name == "shop-idle"


def test_a_card_that_left_too_soon_asks_for_it_again_and_the_sale_waits() -> None:
    h = ShopHarness()
    h.presenter.press_action("preset:0")
    h.wait(50)
    h.presenter.card_presented(CardRefused("tap_incomplete"))
    s = h.screen
    assert (s.name, s.tone, s.icon, s.title) == (
        "shop-card-again",
        Tone.ERROR,
        Icon.WARNING,
        "Bitte nochmal auflegen — 2 Token",
    )
    assert s.lines == ("Kaffee", "Karte ruhig halten, bis der Ton kommt.")
    h.wait(50)  # the wait for the card started again
    h.presenter.card_presented(CARD)
    assert (h.screen.name, h.screen.title) == ("shop-confirm", "2 Token bezahlen?")


def test_a_till_that_failed_to_read_the_card_shows_the_amber_error() -> None:
    h = ShopHarness()
    h.presenter.press_action("preset:0")
    h.presenter.card_presented(CardRefused("OperationalError"))  # an exception's name, not a reason code
    assert (h.screen.name, h.screen.tone) == ("shop-error", Tone.ERROR)


def test_the_confirmation_shows_the_balance_and_the_amount() -> None:
    h = ShopHarness()
    h.sell("5")
    s = h.screen
    assert (s.name, s.layout, s.tone, s.icon) == ("shop-confirm", Layout.RESULT, Tone.NEUTRAL, Icon.COIN)
    assert (s.title, s.lines) == ("5 Token bezahlen?", ("Guthaben: 12 Token",))
    assert [(a.action_id, a.primary) for a in s.actions] == [("pay", True), ("cancel", False)]


def test_an_offline_balance_says_when_it_was_confirmed_and_what_offline_allows() -> None:
    h = ShopHarness()
    h.sell("5", STALE_CARD)
    assert h.screen.lines == ("Guthaben: 12 Token (Stand 06:00)", "Offline sind höchstens 3 Token möglich.")
    unknown = dataclasses.replace(STALE_CARD, balance=None, balance_as_of_ms=None, offline_headroom=10)
    h.presenter.press_action("cancel")
    h.sell("5", unknown)
    assert h.screen.lines == ("Guthaben noch unbekannt",)


def test_the_confirmation_can_be_cancelled_and_times_out() -> None:
    h = ShopHarness()
    h.sell()
    h.presenter.press_action("cancel")
    assert h.screen.name == "shop-idle" and h.presenter.card is None
    h.sell()
    h.wait(29)
    assert h.screen.name == "shop-confirm"
    h.wait(2)
    assert h.screen.name == "shop-idle"
    assert h.actions.named("redeem") == []


def test_another_card_during_the_confirmation_changes_nothing() -> None:
    h = ShopHarness()
    h.sell("5", CARD)
    h.presenter.card_presented(STALE_CARD)
    h.presenter.card_presented(REFUSED)
    h.presenter.coordinator_card()
    assert h.screen.name == "shop-confirm" and h.presenter.card == CARD


# -- paying ----------------------------------------------------------------------------------------


def test_paying_is_one_press_and_waits_for_the_result_however_long() -> None:
    h = ShopHarness()
    h.sell("5")
    h.presenter.press_action("pay")
    s = h.screen
    assert (s.name, s.busy, s.title) == ("shop-paying", True, "Einen Moment …")
    assert h.presenter.mode is ShopMode.REDEEMING
    # A second press, a cancel, another card, a long press, a coordinator card: nothing.
    h.presenter.press_action("pay")
    h.presenter.press_action("cancel")
    h.presenter.card_presented(CARD)
    h.presenter.long_press()
    h.presenter.coordinator_card()
    h.type("7")
    h.wait(600)  # no timeout while the till works
    assert h.screen.name == "shop-paying"
    assert h.actions.named("redeem") == [(CARD.card_id, 5)]

    h.presenter.redeem_finished(redeemed(TillOutcome.PAID, 5, balance=7))
    s = h.screen
    assert (s.name, s.tone, s.icon) == ("shop-paid", Tone.OK, Icon.CHECK)
    assert (s.title, s.lines) == ("Bezahlt: 5 Token", ("Neues Guthaben: 7 Token",))
    assert h.actions.named("signal") == []  # the till played its pattern with its answer
    h.presenter.redeem_finished(redeemed(TillOutcome.PAID, 5))  # a stray second answer: ignored
    assert len([x for x in h.shown if x.name == "shop-paid"]) == 1
    h.wait(4.1)
    assert (h.screen.name, h.screen.entry) == ("shop-idle", "")


@pytest.mark.parametrize(
    ("result", "name", "tone", "title", "lines"),
    [
        (
            redeemed(TillOutcome.PAID_OFFLINE, 5, balance=7),
            "shop-paid-offline",
            Tone.OK,
            "Bezahlt: 5 Token",
            ("Offline angenommen", "Neues Guthaben: etwa 7 Token"),
        ),
        (
            redeemed(TillOutcome.PAID, 5, balance=None, as_of_ms=None),
            "shop-paid",
            Tone.OK,
            "Bezahlt: 5 Token",
            ("Neues Guthaben nach dem nächsten Sync",),
        ),
        (
            redeemed(TillOutcome.DECLINED, 15, reason="insufficient_balance", balance=12),
            "shop-declined-insufficient-balance",
            Tone.DENIED,
            "Guthaben reicht nicht (12 Token)",
            ("Es wurde nichts abgebucht.",),
        ),
        (
            redeemed(TillOutcome.DECLINED, 60, reason="amount_over_limit"),
            "shop-declined-amount-over-limit",
            Tone.DENIED,
            "Betrag über dem Limit",
            ("Höchstens 50 Token pro Einkauf.",),
        ),
        (
            redeemed(TillOutcome.DECLINED, 5, reason="card_blocked"),
            "shop-declined-card-blocked",
            Tone.DENIED,
            "Karte gesperrt",
            ("Es wurde nichts abgebucht.",),
        ),
        (
            redeemed(TillOutcome.DENIED, 5, reason="unknown_card"),
            "shop-declined-unknown-card",
            Tone.DENIED,
            "Karte unbekannt",
            ("Es wurde nichts abgebucht.",),
        ),
        (
            redeemed(TillOutcome.DECLINED, 5, reason="something_new"),
            "shop-declined-something-new",
            Tone.DENIED,
            "Abgelehnt: something_new",
            ("Es wurde nichts abgebucht.",),
        ),
        (
            redeemed(TillOutcome.OFFLINE_LIMIT, 5, reason="offline_limit"),
            "shop-offline-limit",
            Tone.DENIED,
            "Offline nicht möglich: Limit erreicht",
            ("Es wurde nichts abgebucht. Kleinerer Betrag, oder später nochmal.",),
        ),
        (
            redeemed(TillOutcome.ERROR, 5, reason="internal_error"),
            "shop-error",
            Tone.ERROR,
            "Das hat nicht geklappt",
            ("Bitte nochmal versuchen. Hilft das nicht: Koordination rufen.",),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.startswith("shop-") else "",
)
def test_every_outcome_in_plain_words_with_colour_and_sound_that_agree(
    result: object, name: str, tone: Tone, title: str, lines: tuple[str, ...]
) -> None:
    h = ShopHarness()
    h.sell("5")
    h.presenter.press_action("pay")
    h.presenter.redeem_finished(result)  # type: ignore[arg-type]
    s = h.screen
    assert (s.name, s.tone, s.title, s.lines) == (name, tone, title, lines)
    assert h.actions.named("signal") == []
    h.wait(4.1)
    assert (h.screen.name == "shop-idle") == (tone is Tone.OK)  # problems stay longer
    h.wait(2)
    assert h.screen.name == "shop-idle"


def test_a_card_on_a_result_goes_back_to_the_till_with_the_hint() -> None:
    h = ShopHarness()
    h.sell()
    h.presenter.press_action("pay")
    h.presenter.redeem_finished(redeemed(TillOutcome.PAID))
    h.presenter.card_presented(CARD)
    assert (h.screen.name, h.screen.error) == ("shop-idle", "Erst Betrag eingeben")


def test_results_that_belong_to_no_question_are_ignored() -> None:
    h = ShopHarness()
    h.presenter.redeem_finished(redeemed(TillOutcome.PAID))
    h.presenter.recent_loaded([sale(1)])
    h.presenter.void_finished(VoidResult(ok=True, queued=False, reason=None))
    h.presenter.pin_checked(True)
    for bad in ("pay", "void", "recent", "older", "void:r_1"):
        h.presenter.press_action(bad)
    assert [s.name for s in h.shown] == ["shop-idle"] and h.actions.calls == []


# -- behind the PIN --------------------------------------------------------------------------------


def test_the_long_press_pin_opens_the_shop_menu() -> None:
    h = ShopHarness()
    h.type("12")
    h.presenter.long_press()
    assert h.screen.name == "pin_entry"
    h.type("4711")
    h.presenter.press_action("ok")
    assert h.actions.calls[-1] == ("check_pin", "4711")
    h.presenter.pin_checked(True)
    s = h.screen
    assert (s.name, s.layout) == ("shop-menu", Layout.MENU)
    assert dict(s.rows)["Höchstbetrag"] == "50 Token"
    assert [a.action_id for a in s.actions] == ["recent", "sync_now", "close"]
    h.presenter.press_action("sync_now")
    assert h.screen.lines == ("Sync läuft …",) and h.actions.calls[-1] == ("sync_now", None)
    h.presenter.press_action("close")
    assert (h.screen.name, h.screen.entry) == ("shop-idle", "")


def test_without_a_pin_the_long_press_says_so_and_wrong_pins_lock_the_keypad() -> None:
    h = ShopHarness(pin_set=False)
    h.presenter.long_press()
    assert h.screen.name == "pin_none"
    h.wait(5)
    h.presenter.pin_set = True
    h.presenter.long_press()
    for _ in range(5):
        h.type("0000")
        h.presenter.press_action("ok")
        h.presenter.pin_checked(False)
    assert h.screen.error == "Zu viele Versuche. Bitte in 5 Min. nochmal."
    h.presenter.coordinator_card()  # a coordinator card still opens the menu
    assert h.screen.name == "shop-menu"


@pytest.mark.parametrize("mode", ["idle", "card", "result"])
def test_a_coordinator_card_opens_the_menu_and_drops_the_sale(mode: str) -> None:
    h = ShopHarness()
    if mode == "card":
        h.type("5")
        h.presenter.press_action("ok")
    elif mode == "result":
        h.sell()
        h.presenter.press_action("pay")
        h.presenter.redeem_finished(redeemed(TillOutcome.PAID))
    h.presenter.coordinator_card()
    assert h.screen.name == "shop-menu" and h.presenter.amount is None
    h.wait(61)  # the menu closes itself
    assert h.screen.name == "shop-idle"


def test_recent_sales_with_void_on_the_voidable_ones() -> None:
    h = ShopHarness()
    h.open_menu()
    h.presenter.press_action("recent")
    assert (h.screen.name, h.screen.busy) == ("shop-recent", True)
    assert h.actions.calls[-1] == ("load_recent", RECENT_LIMIT)
    h.presenter.press_action("older")  # nothing to page through while loading
    h.presenter.recent_loaded([sale(1), sale(5, amount=2, state="paid_offline"), sale(30, voidable=False)])
    s = h.screen
    assert (s.layout, s.busy, s.lines) == (Layout.MENU, False, ())
    assert s.rows == (
        ("07:59 · 5 Token", "bezahlt"),
        ("07:55 · 2 Token", "offline bezahlt"),
        ("07:30 · 5 Token", "bezahlt"),
    )
    assert [a and (a.action_id, a.label) for a in s.row_actions] == [
        (f"void:{sale(1).redemption_id}", "Stornieren"),
        (f"void:{sale(5).redemption_id}", "Stornieren"),
        None,
    ]
    assert [a.action_id for a in s.actions] == ["back"]
    h.presenter.press_action(f"void:{sale(30).redemption_id}")  # not voidable: no button, no effect
    assert h.screen.name == "shop-recent"
    h.presenter.press_action("back")
    assert h.screen.name == "shop-menu"


def test_a_list_that_cannot_be_read_is_an_error_not_an_empty_list() -> None:
    h = ShopHarness()
    h.open_menu()
    h.presenter.press_action("recent")
    h.presenter.recent_failed()
    assert (h.screen.name, h.screen.tone) == ("shop-error", Tone.ERROR)
    assert h.actions.calls[-1] == ("signal", "error")  # no till answer played it: the screen does


def test_an_empty_list_and_unknown_states() -> None:
    h = ShopHarness()
    h.open_menu()
    h.presenter.press_action("recent")
    h.presenter.recent_loaded([])
    assert (h.screen.rows, h.screen.lines) == ((), ("Noch keine Buchungen an diesem Terminal.",))
    h.presenter.press_action("back")
    h.presenter.press_action("recent")
    h.presenter.recent_loaded([sale(1, state="brand_new", voidable=False)])
    assert h.screen.rows == (("07:59 · 5 Token", "brand_new"),) and h.screen.row_actions == ()


def test_the_list_pages_five_sales_at_a_time() -> None:
    h = ShopHarness()
    h.open_menu()
    h.presenter.press_action("recent")
    h.presenter.recent_loaded([sale(n) for n in range(1, 12)])
    assert len(h.screen.rows) == 5 and [a.action_id for a in h.screen.actions] == ["older", "back"]
    h.presenter.press_action("older")
    assert h.screen.rows[0][0].startswith("07:54")
    assert [a.action_id for a in h.screen.actions] == ["newer", "older", "back"]
    h.presenter.press_action("older")
    h.presenter.press_action("older")  # the last page stays the last
    assert len(h.screen.rows) == 1 and [a.action_id for a in h.screen.actions] == ["newer", "back"]
    h.presenter.press_action("newer")
    assert h.screen.rows[0][0].startswith("07:54")


def _to_void_confirmation(h: ShopHarness) -> None:
    h.open_menu()
    h.presenter.press_action("recent")
    h.presenter.recent_loaded([sale(1), sale(2)])
    h.presenter.press_action(f"void:{sale(2).redemption_id}")


def test_voiding_asks_first_and_then_voids_once() -> None:
    h = ShopHarness()
    _to_void_confirmation(h)
    s = h.screen
    assert (s.name, s.layout, s.tone, s.icon, s.title) == (
        "shop-void",
        Layout.RESULT,
        Tone.NEUTRAL,
        Icon.UNDO,
        "Buchung stornieren?",
    )
    assert s.lines == ("5 Token von 07:58", "Das Guthaben wird der Karte zurückgebucht.")
    h.presenter.press_action("back")
    assert h.screen.name == "shop-recent"
    h.presenter.press_action(f"void:{sale(2).redemption_id}")
    h.presenter.press_action("void")
    h.presenter.press_action("void")
    h.presenter.press_action("back")
    h.wait(600)
    assert (h.screen.name, h.screen.busy) == ("shop-void", True)
    assert h.actions.named("void") == [sale(2).redemption_id]

    h.presenter.void_finished(VoidResult(ok=True, queued=False, reason=None))
    s = h.screen
    assert (s.name, s.tone, s.icon, s.title, s.lines) == (
        "shop-voided",
        Tone.OK,
        Icon.CHECK,
        "Storniert",
        ("5 Token zurückgebucht",),
    )
    assert h.actions.named("signal") == []
    h.presenter.press_action("recent")  # back to the list, fresh
    assert h.actions.calls[-1] == ("load_recent", RECENT_LIMIT)


@pytest.mark.parametrize(
    ("result", "name", "tone", "lines"),
    [
        (
            VoidResult(ok=False, queued=True, reason=None),
            "shop-void-queued",
            Tone.OK,
            ("Storno wird gesendet, sobald online.",),
        ),
        (
            VoidResult(ok=False, queued=False, reason="void_too_late"),
            "shop-void-refused",
            Tone.DENIED,
            ("Zu spät: Stornieren geht nur 15 Min. lang.",),
        ),
        (
            VoidResult(ok=False, queued=False, reason="already_voided"),
            "shop-void-refused",
            Tone.DENIED,
            ("Schon storniert.",),
        ),
        (
            VoidResult(ok=False, queued=False, reason="bad_field"),
            "shop-void-refused",
            Tone.DENIED,
            ("Abgelehnt: bad_field",),
        ),
        (
            VoidResult(ok=False, queued=False, reason="OperationalError"),  # the till broke: its type
            "shop-void-error",
            Tone.ERROR,
            ("Fehler: OperationalError",),
        ),
    ],
)
def test_void_results(result: VoidResult, name: str, tone: Tone, lines: tuple[str, ...]) -> None:
    h = ShopHarness()
    _to_void_confirmation(h)
    h.presenter.press_action("void")
    h.presenter.void_finished(result)
    assert (h.screen.name, h.screen.tone, h.screen.lines) == (name, tone, lines)
    assert h.actions.named("signal") == []
    h.wait(6.1)
    assert h.screen.name == "shop-idle"


def test_the_list_and_the_void_confirmation_close_after_a_minute() -> None:
    h = ShopHarness()
    _to_void_confirmation(h)
    h.wait(59)
    assert h.screen.name == "shop-void"
    h.presenter.press_action("back")  # a touch starts the minute again
    h.wait(59)
    assert h.screen.name == "shop-recent"
    h.wait(2)
    assert h.screen.name == "shop-idle"


def test_english() -> None:
    h = ShopHarness(language="en")
    assert (h.screen.title, h.screen.choices[0].label) == ("Enter amount", "Kaffee\n2 tokens")
    h.sell("1")
    assert (h.screen.title, h.screen.lines) == ("Pay 1 token?", ("Balance: 12 tokens",))
    h.presenter.press_action("pay")
    h.presenter.redeem_finished(redeemed(TillOutcome.DECLINED, 1, reason="insufficient_balance", balance=0))
    assert h.screen.title == "Not enough tokens (0 tokens)"
