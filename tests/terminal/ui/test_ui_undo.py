"""The "Rückgängig" button after a check-in or check-out: countdown, press, answer (issue 20).

The presenter is driven by hand with a fake clock; the last test renders it in
Kivy offscreen and presses the real button.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from protocol import Reason
from terminal.tap import Outcome, TapOutcome
from terminal.ui.view import ScreenView
from tests.terminal.ui.ui_helpers import INFO, NOW, Harness

CARD = "c_" + "2" * 32
CHECK_IN = TapOutcome(kind=Outcome.CHECK_IN, card_id=CARD, wall_ms=NOW, seq=7)
UNDONE = TapOutcome(
    kind=Outcome.UNDONE, card_id=CARD, wall_ms=NOW, seq=8, recorded_kind=Outcome.CHECK_IN, undone_seq=7
)


def _harness(window_s: float = 10.0, **options: Any) -> Harness:
    return Harness(info=replace(INFO, undo_window_s=window_s), **options)


def _labels(h: Harness) -> list[str]:
    return [action.label for action in h.screen.actions]


def test_a_check_in_offers_undo_with_a_countdown_that_runs_out() -> None:
    h = _harness()
    h.presenter.show_outcome(CHECK_IN)
    assert (h.screen.name, _labels(h)) == ("check_in", ["Rückgängig (10)"])
    h.wait(3)
    assert _labels(h) == ["Rückgängig (7)"]
    h.wait(6.5)
    assert _labels(h) == ["Rückgängig (1)"]
    h.wait(0.5)  # the result stays while its undo is offered, then gives way to idle
    assert h.screen.name == "idle"
    h.presenter.press_action("undo")
    assert ("undo", CHECK_IN) not in h.actions.calls


def test_pressing_undo_asks_the_kiosk_and_shows_its_answer() -> None:
    h = _harness()
    h.presenter.show_outcome(CHECK_IN)
    h.wait(2)
    h.presenter.press_action("undo")
    assert h.actions.calls[-1] == ("undo", CHECK_IN)
    assert _labels(h) == [] and "Wird rückgängig gemacht …" in h.screen.lines
    h.presenter.press_action("undo")  # a second press does nothing
    assert [c for c in h.actions.calls if c[0] == "undo"] == [("undo", CHECK_IN)]
    h.presenter.undo_finished(UNDONE)
    assert (h.screen.name, h.screen.title) == ("undone", "Rückgängig gemacht")
    assert h.screen.lines == ("Dein Check-in zählt nicht. Du bist nicht eingecheckt.",)


def test_a_refused_undo_says_so_in_plain_words() -> None:
    h = _harness(language="en")
    h.presenter.show_outcome(CHECK_IN)
    h.presenter.press_action("undo")
    h.presenter.undo_finished(TapOutcome(Outcome.ERROR, CARD, NOW, reason=Reason.UNDO_TOO_LATE))
    assert (h.screen.name, h.screen.title) == ("undo_refused", "Can no longer be undone")


def test_no_button_when_the_window_is_zero_or_for_other_outcomes() -> None:
    h = _harness(window_s=0)
    h.presenter.show_outcome(CHECK_IN)
    assert _labels(h) == []
    h = _harness()
    h.presenter.show_outcome(TapOutcome(kind=Outcome.ALREADY_RECORDED, card_id=CARD, wall_ms=NOW))
    assert _labels(h) == []


def test_the_kivy_button_reaches_the_kiosk_offscreen(render: Any, tap: Any, frames: Any) -> None:
    view: ScreenView | None = None

    def draw(screen: Any) -> None:
        if view is not None:
            view.show(screen)

    h = _harness(on_change=draw)
    view = render(ScreenView(h.presenter))
    h.presenter.show_outcome(replace(CHECK_IN, kind=Outcome.CHECK_OUT, shift_minutes=60, tokens=10))
    frames(3)
    tap(view.action_button("undo"))
    frames(2)
    assert h.actions.calls[-1][0] == "undo"
    h.presenter.undo_finished(replace(UNDONE, recorded_kind=Outcome.CHECK_OUT))
    frames(3)
    assert view.rendered_texts() == h.screen.texts()
    assert "Rückgängig gemacht" in view.rendered_texts()
