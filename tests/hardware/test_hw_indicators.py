"""Indicators: one console line per signal, and distinct GPIO patterns checked on gpiozero's mock pins."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from gpiozero import LED, GPIOPinInUse
from gpiozero.pins.mock import MockFactory, MockPin

from hardware.console import ConsoleIndicator
from hardware.gpio import GpioIndicator, Timings
from hardware.indicator import Indicator, RecordingIndicator

GREEN, RED, BUZZER = 17, 27, 22
FAST = Timings(
    ok_s=0.02, denied_s=0.02, short_beep_s=0.005, long_beep_s=0.02, error_blink_s=0.005, error_blinks=4
)


def test_console_indicator_writes_one_flushed_line_per_signal():
    stream = io.StringIO()
    indicator = ConsoleIndicator(stream)
    assert isinstance(indicator, Indicator)
    indicator.ok()
    indicator.denied()
    indicator.error()
    assert stream.getvalue() == "OK\nDENIED\nERROR\n"


def test_recording_indicator_remembers_signals():
    indicator = RecordingIndicator()
    indicator.denied()
    indicator.ok()
    assert indicator.signals == ["denied", "ok"]


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    factory = MockFactory()  # passed explicitly; the global Device.pin_factory stays untouched
    yield factory
    factory.reset()


@pytest.fixture
def gpio(factory: MockFactory) -> Iterator[GpioIndicator]:
    indicator = GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory, timings=FAST)
    yield indicator
    indicator.close()


def _history(factory: MockFactory, pin: int, length: int) -> list[bool]:
    """The pin's state history once it has ``length`` entries (background patterns are still running)."""
    deadline = time.monotonic() + 10  # a safety net against hanging, not a timing assertion
    while len(factory.pin(pin).states) < length and time.monotonic() < deadline:
        time.sleep(0.001)
    return [bool(s.state) for s in factory.pin(pin).states]


def test_ok_lights_green_once_and_beeps_once(factory, gpio):
    gpio.ok()
    assert _history(factory, GREEN, 3) == [False, True, False]
    assert _history(factory, BUZZER, 3) == [False, True, False]
    assert _history(factory, RED, 1) == [False]


def test_denied_lights_red_and_beeps_twice(factory, gpio):
    gpio.denied()
    assert _history(factory, RED, 3) == [False, True, False]
    assert _history(factory, BUZZER, 5) == [False, True, False, True, False]
    assert _history(factory, GREEN, 1) == [False]


def test_error_blinks_red_several_times_with_one_long_beep(factory, gpio):
    gpio.error()
    assert _history(factory, RED, 9) == [False] + [True, False] * 4
    assert _history(factory, BUZZER, 3) == [False, True, False]


def test_calls_return_before_the_pattern_ends(factory):
    slow = GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory, timings=Timings(ok_s=30))
    try:
        slow.ok()
        assert factory.pin(GREEN).state  # still lit: ok() did not wait for the second to pass
    finally:
        slow.close()
    assert not factory.pin(GREEN).state  # close stops the pattern and turns the light off


def _pins_are_free(factory: MockFactory, *pins: int) -> bool:
    for pin in pins:
        try:
            LED(pin, pin_factory=factory).close()
        except GPIOPinInUse:
            return False
    return True


def test_a_failing_device_at_start_up_releases_the_pins_already_taken(factory):
    with pytest.raises(GPIOPinInUse) as info:
        GpioIndicator(GREEN, RED, RED, pin_factory=factory)  # the buzzer's pin is taken by the red LED
    # Checked while the exception (and so the half-built indicator) is still alive: the pins must have
    # been released by the constructor, not by the garbage collector.
    assert _pins_are_free(factory, GREEN, RED), info.value


class _StuckPin(MockPin):
    """A pin whose driver fails once ``stuck`` is set, as a wedged GPIO expander would."""

    stuck = False

    def _set_state(self, value):
        if self.stuck:
            raise OSError("pin driver gone")
        super()._set_state(value)


def test_close_releases_every_pin_even_if_switching_one_off_fails(factory, caplog):
    red = factory.pin(RED, pin_class=_StuckPin)
    indicator = GpioIndicator(GREEN, RED, BUZZER, pin_factory=factory, timings=FAST)
    red.stuck = True
    indicator.close()
    red.stuck = False
    assert _pins_are_free(factory, GREEN, RED, BUZZER)
    assert "could not switch off" in caplog.text
