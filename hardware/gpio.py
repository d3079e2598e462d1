"""An indicator on Raspberry Pi GPIO: a green LED, a red LED and a buzzer (gpiozero).

Patterns are distinct by light *and* sound, so a volunteer who does not look
at the kiosk still knows what happened:

=========  ==================================  =========================
signal     light                               sound
=========  ==================================  =========================
ok         green on for ``ok_s``               one short beep
denied     red on for ``denied_s``             two short beeps
error      red blinks ``error_blinks`` times   one long beep
=========  ==================================  =========================

Every pattern runs in gpiozero's background blink threads, so the calls
return at once; a new signal replaces whatever pattern is still running.

Tests pass ``pin_factory=MockFactory()`` and read each pin's ``states``
history.  Pass the factory explicitly rather than setting the global
``Device.pin_factory``, which leaks into every other device in the process.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from gpiozero import LED, Buzzer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timings:
    """Durations of the patterns, in seconds; tests shorten them."""

    ok_s: float = 1.0
    denied_s: float = 2.0
    short_beep_s: float = 0.08
    long_beep_s: float = 0.8
    error_blink_s: float = 0.15
    error_blinks: int = 5


class GpioIndicator:
    """LEDs and a buzzer on BCM pins ``green_pin``, ``red_pin`` and ``buzzer_pin``.

    Example::

        indicator = GpioIndicator(17, 27, 22)
        indicator.ok()       # returns at once; green lights for a second, one beep
        indicator.close()
    """

    def __init__(
        self,
        green_pin: int,
        red_pin: int,
        buzzer_pin: int,
        *,
        pin_factory: Any = None,
        timings: Timings | None = None,
    ) -> None:
        self._t = timings or Timings()
        opened: list[LED | Buzzer] = []
        try:
            self._green = LED(green_pin, pin_factory=pin_factory)
            opened.append(self._green)
            self._red = LED(red_pin, pin_factory=pin_factory)
            opened.append(self._red)
            self._buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)
        except Exception:
            for device in reversed(opened):  # release the pins already taken
                with contextlib.suppress(Exception):
                    device.close()
            raise

    def ok(self) -> None:
        t = self._t
        self._red.off()
        self._green.blink(on_time=t.ok_s, off_time=0, n=1, background=True)
        self._buzzer.blink(on_time=t.short_beep_s, off_time=0, n=1, background=True)

    def denied(self) -> None:
        t = self._t
        self._green.off()
        self._red.blink(on_time=t.denied_s, off_time=0, n=1, background=True)
        self._buzzer.blink(on_time=t.short_beep_s, off_time=t.short_beep_s, n=2, background=True)

    def error(self) -> None:
        t = self._t
        self._green.off()
        self._red.blink(on_time=t.error_blink_s, off_time=t.error_blink_s, n=t.error_blinks, background=True)
        self._buzzer.blink(on_time=t.long_beep_s, off_time=0, n=1, background=True)

    def close(self) -> None:
        """Stop any running pattern, switch everything off and release the pins.

        Switching off first matters: gpiozero's ``close`` leaves an output pin as it was.
        Every device is closed even if switching one off fails; failures are logged.
        """
        for device in (self._buzzer, self._red, self._green):
            if device.closed:
                continue
            try:
                device.off()
            except Exception as exc:
                log.warning("could not switch off %s: %s", device.pin, type(exc).__name__)
            try:
                device.close()
            except Exception as exc:
                log.warning("could not release %s: %s", device.pin, type(exc).__name__)
