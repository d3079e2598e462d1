"""Hardware behind small interfaces: card readers and indicators.

:mod:`terminal` depends only on :class:`CardReader` and :class:`Indicator`.
Concrete backends live in their own modules and are chosen once, at start-up:
:mod:`hardware.simulated` (code- or script-driven readers),
:mod:`hardware.console` (one line per signal) and :mod:`hardware.gpio` (LEDs
and a buzzer through gpiozero).  An nfcpy reader will subclass
:class:`hardware.reader.QueueReader`.  :mod:`hardware.sdnotify` speaks
systemd's notify protocol for the kiosk and the server alike: the boundary to
the operating system sits in this layer too (docs/architecture.md, "Layers").
"""

from hardware.indicator import Indicator, RecordingIndicator
from hardware.reader import CardReader, QueueReader, ReaderStatus, Tap

__all__ = ["CardReader", "Indicator", "QueueReader", "ReaderStatus", "RecordingIndicator", "Tap"]
