"""NFC Forum Type 2: an NXP NTAG213/215/216 with its real memory layout and lock bits.

Its own module because it is the largest tag model: the memory map per
product, and WRITE rules exact enough that a test can prove a tag is read-only
after nfcpy's ``tag.protect()``.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Literal

from hardware.emulator.base import EmulatedTag, _xor

# Every part of the emulator logs as "hardware.emulator", the name it had as a single module.
log = logging.getLogger("hardware.emulator")

_ACK, _NAK = b"\x0a", b"\x00"  # Type 2 4-bit acknowledge / "invalid argument" NAK


@dataclass(frozen=True, slots=True)
class NtagProduct:
    """Memory layout of one NTAG21x product (NXP data sheets NTAG213/215/216)."""

    name: str
    pages: int  # total pages of 4 bytes
    version: bytes  # GET_VERSION answer
    cc_size: int  # byte 2 of the capability container: NDEF area size / 8
    dynamic_lock_page: int  # first page after user memory
    pages_per_lock_bit: int  # dynamic lock granularity

    @property
    def config_page(self) -> int:
        """CFG0 (MIRROR, RFUI, MIRROR_PAGE, AUTH0); CFG1 (ACCESS, …) follows, then PWD and PACK."""
        return self.dynamic_lock_page + 1

    @property
    def user_pages(self) -> range:
        return range(4, self.dynamic_lock_page)


NTAG_PRODUCTS: dict[str, NtagProduct] = {
    "NTAG213": NtagProduct("NTAG213", 45, bytes.fromhex("0004040201000f03"), 0x12, 40, 2),
    "NTAG215": NtagProduct("NTAG215", 135, bytes.fromhex("0004040201001103"), 0x3E, 130, 16),
    "NTAG216": NtagProduct("NTAG216", 231, bytes.fromhex("0004040201001303"), 0x6D, 226, 16),
}

NtagName = Literal["NTAG213", "NTAG215", "NTAG216"]


def ndef_tlv(message: bytes) -> bytes:
    """``message`` as a Type 2 NDEF Message TLV (short or 3-byte length form), without terminator."""
    if len(message) < 0xFF:
        return b"\x03" + bytes([len(message)]) + message
    return b"\x03\xff" + struct.pack(">H", len(message)) + message


class EmulatedType2Tag(EmulatedTag):
    """An NXP NTAG213/215/216 (NFC Forum Type 2) with real memory and lock semantics.

    ``ndef`` is written as an NDEF TLV (any bytes: they need not be valid NDEF);
    ``None`` leaves the tag formatted but empty, as NTAGs leave the factory
    (CC ``E1 10 size 00``, then ``03 00 FE``).  ``formatted=False`` gives an
    all-zero user memory without capability container, which nfcpy cannot use.
    ``after_terminator``: bytes written right after the Terminator TLV, where
    the NFC Forum says nothing belongs to the NDEF message any more.

    Commands: READ (``30``, 16 bytes, rolling over to page 0 past the end),
    WRITE (``A2``), GET_VERSION (``60``), READ_SIG (``3C``) and HLTA.  nfcpy
    uses neither FAST_READ nor COMPATIBILITY WRITE, so they are not emulated:
    like every unknown command (nfcpy probes with Ultralight C AUTHENTICATE,
    ``1A``) they get a NAK, after which the tag is IDLE until re-selected.

    WRITE ORs into the lock bytes, the dynamic lock bytes and the OTP
    capability container, and NAKs pages 0–1, locked pages, and the
    configuration pages once CFGLCK is set (block-locking bits are not
    modelled).  That is everything nfcpy's ``NTAG21x.protect()`` touches.

    Example::

        tag = EmulatedType2Tag(bytes.fromhex("04a1b2c3d4e5f6"), product="NTAG213")
        assert tag.ndef_message == b"" and not tag.read_only
    """

    def __init__(
        self,
        uid: bytes,
        ndef: bytes | None = None,
        *,
        product: NtagName = "NTAG215",
        formatted: bool = True,
        signature: bytes = bytes(32),
        after_terminator: bytes = b"",
        vanish_after_commands: int | None = None,
    ) -> None:
        super().__init__(uid, vanish_after_commands=vanish_after_commands)
        if product not in NTAG_PRODUCTS:
            raise ValueError(f"unknown product {product!r}; choose one of {', '.join(NTAG_PRODUCTS)}")
        if len(signature) != 32:
            raise ValueError("an NTAG originality signature has 32 bytes")
        if ndef is not None and not formatted:
            raise ValueError("an unformatted tag cannot hold an NDEF message")
        self.product = NTAG_PRODUCTS[product]
        self._signature = bytes(signature)
        self._memory = self._initial_memory(ndef, formatted, after_terminator)

    def _initial_memory(self, ndef: bytes | None, formatted: bool, after_terminator: bytes) -> bytearray:
        p, uid = self.product, self.uid
        memory = bytearray(p.pages * 4)
        memory[0:4] = uid[0:3] + bytes([0x88 ^ uid[0] ^ uid[1] ^ uid[2]])
        memory[4:8] = uid[3:7]
        memory[8:10] = bytes([_xor(uid[3:7]), 0x48])  # BCC1, internal
        if formatted:
            memory[12:16] = bytes([0xE1, 0x10, p.cc_size, 0x00])
            tlv = ndef_tlv(ndef or b"")
            area = p.cc_size * 8
            if len(tlv) > area:
                raise ValueError(f"{len(ndef or b'')} bytes of NDEF do not fit the {area}-byte {p.name} area")
            if len(tlv) < area:
                tlv += b"\xfe" + after_terminator
            if len(tlv) > area or (after_terminator and not tlv.endswith(after_terminator)):
                raise ValueError(f"the bytes after the terminator do not fit the {area}-byte {p.name} area")
            memory[16 : 16 + len(tlv)] = tlv
        cfg = p.config_page * 4
        memory[cfg : cfg + 16] = bytes.fromhex("040000ff00050000ffffffff00000000")
        return memory

    @property
    def memory(self) -> bytes:
        """A copy of the whole memory, all pages, as the chip holds it (PWD included)."""
        with self._lock:
            return bytes(self._memory)

    def page_locked(self, page: int) -> bool:
        """Whether WRITE to ``page`` of the CC or user memory is refused by a lock bit."""
        with self._lock:
            p, memory = self.product, self._memory
            if page == 3:
                return bool(memory[10] & 0x08)
            if 4 <= page <= 7:
                return bool(memory[10] & (0x10 << (page - 4)))
            if 8 <= page <= 15:
                return bool(memory[11] & (1 << (page - 8)))
            if page in p.user_pages:
                bit = (page - 16) // p.pages_per_lock_bit
                return bool(memory[p.dynamic_lock_page * 4 + bit // 8] & (1 << (bit % 8)))
            return False

    @property
    def read_only(self) -> bool:
        """``True`` once every page of the NDEF area (CC and user memory) refuses WRITE."""
        with self._lock:
            return all(self.page_locked(page) for page in range(3, self.product.dynamic_lock_page))

    @property
    def ndef_message(self) -> bytes | None:
        """The NDEF message in the memory's NDEF TLV; ``b""`` if empty, ``None`` without CC or TLV."""
        with self._lock:
            memory = self._memory
            if memory[12] != 0xE1:
                return None
            offset, end = 16, 16 + memory[14] * 8
            while offset < end:
                kind = memory[offset]
                if kind == 0xFE:
                    return None
                if kind == 0x00:
                    offset += 1
                    continue
                length, offset = memory[offset + 1], offset + 2
                if length == 0xFF:
                    length, offset = struct.unpack(">H", memory[offset : offset + 2])[0], offset + 2
                if kind == 0x03:
                    return bytes(memory[offset : offset + length])
                offset += length
            return None

    def _command(self, frame: bytes) -> bytes | None:
        code = frame[0]
        if code == 0x30 and len(frame) == 2:
            return self._read(frame[1])
        if code == 0xA2 and len(frame) == 6:
            return self._write(frame[1], frame[2:6])
        if frame == b"\x60":
            return self.product.version
        if frame == b"\x3c\x00":
            return self._signature
        log.debug("emulated %s NAKs command %02x", self.product.name, code)
        return self._nak()

    def _nak(self) -> bytes:
        self._idle()
        return _NAK

    def _read(self, page: int) -> bytes:
        pages = self.product.pages
        if page >= pages:
            return self._nak()
        hidden = {self.product.config_page + 2, self.product.config_page + 3}  # PWD and PACK read as zeros
        data = bytearray()
        for i in range(4):
            current = (page + i) % pages
            data += bytes(4) if current in hidden else self._memory[current * 4 : current * 4 + 4]
        return bytes(data)

    def _write(self, page: int, data: bytes) -> bytes:
        p, memory, at = self.product, self._memory, page * 4
        if page >= p.pages or page < 2:
            return self._nak()
        if page == 2:  # BCC1 and the internal byte stay; lock bits can only be set
            memory[10] |= data[2]
            memory[11] |= data[3]
        elif page == 3 or page == p.dynamic_lock_page:  # OTP capability container / lock bytes
            if self.page_locked(page):
                return self._nak()
            for i in range(3 if page == p.dynamic_lock_page else 4):  # byte 3 of the lock page is RFUI
                memory[at + i] |= data[i]
        elif page in p.user_pages:
            if self.page_locked(page):
                return self._nak()
            memory[at : at + 4] = data
        else:  # CFG0, CFG1, PWD, PACK
            config_locked = bool(memory[(p.config_page + 1) * 4] & 0x40)  # CFGLCK in ACCESS
            if config_locked and page in (p.config_page, p.config_page + 1):
                return self._nak()
            memory[at : at + 4] = data
        return _ACK
