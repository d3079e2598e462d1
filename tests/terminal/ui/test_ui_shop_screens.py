"""The till's screens, rendered offscreen: texts that fit, colours by tone, presets and void buttons to touch.

Screens come from the real shop presenter (driven by hand, with a fake clock)
and are drawn by the real view.  Every screen is written as a PNG into the
test's temporary folder; with ``KOKREATIV_SCREENSHOTS=DIR`` (``make
screenshots``) the German ``shop-*`` set is copied there too, for the docs.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.reader import ReaderStatus
from protocol import Reason
from protocol.trust import Preset
from terminal.shop import CardRefused, TillOutcome, VoidResult
from terminal.shop import signal_of as till_signal  # the till's own table: outcome → pattern
from terminal.ui import base_presenter, screens, shop_presenter, shop_screens
from terminal.ui.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, load_catalogue
from terminal.ui.model import TONE_ICONS, Layout, Tone
from terminal.ui.palette import PALETTES
from terminal.ui.screens import KioskStatus
from terminal.ui.view import ScreenView
from terminal.ui.widgets import FlatButton
from tests.terminal.ui.conftest import (
    LARGEST,
    SMALL,
    IgnoreInput,
    ScreenCheck,
    assert_fits,
    pixel,
)
from tests.terminal.ui.shop_helpers import CARD, LIMITS, MINUTE, STALE_CARD, ShopHarness, redeemed, sale
from tests.terminal.ui.ui_helpers import NOW

DOCS_UI = Path(__file__).resolve().parents[3] / "docs" / "img" / "ui"
DE = Translator("de", tz=UTC)
EN = Translator("en", tz=UTC)
SHORT_PRESS_S = 0.05
STATUS = KioskStatus(online=True, pending=0, last_sync_ms=NOW - 2 * MINUTE, reader=ReaderStatus.OK)
SALES = [
    sale(2),
    sale(6, amount=2, state="paid_offline"),
    sale(9, amount=3, state="void_pending", voidable=False),
    sale(40, amount=6, voidable=False),
    sale(55, amount=2, state="declined", voidable=False),
]
ALL_SHOP_SCREENS = {
    "shop-idle",
    "shop-card",
    "shop-card-again",
    "shop-denied-blocked",
    "shop-confirm",
    "shop-paying",
    "shop-paid",
    "shop-paid-offline",
    "shop-declined-insufficient-balance",
    "shop-offline-limit",
    "shop-error",
    "shop-menu",
    "shop-recent",
    "shop-void",
    "shop-voided",
    "shop-void-queued",
    "shop-void-refused",
    "shop-staff-pin",
    "shop-manager-only",
}


class _Forward:
    """Sends the view's touches to a presenter made after the view, as the app's input does."""

    def __init__(self) -> None:
        self.target: Any = IgnoreInput()

    def press_key(self, key: str) -> None:
        self.target.press_key(key)

    def press_action(self, action_id: str) -> None:
        self.target.press_action(action_id)

    def long_press(self) -> None:
        self.target.long_press()


def _steps(h: ShopHarness) -> Iterator[Callable[[], None]]:
    """Drive the till through its screens, one step per screen."""
    p = h.presenter
    yield lambda: p.update_status(STATUS)
    yield partial(p.press_action, "preset:0")
    yield partial(p.card_presented, CardRefused(reason="tap_incomplete"))
    yield partial(p.card_presented, CardRefused(reason="card_blocked"))

    def confirm() -> None:
        h.wait(10)
        h.sell("5", STALE_CARD)

    yield confirm
    yield partial(p.press_action, "pay")
    for result in (
        redeemed(TillOutcome.PAID, 5, balance=7),
        redeemed(TillOutcome.PAID_OFFLINE, 5, balance=7),
        redeemed(TillOutcome.DECLINED, 15, reason="insufficient_balance", balance=12),
        redeemed(TillOutcome.OFFLINE_LIMIT, 5, reason="offline_limit"),
        redeemed(TillOutcome.ERROR, 5, reason="internal_error"),
    ):

        def outcome(result: Any = result) -> None:
            if p.mode is not shop_presenter.ShopMode.REDEEMING:
                h.wait(10)
                h.sell("5", STALE_CARD)
                p.press_action("pay")
            p.redeem_finished(result)

        yield outcome

    def menu() -> None:
        h.wait(10)
        h.open_menu()

    yield menu

    def recent() -> None:
        p.press_action("recent")
        p.recent_loaded(SALES)

    yield recent
    yield partial(p.press_action, f"void:{SALES[0].redemption_id}")
    for result in (
        VoidResult(ok=True, queued=False, reason=None),
        VoidResult(ok=False, queued=True, reason=None),
        VoidResult(ok=False, queued=False, reason="void_too_late"),
    ):

        def voided(result: VoidResult = result) -> None:
            if p.mode is not shop_presenter.ShopMode.VOID_CONFIRM:
                p.press_action("recent")
                p.recent_loaded(SALES)
                p.press_action(f"void:{SALES[0].redemption_id}")
            p.press_action("void")
            p.void_finished(result)

        yield voided

    def staff_pin() -> None:  # a shop with till staff: the PIN pad before the sale
        h.wait(10)
        p.update_staff(True)
        h.type("5")
        p.press_action("ok")

    yield staff_pin

    def manager_only() -> None:  # a cashier's session keeps them out of the void menu
        h.wait(60)
        p.staff_role = "cashier"
        p.press_action("ok")  # at rest again, signed in as a cashier
        h.open_menu()
        p.press_action("recent")

    yield manager_only


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_screen_of_the_till_renders_in_every_language_and_fits_small_and_large(
    language: str, render: Any, frames: Any, resize: Any, screenshot: Any, tmp_path: Path
) -> None:
    view = ScreenView(screen_input=IgnoreInput())
    view.set_language(language)
    render(view)
    check = ScreenCheck(
        view,
        language=language,
        resize=resize,
        frames=frames,
        screenshot=screenshot,
        folder=tmp_path,
        docs_prefix="shop-",
    )

    h = ShopHarness(language=language, on_change=view.show)
    frames(2)
    check(h.screen)
    for step in _steps(h):
        step()
        frames(2)
        assert view.screen == h.screen
        check(h.screen)
    assert {name for name in check.seen if name.startswith("shop-")} == ALL_SHOP_SCREENS
    assert {s.layout for s in check.seen.values()} == {Layout.KEYPAD, Layout.RESULT, Layout.MENU}


def test_the_docs_keep_the_german_screenshots_of_the_till() -> None:
    missing = sorted(name for name in ALL_SHOP_SCREENS if not (DOCS_UI / f"{name}.de.png").is_file())
    assert missing == [], "run 'make screenshots' and commit docs/img/ui"


@pytest.fixture
def shop_view(render: Any, frames: Any) -> Callable[..., tuple[ScreenView, ShopHarness]]:
    def make(**options: Any) -> tuple[ScreenView, ShopHarness]:
        forward = _Forward()
        view = ScreenView(screen_input=forward, long_press_s=SHORT_PRESS_S)
        render(view)
        h = ShopHarness(on_change=view.show, **options)
        forward.target = h.presenter
        frames(3)
        return view, h

    return make


def test_preset_buttons_are_touchable_and_set_the_amount(
    shop_view: Any, tap: Any, frames: Any, frames_until: Any
) -> None:
    view, h = shop_view()
    for digit in "42":
        tap(view.key_button(digit))
    assert view.screen.entry == "42 Token"
    tap(view.choice_button("preset:2"))
    frames_until(lambda: view.screen.name == "shop-card")
    assert h.presenter.amount == 6
    assert view.rendered_texts()[0] == "Karte auflegen — 6 Token"
    tap(view.action_button("cancel"))
    frames_until(lambda: view.screen.name == "shop-idle")
    for digit in "17":
        tap(view.key_button(digit))
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-card")
    assert h.presenter.amount == 17


def test_pay_is_touchable_once(shop_view: Any, tap: Any, frames: Any) -> None:
    view, h = shop_view()
    h.sell("5")
    frames(3)
    pay = view.action_button("pay")
    tap(pay)
    assert view.screen.name == "shop-paying" and view.screen.busy
    tap(pay)  # the same spot again: the button is disabled now
    tap(view.action_button("cancel"))
    assert h.actions.named("redeem") == [(CARD.card_id, 5)]


def test_void_buttons_sit_on_their_rows_and_reach_the_presenter(
    shop_view: Any, tap: Any, frames: Any
) -> None:
    view, h = shop_view()
    h.open_menu()
    frames(3)
    tap(view.action_button("recent"))
    h.presenter.recent_loaded(SALES)
    frames(3)
    assert view.rendered_texts() == view.screen.texts()
    buttons = [w for w in view.walk() if isinstance(w, FlatButton) and w.role == "row_action"]
    assert [b.value for b in buttons] == [f"void:{SALES[0].redemption_id}", f"void:{SALES[1].redemption_id}"]
    with pytest.raises(KeyError):
        view.row_button(f"void:{SALES[2].redemption_id}")  # not voidable: no button
    tap(view.row_button(f"void:{SALES[1].redemption_id}"))
    assert view.screen.name == "shop-void" and "2 Token von 07:54" in view.screen.lines


@pytest.mark.parametrize("size", [SMALL, LARGEST], ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_dozen_presets_and_the_void_list_keep_touch_targets_large(
    shop_view: Any, resize: Any, frames: Any, size: tuple[int, int]
) -> None:
    presets = tuple(Preset(f"Angebot Nr. {n}", n) for n in range(1, 13))
    view, h = shop_view(limits=dataclasses.replace(LIMITS, presets=presets))
    resize(size)
    minimum = max(48.0, size[1] / 8)

    def check() -> None:
        frames(3)
        buttons = [w for w in view.walk() if isinstance(w, FlatButton) and w.opacity > 0]
        assert buttons
        for button in buttons:
            assert button.height >= minimum - 0.5, (
                f"{button.value}: {button.height:.0f} px < {minimum:.0f} px"
            )
            assert button.width >= minimum - 0.5, button.value
            assert button.x >= 0 and button.right <= size[0] + 0.5, button.value
            assert button.y >= 0 and button.top <= size[1] + 0.5, button.value
        for label in view.labels():
            assert_fits(label)

    check()
    status_top = 0.11 * size[1]
    assert all(
        b.y >= status_top - 0.5 for b in view.walk() if isinstance(b, FlatButton) and b.role == "choice"
    )
    h.open_menu()
    h.presenter.press_action("recent")
    h.presenter.recent_loaded([sale(n) for n in range(1, 8)])
    check()


@pytest.mark.parametrize("tone", [Tone.NEUTRAL, Tone.OK, Tone.DENIED, Tone.ERROR])
def test_colours_follow_the_tone(
    shop_view: Any, frames: Any, screenshot: Any, tmp_path: Path, tone: Tone
) -> None:
    view, h = shop_view()
    h.sell("5")
    h.presenter.press_action("pay")
    outcome = {
        Tone.NEUTRAL: None,
        Tone.OK: TillOutcome.PAID,
        Tone.DENIED: TillOutcome.OFFLINE_LIMIT,
        Tone.ERROR: TillOutcome.ERROR,
    }[tone]
    if outcome is not None:
        h.presenter.redeem_finished(redeemed(outcome))
    frames(3)
    assert view.screen.tone is tone
    png = screenshot(tmp_path / "tone.png")
    expected = tuple(round(c * 255) for c in PALETTES[tone].rgba("background")[:3])
    assert pixel(png, 4, 4) == expected


def test_holding_the_till_opens_the_pin_but_holding_a_key_types(
    shop_view: Any, frames: Any, frames_until: Any, touch_down: Any
) -> None:
    from kivy.clock import Clock

    view, _h = shop_view()
    touch = touch_down(view.key_button("7"))
    fired: list[bool] = []
    Clock.schedule_once(lambda _dt: fired.append(True), SHORT_PRESS_S * 3)
    frames_until(lambda: bool(fired))
    touch.touch_up()
    frames(2)
    assert (view.screen.name, view.screen.entry) == ("shop-idle", "7 Token")

    title = next(w for w in view.labels() if w.role == "title")
    touch = touch_down(title)
    frames_until(lambda: view.screen.name == "pin_entry")
    touch.touch_up()


# -- colour, icon and sound agree with the till -----------------------------------------------------

codes = st.none() | st.sampled_from([r.value for r in Reason]) | st.sampled_from(["OSError", "brand_new"])


@given(st.sampled_from(TillOutcome), codes, st.none() | st.integers(-50, 500), st.sampled_from([DE, EN]))
def test_a_redemption_screen_has_the_tone_of_the_pattern_the_till_played(
    outcome: TillOutcome, reason: str | None, balance: int | None, t: Translator
) -> None:
    result = redeemed(outcome, 5, reason=reason, balance=balance)
    screen = shop_screens.result_screen(t, result, now_ms=NOW, limits=LIMITS)
    assert screen.signal == till_signal(outcome)
    assert screen.icon in TONE_ICONS[screen.tone] and screen.title and all(screen.lines)


@given(codes.filter(lambda code: code is not None), st.sampled_from([DE, EN]))
def test_a_refused_card_has_the_tone_of_the_pattern_the_till_played(reason: str, t: Translator) -> None:
    # ShopTill.present: "error" for a tap that left too soon or a fault (an exception's name), else "denied".
    known = reason in {r.value for r in Reason}
    played = "error" if reason == Reason.TAP_INCOMPLETE.value or not known else "denied"
    screen = shop_screens.refused_screen(t, CardRefused(reason))
    assert screen.signal == played
    assert screen.icon in TONE_ICONS[screen.tone] and screen.title


@given(st.booleans(), st.booleans(), codes, st.sampled_from([DE, EN]))
def test_a_void_screen_has_the_tone_of_the_pattern_the_till_played(
    ok: bool, queued: bool, reason: str | None, t: Translator
) -> None:
    # ShopTill.void: "ok" if credited or queued; "error" for a fault (an exception's name); else "denied".
    result = VoidResult(ok=ok, queued=queued, reason=None if ok or queued else reason)
    known = result.reason in {r.value for r in Reason}
    played = "ok" if ok or queued else "denied" if known else "error"
    screen = shop_screens.void_result_screen(t, result, sale(1), limits=LIMITS)
    assert screen.signal == played
    assert screen.icon in TONE_ICONS[screen.tone] and screen.title and all(screen.lines)


def test_every_key_the_shop_code_asks_for_exists() -> None:
    catalogue = load_catalogue(DEFAULT_LANGUAGE)
    stems = {key.rsplit(".", 1)[0] for key in catalogue}
    used: set[str] = set()
    for module in (shop_screens, shop_presenter, base_presenter, screens):
        text = Path(module.__file__ or "").read_text(encoding="utf-8")
        used |= set(re.findall(r"""["']([a-z_]+\.[a-z_.]+)["']""", text))
    used |= {f"shop.state.{state}" for state in shop_screens.STATES}
    used = {key for key in used if not key.endswith(".py")}
    assert any(key.startswith("shop.") for key in used), "the scan found no keys: the pattern is broken"
    missing = sorted(key for key in used if key not in catalogue and key not in stems)
    assert missing == []
