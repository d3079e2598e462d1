"""An optional push button on the kiosk, through gpiozero.

What the kiosk does with it: a short press means "sync now and show the
status" (the outbox count, the last sync, the reader's health), so a
coordinator on site can push the day's taps to the server without a keyboard.
An optional long press (``hold_s`` with ``on_hold``) is free for a second
action.  This module only turns presses into calls; the kiosk wires them.

Wiring: a momentary switch between the BCM pin (default BCM23, physical pin
16) and GND (pin 14 or 20).  The Pi's internal pull-up holds the pin high, so
no resistor is needed, and a press pulls it low.

gpiozero calls the callbacks on its own thread (the pin's event thread, and a
separate thread for holds).  An exception escaping there would end that thread
silently, and the button would be dead until the kiosk restarts; so every
callback runs inside a guard that logs the exception and carries on.
Callbacks must still return quickly: start long work (a sync) on another
thread rather than doing it inside the callback.

Tests pass ``pin_factory=MockFactory()`` explicitly and press with
``factory.pin(23).drive_low()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from gpiozero import Button

log = logging.getLogger(__name__)


class GpioButton:
    """A push button on BCM pin ``pin`` to GND, calling ``on_press`` for each press.

    ``bounce_s`` ignores the contact chatter of a cheap switch (``None``: no
    software debouncing).  With ``hold_s`` and ``on_hold``, holding the button
    for ``hold_s`` seconds calls ``on_hold`` instead: ``on_press`` then fires on
    *release* of a short press, because only then is it known not to be a hold.
    Without them ``on_press`` fires at once, on the press itself.

    Example::

        button = GpioButton(23, on_press=lambda: threading.Thread(target=sync_now).start())
        ...
        button.close()
    """

    def __init__(
        self,
        pin: int,
        *,
        on_press: Callable[[], None],
        pin_factory: Any = None,
        bounce_s: float | None = 0.05,
        hold_s: float | None = None,
        on_hold: Callable[[], None] | None = None,
    ) -> None:
        if (hold_s is None) != (on_hold is None):
            raise ValueError("hold_s and on_hold go together: give both or neither")
        self._pin = pin
        self._on_press = on_press
        self._on_hold = on_hold
        self._lock = threading.Lock()
        self._held = False  # the current press has become a hold: its release is not a short press
        self._button = Button(
            pin,
            pull_up=True,
            bounce_time=bounce_s,
            hold_time=hold_s if hold_s is not None else 1.0,
            pin_factory=pin_factory,
        )
        if on_hold is None:
            self._button.when_pressed = self._pressed_now
        else:
            self._button.when_pressed = self._press_started
            self._button.when_released = self._released
            self._button.when_held = self._became_hold

    @property
    def pin(self) -> int:
        """The BCM number of the button's pin (for a status screen)."""
        return self._pin

    @property
    def closed(self) -> bool:
        return bool(self._button.closed)

    def _run(self, what: str, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            # Never let it reach gpiozero's thread: the button would stop working for good.
            log.exception("button %s callback failed; the button keeps working", what)

    def _pressed_now(self) -> None:
        self._run("press", self._on_press)

    def _press_started(self) -> None:
        with self._lock:
            self._held = False

    def _became_hold(self) -> None:
        with self._lock:
            # A release can race the hold thread; whichever takes the lock first decides.
            if not self._button.is_pressed or self._held:
                return
            self._held = True
        assert self._on_hold is not None
        self._run("hold", self._on_hold)

    def _released(self) -> None:
        with self._lock:
            short = not self._held
            self._held = True  # this press is over: a late hold event must not fire
        if short:
            self._run("press", self._on_press)

    def close(self) -> None:
        """Stop calling back and release the pin; safe to call more than once."""
        self._button.close()

    def __enter__(self) -> GpioButton:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
