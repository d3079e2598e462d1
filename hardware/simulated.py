"""Readers without hardware: one driven by code, one driven by a text script.

They ship next to the interface (as gpiozero ships ``MockFactory``) so that
tests, the simulator and a headless kiosk all use the same code path as a
real reader.

Script format for :class:`ScriptedReader`, one tap per line: the UID in hex,
then optionally the card's whole NDEF message in hex (``kokreativ card inspect``
prints it as ``ndef_hex``, so a real card can be replayed into a test kiosk)::

    # a volunteer's card: UID, then the NDEF message holding its credential
    04a2b3c4d5e6f7 d4121e6b6f6b726561746976...
    # a card with no NDEF at all (the kiosk denies it unless its site allows such cards)
    deadbeef

Blank lines and ``#`` comments are skipped.  At the end of the stream the
reader is exhausted, so ``kokreativ terminal run --reader stdin`` ends cleanly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TextIO

from hardware.reader import QueueReader, Tap

UID_BYTES = (4, 10)  # ISO 14443 UIDs are 4, 7 or 10 bytes; protocol.uid_pseudonym accepts 4 to 10

log = logging.getLogger(__name__)


class SimulatedReader(QueueReader):
    """A reader that taps whatever the test or simulator presents.

    Example::

        reader = SimulatedReader()
        reader.present_card(bytes.fromhex("04a2b3c4"), credential_message(credential))
        tap = reader.wait_for_tap(timeout=1)
    """

    def present_card(self, uid: bytes, ndef: bytes | None = None) -> bool:
        """Tap a card with ``uid`` carrying the NDEF message ``ndef`` (``None``: no NDEF at all).

        Returns ``False`` if the reader was already finished (the tap is refused).
        """
        return self.push(Tap(uid=uid, ndef=ndef))


def parse_script_line(line: str) -> Tap | None:
    """The tap on one script line, ``None`` for blank and comment lines; ``ValueError`` if malformed."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    parts = text.split()
    if len(parts) > 2:
        raise ValueError("expected 'UIDHEX' or 'UIDHEX NDEFHEX'")
    uid = bytes.fromhex(parts[0])
    if not UID_BYTES[0] <= len(uid) <= UID_BYTES[1]:
        raise ValueError(f"a UID has {UID_BYTES[0]} to {UID_BYTES[1]} bytes")
    return Tap(uid=uid, ndef=bytes.fromhex(parts[1]) if len(parts) == 2 else None)


class ScriptedReader(QueueReader):
    """Taps read from a text stream (stdin or a file) by a background thread.

    Reading happens in its own thread, like an nfcpy polling loop, so the tap
    loop can still wait with a timeout and react to SIGTERM while stdin is
    idle.  Malformed lines are logged (by line number, never their content,
    which may hold a UID) and skipped.
    """

    def __init__(self, stream: TextIO | Iterable[str]) -> None:
        super().__init__()
        self._stream = stream
        self._thread = threading.Thread(target=self._feed, name="scripted-reader", daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        try:
            for number, line in enumerate(self._stream, start=1):
                try:
                    tap = parse_script_line(line)
                except ValueError as exc:
                    log.warning("script line %d skipped: %s", number, exc)
                    continue
                if tap is not None and not self.push(tap):
                    return  # closed: stop reading (finally still calls finish, a no-op)
        except (OSError, ValueError) as exc:  # a closed or broken stream ends the script
            log.warning("tap script stopped: %s", exc)
        finally:
            self.finish()

    def close(self, timeout: float | None = 1.0) -> None:
        """Stop accepting taps; waits briefly for the feeder (a blocked stdin read is left to die)."""
        self.finish()
        self._thread.join(timeout)

    @property
    def feeding(self) -> bool:
        """Whether the feeder thread still runs: a read blocked on an idle stdin outlives :meth:`close`."""
        return self._thread.is_alive()
