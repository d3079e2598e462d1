"""NFC Forum Type 4A: an ISO-DEP tag with a read-only NDEF file.

Kept apart from Type 2 because it speaks a different protocol after
activation (ISO-DEP blocks carrying APDUs instead of page reads).
"""

from __future__ import annotations

import struct

from hardware.emulator.base import EmulatedTag, _Field

NDEF_AID = bytes.fromhex("D2760000850101")  # NFC Forum Type 4 Tag NDEF application, mapping 2.0
CC_FILE_ID = b"\xe1\x03"
NDEF_FILE_ID = b"\xe1\x04"
_SW_OK = b"\x90\x00"


class EmulatedType4Tag(EmulatedTag):
    """An NFC Forum Type 4A tag (ISO-DEP) whose NDEF file holds ``ndef`` and is read-only.

    It answers RATS with an ATS (FSC 256, FWI 7, about 39 ms), ISO-DEP I-, R-
    and S(DESELECT) blocks, and these APDUs: SELECT the NDEF application
    ``D2760000850101``, SELECT the CC file ``E103`` or the NDEF file ``E104``,
    READ BINARY.  UPDATE BINARY is refused (``6982``), as the CC says.
    Reads are at most ``max_read`` (MLe) bytes, so longer messages take
    several READ BINARY commands, as on real tags.  ``after_message``: bytes
    in the NDEF file right after the NLEN bytes of the message.

    Example::

        tag = EmulatedType4Tag(bytes.fromhex("04112233445566"), ndef=message)
    """

    sens_res = b"\x44\x03"
    sel_res = 0x20  # ISO 14443-4 compliant

    # ISO-DEP session, reset on every activation
    _dep: bool
    _block: int
    _last_block: bytes | None
    _app_selected: bool
    _file: bytes | None

    def __init__(
        self,
        uid: bytes,
        ndef: bytes | None = None,
        *,
        file_size: int = 256,
        max_read: int = 59,
        after_message: bytes = b"",
        vanish_after_commands: int | None = None,
    ) -> None:
        super().__init__(uid, vanish_after_commands=vanish_after_commands)
        message = ndef or b""
        if len(message) + len(after_message) + 2 > file_size or file_size > 0x7FFF:
            raise ValueError(f"{len(message)} bytes of NDEF do not fit a {file_size}-byte NDEF file")
        self._ndef_file = (struct.pack(">H", len(message)) + message + after_message).ljust(
            file_size, b"\x00"
        )
        self._cc_file = (
            struct.pack(">HBHH", 15, 0x20, max_read, 0x34)
            + b"\x04\x06"
            + NDEF_FILE_ID
            + struct.pack(">HBB", file_size, 0x00, 0xFF)  # read: free, write: never
        )
        self._activated()

    @property
    def ndef_message(self) -> bytes:
        """The NDEF message in the NDEF file (``b""`` when NLEN is zero)."""
        (length,) = struct.unpack(">H", self._ndef_file[:2])
        return self._ndef_file[2 : 2 + length]

    def _activated(self) -> None:
        self._dep = False  # ISO-DEP starts with RATS
        self._block = 1  # the PICC block number starts at 1 (ISO 14443-4, 7.5.3.2)
        self._last_block = None
        self._app_selected = False
        self._file: bytes | None = None

    def _command(self, frame: bytes) -> bytes | None:
        pcb = frame[0]
        if not self._dep:
            if pcb == 0xE0 and len(frame) == 2:
                self._dep = True
                return bytes.fromhex("0578807000")  # TL, T0 (FSCI 8, TA TB TC follow), TA, TB (FWI 7), TC
            return None
        if pcb & 0xE6 == 0x02 and not pcb & 0x10:  # I-block, no chaining (nfcpy never needs it here)
            self._block = pcb & 0x01
            self._last_block = bytes([0x02 | self._block]) + self._apdu(frame[1:])
            return self._last_block
        if pcb & 0xF6 == 0xB2:  # R(NAK): resend if it asks for our last block, else R(ACK)
            if pcb & 0x01 == self._block and self._last_block is not None:
                return self._last_block
            return bytes([0xA2 | self._block])
        if pcb == 0xC2:  # S(DESELECT)
            self._state = _Field.HALT
            return b"\xc2"
        return None

    def _apdu(self, apdu: bytes) -> bytes:
        if len(apdu) < 4:
            return b"\x67\x00"
        ins, p1, p2, body = apdu[1], apdu[2], apdu[3], apdu[4:]
        data, le = b"", 0
        if len(body) == 1:
            le = body[0] or 256
        elif body:
            data, rest = body[1 : 1 + body[0]], body[1 + body[0] :]
            if len(data) != body[0] or len(rest) > 1:
                return b"\x67\x00"
            le = (rest[0] or 256) if rest else 0
        if ins == 0xA4:
            return self._select(p1, data)
        if ins == 0xB0:
            if self._file is None:
                return b"\x69\x86"  # no current EF
            offset = (p1 << 8) | p2
            if offset > len(self._file):
                return b"\x6b\x00"
            return self._file[offset : offset + (le or 256)] + _SW_OK
        if ins == 0xD6:
            return b"\x69\x82"  # security status not satisfied: the NDEF file is read-only
        return b"\x6d\x00"

    def _select(self, p1: int, name: bytes) -> bytes:
        if p1 == 0x04:
            self._app_selected, self._file = name == NDEF_AID, None
            return _SW_OK if self._app_selected else b"\x6a\x82"
        if p1 == 0x00 and self._app_selected and name in (CC_FILE_ID, NDEF_FILE_ID):
            self._file = self._cc_file if name == CC_FILE_ID else self._ndef_file
            return _SW_OK
        return b"\x6a\x82"
