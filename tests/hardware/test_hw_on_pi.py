"""Checks that only make sense on a real kiosk: run them on the Pi with KOKREATIV_HARDWARE=1
(and KOKREATIV_READER=tty:AMA0:pn532 or the like for a reader other than USB).

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


def test_a_real_reader_reads_a_real_card():
    """Put any NTAG card on the reader named by KOKREATIV_READER (default ``usb``) within 30 s.

    Proves the reader opens with the kiosk user's permissions and that nfcpy
    reads a UID and the card's NDEF through it.  ``kokreativ doctor`` explains
    a failure.
    """
    import os

    from hardware.nfc import NfcpyReader, read_one_tag
    from hardware.reader import ReaderStatus

    path = os.environ.get("KOKREATIV_READER", "usb")
    reading = read_one_tag(path, timeout_s=30)
    assert 4 <= len(reading.uid) <= 10
    assert reading.ndef is not None, "a card formatted for NDEF (any NTAG21x) is needed"
    with NfcpyReader(path).start() as reader:
        tap = reader.wait_for_tap(timeout=30)  # keep the card there, or tap it again
        assert reader.status is ReaderStatus.OK
    assert tap is not None and tap.uid == reading.uid and tap.ndef == reading.ndef
