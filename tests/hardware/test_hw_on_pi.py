"""Checks that only make sense on a real kiosk: run them on the Pi with KOKREATIV_HARDWARE=1.

They drive the default gpiozero pin factory (lgpio on a Raspberry Pi), which
proves that the configured pins exist, are free and are released again.
Watch and listen while they run: each pattern must be visible and audible.
"""

from __future__ import annotations

import time

import pytest
from gpiozero import LED

from hardware.gpio import GpioIndicator, Timings

pytestmark = pytest.mark.hardware


def test_indicator_patterns_run_on_the_real_pins_and_release_them():
    indicator = GpioIndicator(17, 27, 22, timings=Timings(ok_s=0.5, denied_s=0.5))
    try:
        for signal in (indicator.ok, indicator.denied, indicator.error):
            signal()
            time.sleep(1.5)
    finally:
        indicator.close()
    for pin in (17, 27, 22):
        with LED(pin) as led:  # would raise GPIOPinInUse if close() leaked the pin
            assert not led.is_lit
