"""ISO 14443-3 Type A, shared by every emulated tag: anticollision, the field, and leaving it.

The tag types (:mod:`~hardware.emulator.type2`, :mod:`~hardware.emulator.type4`)
subclass :class:`EmulatedTag` and only answer the commands that follow activation.
"""

from __future__ import annotations

import enum
import logging
import threading

# Every part of the emulator logs as "hardware.emulator", the name it had as a single module.
log = logging.getLogger("hardware.emulator")

UID_LENGTH = 7  # double-size NFCID1, as on every NTAG21x and most Type 4 tags

_REQA, _WUPA = b"\x26", b"\x52"  # SENS_REQ and ALL_REQ (wake-up, also wakes a halted tag)
_HLTA = b"\x50\x00"


class _Field(enum.Enum):
    """ISO 14443-3 Type A states; only ``ACTIVE`` accepts tag commands."""

    IDLE = "idle"
    READY = "ready"
    CASCADE = "ready, cascade level 1 selected"
    ACTIVE = "active"
    HALT = "halt"


def _xor(data: bytes) -> int:
    result = 0
    for octet in data:
        result ^= octet
    return result


class EmulatedTag:
    """ISO 14443-3 Type A for a 7-byte UID: anticollision, the field, and leaving it.

    Subclasses answer the commands that follow activation in :meth:`_command`.
    :meth:`respond` takes one frame from the reader and returns the tag's answer,
    or ``None`` for silence (a real tag says nothing it does not have to).

    ``vanish_after_commands``: after answering that many commands (frames after
    anticollision, including NAKs), the tag leaves the field as if pulled away,
    and stays away until :meth:`present` is called.  All methods are thread-safe:
    a :class:`TagServer` thread calls :meth:`respond` while a test looks on, and
    waits for :attr:`polls_heard` or :attr:`commands_received` to grow instead
    of sleeping.
    """

    sens_res: bytes = b"\x44\x00"  # ATQA: double-size UID, no bit-frame anticollision quirks
    sel_res: int = 0x00  # SAK of the final cascade level

    def __init__(self, uid: bytes, *, vanish_after_commands: int | None = None) -> None:
        if len(uid) != UID_LENGTH:
            raise ValueError(f"an emulated tag has a {UID_LENGTH}-byte UID, not {len(uid)}")
        self._uid = bytes(uid)
        self._cl1 = b"\x88" + self._uid[0:3] + bytes([_xor(b"\x88" + self._uid[0:3])])
        self._cl2 = self._uid[3:7] + bytes([_xor(self._uid[3:7])])
        self._lock = threading.RLock()
        self._state = _Field.IDLE
        self._in_field = True
        self._commands_left = vanish_after_commands
        self._polls_heard = 0
        self._commands_received = 0

    @property
    def uid(self) -> bytes:
        return self._uid

    @property
    def polls_heard(self) -> int:
        """SENS_REQ/ALL_REQ frames heard so far, in the field or not: how often a reader looked."""
        with self._lock:
            return self._polls_heard

    @property
    def commands_received(self) -> int:
        """Commands received after anticollision so far (reads, writes, presence checks…)."""
        with self._lock:
            return self._commands_received

    @property
    def in_field(self) -> bool:
        """``False`` while the tag is away from the reader and answers nothing."""
        with self._lock:
            return self._in_field

    def present(self, *, vanish_after_commands: int | None = None) -> None:
        """Bring the tag (back) into the field, freshly powered; optionally set a new vanishing point."""
        with self._lock:
            self._in_field = True
            self._state = _Field.IDLE
            self._commands_left = vanish_after_commands

    def remove(self) -> None:
        """Take the tag out of the field: it answers nothing until :meth:`present`."""
        with self._lock:
            self._in_field = False
            self._state = _Field.IDLE

    def field_off(self) -> None:
        """The reader switched its field off: the tag loses power and any session."""
        with self._lock:
            self._state = _Field.IDLE

    def respond(self, frame: bytes) -> bytes | None:
        """The tag's answer to one reader frame, ``None`` for silence."""
        with self._lock:
            if frame in (_REQA, _WUPA):
                self._polls_heard += 1
            if not self._in_field:
                return None
            if frame == _WUPA or (frame == _REQA and self._state is not _Field.HALT):
                self._state = _Field.READY
                return self.sens_res
            if self._state is _Field.READY:
                if frame == b"\x93\x20":
                    return self._cl1
                if frame == b"\x93\x70" + self._cl1:
                    self._state = _Field.CASCADE
                    return b"\x04"  # SAK with the cascade bit: the UID continues at level 2
            elif self._state is _Field.CASCADE:
                if frame == b"\x95\x20":
                    return self._cl2
                if frame == b"\x95\x70" + self._cl2:
                    self._state = _Field.ACTIVE
                    self._activated()
                    return bytes([self.sel_res])
            elif self._state is _Field.ACTIVE:
                return self._active(frame)
            return None

    def _active(self, frame: bytes) -> bytes | None:
        self._commands_received += 1
        if self._commands_left is not None:
            if self._commands_left <= 0:
                log.debug("emulated tag leaves the field as scripted")
                self._in_field = False
                self._state = _Field.IDLE
                return None
            self._commands_left -= 1
        if frame == _HLTA:
            self._state = _Field.HALT
            return None
        return self._command(frame)

    def _idle(self) -> None:
        """Fall back to IDLE, as a tag does after a NAK: it answers again only after a new SENS_REQ."""
        self._state = _Field.IDLE

    def _activated(self) -> None:
        """Hook: the tag was just selected (reset per-session state here)."""

    def _command(self, frame: bytes) -> bytes | None:
        raise NotImplementedError
