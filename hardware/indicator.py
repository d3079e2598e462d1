"""The indicator interface: how the kiosk tells a volunteer what happened to a tap.

Three signals only, so every backend (LEDs and a buzzer, a console line, a
screen) can show them.  Calls must return at once: patterns run in the
background, because the tap loop must be ready for the next card while a
light is still on.

The kiosk calls a signal only *after* the event is committed to disk, so a
green light is a promise that the tap is stored.
"""

from __future__ import annotations

import threading
from typing import Literal, Protocol, runtime_checkable

Signal = Literal["ok", "denied", "error"]


@runtime_checkable
class Indicator(Protocol):
    """Shows the result of a tap; every method returns immediately."""

    def ok(self) -> None:
        """The tap was recorded (or had already been recorded)."""

    def denied(self) -> None:
        """The card is not accepted; the refusal was recorded."""

    def error(self) -> None:
        """Something went wrong; nothing was recorded, please tap again or call for help."""


class RecordingIndicator:
    """An indicator that remembers the signals it was given; for tests and the simulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._signals: list[Signal] = []

    @property
    def signals(self) -> list[Signal]:
        with self._lock:
            return list(self._signals)

    def _record(self, signal: Signal) -> None:
        with self._lock:
            self._signals.append(signal)

    def ok(self) -> None:
        self._record("ok")

    def denied(self) -> None:
        self._record("denied")

    def error(self) -> None:
        self._record("error")
