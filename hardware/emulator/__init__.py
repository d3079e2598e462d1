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

The package, one concern per module: :mod:`~hardware.emulator.base`
(:class:`EmulatedTag`, ISO 14443-3 Type A), :mod:`~hardware.emulator.type2`,
:mod:`~hardware.emulator.type4` and :mod:`~hardware.emulator.server`
(:class:`TagServer`, :func:`serve_tag`).  Import from here.
"""

from hardware.emulator.base import UID_LENGTH, EmulatedTag
from hardware.emulator.server import TagServer, free_udp_port, serve_tag
from hardware.emulator.type2 import NTAG_PRODUCTS, EmulatedType2Tag, NtagName, NtagProduct, ndef_tlv
from hardware.emulator.type4 import CC_FILE_ID, NDEF_AID, NDEF_FILE_ID, EmulatedType4Tag

__all__ = [
    "CC_FILE_ID",
    "NDEF_AID",
    "NDEF_FILE_ID",
    "NTAG_PRODUCTS",
    "UID_LENGTH",
    "EmulatedTag",
    "EmulatedType2Tag",
    "EmulatedType4Tag",
    "NtagName",
    "NtagProduct",
    "TagServer",
    "free_udp_port",
    "ndef_tlv",
    "serve_tag",
]
