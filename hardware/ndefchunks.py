"""Chunked NDEF records (NFC Forum NDEF 1.0, 3.2.3): reassembled, or refused with a reason.

A writer may split one record's payload into chunks: the first chunk carries
the type (and ID) and sets the CF flag; every further chunk has TNF 0x06
("unchanged"), no type and no ID, and sets CF except the last.  ndeflib
0.3.3 neither reassembles nor refuses that: it yields each chunk as a record
of its own, so a chunked credential would be judged by its first chunk.
:func:`unchunk` rewrites such a message into the same records unchunked,
which ndeflib then decodes as usual; a message without chunks comes back
unchanged, so everything else ndeflib decides as before.

A chunk sequence that breaks the rules is refused with
``MalformedError(bad_ndef_chunk)``: a message that ends inside one (no last
chunk, or CF on the message's last record), an "unchanged" chunk with a type
or ID, a record of another TNF where the next chunk should be, an
"unchanged" record outside a chunked one, a first chunk that is empty (TNF
0x00) or "unchanged" itself.  A chunked record whose payload adds up to
more than :data:`MAX_CHUNKED_PAYLOAD` bytes is refused with
``ndef_chunk_too_large``: no kokreativ card needs one (a credential is at
most 108 bytes), and a bound keeps a hostile tag from making the kiosk
build large records.  A message whose framing does not parse (a length
running past the end) is left to ndeflib, which refuses it
(``bad_credential``), unless it breaks off inside a chunk sequence.

Example::

    records = list(ndef.message_decoder(unchunk(message)))
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from protocol import MalformedError, Reason

MAX_CHUNKED_PAYLOAD: Final = 1024
"""Largest payload a chunked record may add up to; more than any NTAG21x holds (NTAG216: 868 bytes)."""

_MB, _ME, _CF, _SR, _IL = 0x80, 0x40, 0x20, 0x10, 0x08
_TNF_EMPTY, _TNF_UNCHANGED = 0x00, 0x06


@dataclass(frozen=True, slots=True)
class _Record:
    """One record as framed on the tag, before any reassembly."""

    header: int
    type: bytes
    id: bytes
    payload: bytes

    @property
    def tnf(self) -> int:
        return self.header & 0x07

    @property
    def chunked(self) -> bool:
        return bool(self.header & _CF)


class _Truncated(Exception):
    """The framing ran past the end of the message (or no record set ME)."""

    def __init__(self, records: list[_Record]) -> None:
        super().__init__("truncated")
        self.records = records


def _frame(message: bytes) -> list[_Record]:
    """The records up to and including the first with ME, as ndeflib reads them; :class:`_Truncated` else."""
    records: list[_Record] = []
    pos, end = 0, len(message)
    while pos < end:
        header = message[pos]
        head = 3 if header & _SR else 6
        if header & _IL:
            head += 1
        if pos + head > end:
            raise _Truncated(records)
        type_length = message[pos + 1]
        if header & _SR:
            payload_length = message[pos + 2]
        else:
            (payload_length,) = struct.unpack_from(">I", message, pos + 2)
        id_length = message[pos + head - 1] if header & _IL else 0
        start = pos + head
        stop = start + type_length + id_length + payload_length
        if stop > end:
            raise _Truncated(records)
        type_end, id_end = start + type_length, start + type_length + id_length
        records.append(
            _Record(header, message[start:type_end], message[type_end:id_end], message[id_end:stop])
        )
        pos = stop
        if header & _ME:
            return records
    raise _Truncated(records)


def _bad(detail: str) -> MalformedError:
    return MalformedError(
        Reason.BAD_NDEF_CHUNK, f"the tag's NDEF message has a broken chunked record: {detail}"
    )


def _reassemble(records: list[_Record]) -> list[_Record]:
    """The records with each chunk sequence joined into one record; raises on a broken sequence."""
    joined: list[_Record] = []
    first: _Record | None = None  # the first chunk of the sequence being read
    parts: list[bytes] = []
    size = 0
    for record in records:
        if first is None:
            if record.tnf == _TNF_UNCHANGED:
                raise _bad("an 'unchanged' record outside a chunked record")
            if not record.chunked:
                joined.append(record)
                continue
            if record.tnf == _TNF_EMPTY:
                raise _bad("an empty record cannot be chunked")
            first, parts, size = record, [record.payload], len(record.payload)
            continue
        if record.tnf != _TNF_UNCHANGED:
            raise _bad("a chunked record ends without its last chunk")
        if record.type or record.header & _IL:
            raise _bad("a middle or last chunk carries a type or an ID")
        size += len(record.payload)
        if size > MAX_CHUNKED_PAYLOAD:
            raise MalformedError(
                Reason.NDEF_CHUNK_TOO_LARGE,
                f"a chunked record adds up to more than {MAX_CHUNKED_PAYLOAD} bytes",
            )
        parts.append(record.payload)
        if not record.chunked:
            joined.append(_Record(first.header & ~_CF, first.type, first.id, b"".join(parts)))
            first = None
    if first is not None:
        raise _bad("the message ends without the last chunk")
    return joined


def _encode(records: list[_Record]) -> bytes:
    out = bytearray()
    for i, record in enumerate(records):
        flags = (_MB if i == 0 else 0) | (_ME if i == len(records) - 1 else 0)
        short = len(record.payload) < 256
        flags |= (_SR if short else 0) | (_IL if record.id else 0) | record.tnf
        out += bytes([flags, len(record.type)])
        out += bytes([len(record.payload)]) if short else struct.pack(">I", len(record.payload))
        if record.id:
            out.append(len(record.id))
        out += record.type + record.id + record.payload
    return bytes(out)


def unchunk(message: bytes) -> bytes:
    """``message`` with every chunked record reassembled; unchanged if it has no chunks.

    Raises ``MalformedError`` with ``bad_ndef_chunk`` or ``ndef_chunk_too_large``
    (see the module docstring).  A message whose framing does not parse is
    returned as it is, for ndeflib to refuse.
    """
    try:
        records = _frame(message)
    except _Truncated as cut:
        _reassemble(cut.records)  # a cut inside a chunk sequence is the chunks' fault
        return message
    if not any(r.chunked or r.tnf == _TNF_UNCHANGED for r in records):
        return message
    if not records[0].header & _MB or any(r.header & _MB for r in records[1:]):
        return message  # ndeflib refuses misplaced MB flags; reassembling must not hide them
    return _encode(_reassemble(records))
