"""Emulated NFC tags that nfcpy's ``udp`` driver reads as if they were real, for tests and demos.

nfcpy's real stack (anticollision, NTAG detection, NDEF, ISO-DEP) talks to
these tags over UDP datagrams instead of the air, so :mod:`hardware.nfc`, the
simulator and the demo run without a reader: :class:`EmulatedType2Tag`
(NTAG213/215/216, lock bits honoured), :class:`EmulatedType4Tag`, and tags
that leave and come back.  :class:`TagServer` speaks the udp driver's format
itself rather than nfcpy's ``listen()``, which drops frames when it re-binds;
the details are in docs/hardware.md, "Emulated tags".

Example::

    tag = EmulatedType2Tag(bytes.fromhex("04a1b2c3d4e5f6"), ndef=message, product="NTAG213")
    with serve_tag(tag) as emulation:
        reading = read_one_tag(emulation.path, timeout_s=5)   # from hardware.nfc
    assert tag.ndef_message == message

Import from here: :mod:`~hardware.emulator.base`, :mod:`~hardware.emulator.type2`,
:mod:`~hardware.emulator.type4` and :mod:`~hardware.emulator.server` hold the parts.
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
