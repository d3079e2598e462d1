"""Emulated NFC tags that nfcpy's ``udp`` driver reads as if they were real, for tests and demos.

A reader opened as ``nfc.ContactlessFrontend("udp:127.0.0.1:PORT")`` polls,
activates and reads a tag through nfcpy's real stack (anticollision, NTAG
detection, NDEF discovery, ISO-DEP), but sends each frame as one UDP datagram
instead of over the air.  The tags here answer those datagrams, so
:mod:`hardware.nfc`, the simulator and a demo run without a reader attached:

* :class:`EmulatedType2Tag`: an NXP NTAG213/215/216 with its real memory
  layout, READ/WRITE/GET_VERSION/READ_SIG and lock bits that are honoured, so
  a test can prove that a tag is read-only after ``tag.protect()``;
* :class:`EmulatedType4Tag`: an NFC Forum Type 4A tag with a read-only NDEF file.

A tag can leave the field (:meth:`EmulatedTag.remove`, or by itself after a
given number of commands, ``vanish_after_commands``) and come back
(:meth:`EmulatedTag.present`), which is how tap debouncing and a card pulled
away mid-read are tested.

Why the tag side does not use nfcpy's own ``listen()``/``exchange()``:
``listen()`` closes and re-binds its UDP socket, and nfcpy re-senses every
NTAG during activation (after its AUTHENTICATE probe).  The reader's
``RFOFF`` and the SENS_REQ that follows arrive back to back, the SENS_REQ is
dropped with the old socket, and the reader waits a full second, then often
gives up on product detection (the tag comes out as a plain ``Type2Tag``).
So :class:`TagServer` speaks the udp driver's datagram format itself
(``b"106A <hex>"`` per frame, ``b"RFOFF"`` when the reader switches its field
off) on one socket that stays bound, and answers each frame to the address it
came from (nfcpy uses a new source port after every re-sense).

Example::

    tag = EmulatedType2Tag(bytes.fromhex("04a1b2c3d4e5f6"), ndef=message, product="NTAG213")
    with serve_tag(tag) as emulation:
        reading = read_one_tag(emulation.path, timeout_s=5)   # from hardware.nfc
    assert tag.ndef_message == message

Nothing here prints; frames are logged at DEBUG without their content.
"""

from __future__ import annotations

import enum
import logging
import select
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

UID_LENGTH = 7  # double-size NFCID1, as on every NTAG21x and most Type 4 tags

_REQA, _WUPA = b"\x26", b"\x52"  # SENS_REQ and ALL_REQ (wake-up, also wakes a halted tag)
_HLTA = b"\x50\x00"
_ACK, _NAK = b"\x0a", b"\x00"  # Type 2 4-bit acknowledge / "invalid argument" NAK


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


# --------------------------------------------------------------------------- Type 2


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
        self._memory = self._initial_memory(ndef, formatted)

    def _initial_memory(self, ndef: bytes | None, formatted: bool) -> bytearray:
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
                tlv += b"\xfe"
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


# --------------------------------------------------------------------------- Type 4

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
    several READ BINARY commands, as on real tags.

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
        vanish_after_commands: int | None = None,
    ) -> None:
        super().__init__(uid, vanish_after_commands=vanish_after_commands)
        message = ndef or b""
        if len(message) + 2 > file_size or file_size > 0x7FFF:
            raise ValueError(f"{len(message)} bytes of NDEF do not fit a {file_size}-byte NDEF file")
        self._ndef_file = (struct.pack(">H", len(message)) + message).ljust(file_size, b"\x00")
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


# --------------------------------------------------------------------------- serving


class TagServer:
    """Present one emulated tag on a UDP port, in a daemon thread, until :meth:`stop`.

    The socket is bound on construction (port 0: the system picks a free one,
    with no race), so :attr:`path` is valid at once.  The tag stays presentable
    across any number of reader polls and connections; take it away and bring
    it back with ``server.tag.remove()`` / ``server.tag.present()``.
    """

    def __init__(self, tag: EmulatedTag, port: int = 0, *, host: str = "127.0.0.1") -> None:
        self.tag = tag
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self._address: tuple[str, int] = self._socket.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="emulated-tag", daemon=True)

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def path(self) -> str:
        """The nfcpy device path a reader opens to see this tag."""
        return f"udp:{self._address[0]}:{self._address[1]}"

    def start(self) -> TagServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop answering and release the port; returns within about 50 ms."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> TagServer:
        return self.start() if not self._thread.is_alive() else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._socket], [], [], 0.05)[0]:
                continue
            try:
                datagram, sender = self._socket.recvfrom(2048)
            except OSError:  # closed under us by stop()
                return
            if datagram.startswith(b"RFOFF"):
                self.tag.field_off()
                continue
            try:
                bitrate, payload = datagram.split()
                frame = bytes.fromhex(payload.decode("ascii"))
            except ValueError:
                log.debug("emulated tag ignores a malformed datagram")
                continue
            if bitrate != b"106A" or not frame:
                continue  # a Type A tag does not hear Type B or F polls
            try:
                answer = self.tag.respond(frame)
            except Exception:  # a bug in an emulator must not silently kill the thread
                log.exception("emulated tag failed to answer a frame")
                continue
            if answer is not None:
                self._socket.sendto(b"106A " + answer.hex().encode("ascii"), sender)


@contextmanager
def serve_tag(tag: EmulatedTag, port: int = 0) -> Iterator[TagServer]:
    """Serve ``tag`` on ``port`` (0: any free port) for the duration of a ``with`` block."""
    server = TagServer(tag, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (prefer ``serve_tag(tag)``, which cannot race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
