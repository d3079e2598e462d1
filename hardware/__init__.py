"""Hardware behind small interfaces: card readers and indicators.

:mod:`terminal` depends only on :class:`CardReader` and :class:`Indicator`.
Concrete backends live in their own modules and are chosen once, at start-up:
:mod:`hardware.simulated` (code- or script-driven readers),
:mod:`hardware.console` (one line per signal) and :mod:`hardware.gpio` (LEDs
and a buzzer through gpiozero).  An nfcpy reader will subclass
:class:`hardware.reader.QueueReader`.
"""

from hardware.indicator import Indicator, RecordingIndicator
from hardware.reader import CardReader, QueueReader, ReaderStatus, Tap

__all__ = ["CardReader", "Indicator", "QueueReader", "ReaderStatus", "RecordingIndicator", "Tap"]
