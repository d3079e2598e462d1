"""NDEF records split into chunks (NFC Forum NDEF 1.0, 3.2.3), built byte by byte for tests.

ndeflib cannot write chunked records, so tests frame them here: each chunk is
a short record (SR) with the flags the spec asks for, unless a test asks for
a broken one.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

MB, ME, CF, SR, IL = 0x80, 0x40, 0x20, 0x10, 0x08
TNF_EXTERNAL, TNF_UNCHANGED = 0x04, 0x06
CREDENTIAL_TYPE = b"kokreativ.org:cred"  # the external type of urn:nfc:ext:kokreativ.org:cred


def record(flags: int, tnf: int, rtype: bytes, payload: bytes, rid: bytes = b"") -> bytes:
    """One record with exactly these flags (SR and IL are set from the lengths)."""
    short = len(payload) < 256
    header = flags | tnf | (SR if short else 0) | (IL if rid else 0)
    length = bytes([len(payload)]) if short else struct.pack(">I", len(payload))
    return bytes([header, len(rtype)]) + length + (bytes([len(rid)]) if rid else b"") + rtype + rid + payload


def split(payload: bytes, sizes: Sequence[int]) -> list[bytes]:
    """``payload`` cut at the given chunk sizes; the rest is the last chunk."""
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(payload[pos : pos + size])
        pos += size
    chunks.append(payload[pos:])
    return chunks


def chunked(
    chunks: Sequence[bytes], *, rtype: bytes = CREDENTIAL_TYPE, first: bool = True, last: bool = True
) -> bytes:
    """One external record of ``rtype`` sent as ``chunks`` (at least two); ``first``/``last`` set MB/ME."""
    assert len(chunks) >= 2, "a chunked record has at least two chunks"
    out = record((MB if first else 0) | CF, TNF_EXTERNAL, rtype, chunks[0])
    for chunk in chunks[1:-1]:
        out += record(CF, TNF_UNCHANGED, b"", chunk)
    return out + record(ME if last else 0, TNF_UNCHANGED, b"", chunks[-1])
