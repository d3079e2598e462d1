"""The optional push button, pressed on gpiozero's mock pins.

Waits use a threading.Event with a generous timeout: it only guards against a
hanging test, it is not a timing assertion.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero import Button
from gpiozero.pins.mock import MockFactory

from hardware.button import GpioButton

PIN = 23
HANG_GUARD_S = 5.0


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()  # passed explicitly; the global Device.pin_factory stays untouched
    yield factory
    factory.reset()


def _press(factory: MockFactory) -> None:
    factory.pin(PIN).drive_low()  # the switch pulls the pulled-up pin to GND
    factory.pin(PIN).drive_high()


def test_a_press_calls_on_press(factory):
    pressed = threading.Event()
    with GpioButton(PIN, on_press=pressed.set, pin_factory=factory):
        factory.pin(PIN).drive_low()
        assert pressed.wait(HANG_GUARD_S)


def test_the_pin_is_pulled_up_so_an_idle_button_is_not_pressed(factory):
    calls: list[str] = []
    with GpioButton(PIN, on_press=lambda: calls.append("press"), pin_factory=factory):
        assert factory.pin(PIN).state  # high: the internal pull-up is on
        factory.pin(PIN).drive_high()  # no edge, no call
    assert calls == []


def test_a_raising_callback_is_logged_and_later_presses_still_work(factory, caplog):
    presses = 0
    second = threading.Event()

    def on_press() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            raise RuntimeError("sync service not ready")
        second.set()

    with GpioButton(PIN, on_press=on_press, pin_factory=factory, bounce_s=None):
        _press(factory)  # must not raise into the pin's event thread (here: the test's own thread)
        _press(factory)
        assert second.wait(HANG_GUARD_S)
    assert presses == 2
    assert "button press callback failed" in caplog.text
    assert "sync service not ready" in caplog.text


def test_close_releases_the_pin(factory):
    button = GpioButton(PIN, on_press=lambda: None, pin_factory=factory)
    button.close()
    button.close()  # twice is fine
    assert button.closed
    Button(PIN, pin_factory=factory).close()  # would raise GPIOPinInUse if the pin were still taken


def test_no_callback_after_close(factory):
    calls: list[str] = []
    button = GpioButton(PIN, on_press=lambda: calls.append("press"), pin_factory=factory)
    button.close()
    other = Button(PIN, pin_factory=factory)  # take the pin over, so it can be driven again
    try:
        factory.pin(PIN).drive_low()
    finally:
        other.close()
    assert calls == []


def test_a_hold_calls_on_hold_and_not_on_press(factory):
    calls: list[str] = []
    held = threading.Event()

    def on_hold() -> None:
        calls.append("hold")
        held.set()

    with GpioButton(
        PIN, on_press=lambda: calls.append("press"), on_hold=on_hold, hold_s=0.01, pin_factory=factory
    ):
        factory.pin(PIN).drive_low()
        assert held.wait(HANG_GUARD_S)
        factory.pin(PIN).drive_high()
    assert calls == ["hold"]


def test_with_a_hold_configured_a_short_press_fires_on_release(factory):
    calls: list[str] = []
    with GpioButton(
        PIN,
        on_press=lambda: calls.append("press"),
        on_hold=lambda: calls.append("hold"),
        hold_s=600,  # far longer than the test: this press is certainly short
        pin_factory=factory,
    ):
        factory.pin(PIN).drive_low()
        assert calls == []  # not yet: it could still become a hold
        factory.pin(PIN).drive_high()
        assert calls == ["press"]


def test_a_raising_hold_callback_is_contained(factory, caplog):
    held = threading.Event()

    def on_hold() -> None:
        held.set()
        raise RuntimeError("boom")

    with GpioButton(PIN, on_press=lambda: None, on_hold=on_hold, hold_s=0.01, pin_factory=factory):
        factory.pin(PIN).drive_low()
        assert held.wait(HANG_GUARD_S)
        factory.pin(PIN).drive_high()
    # Leaving the block closed the button, which joins gpiozero's hold thread: its log record is in.
    assert "button hold callback failed" in caplog.text


@pytest.mark.parametrize("kwargs", [{"hold_s": 1.0}, {"on_hold": lambda: None}])
def test_hold_needs_both_a_time_and_a_callback(factory, kwargs):
    with pytest.raises(ValueError, match="hold_s and on_hold"):
        GpioButton(PIN, on_press=lambda: None, pin_factory=factory, **kwargs)
