"""The kiosk as a witness of the server's transparency log (docs/protocol.md, "Receipts with proofs").

Before a receipt is applied: the checkpoint verifies with the pinned server key
under the log's origin, it extends the last checkpoint this kiosk verified
(:class:`LogInconsistentError` otherwise: evidence that history was
rewritten, which :mod:`terminal.sync` keeps and raises an alarm for), and
every event of the batch is in the log.  The order, the reason codes and the
origin pinned on first use are in the protocol document.  Nothing here does
I/O besides reading the pinned origin.

Example::

    witness = LogWitness(server_key=config.server_public_key, origin=config.log_origin, outbox=outbox)
    checkpoint = witness.verify_checkpoint(note)
    witness.check_consistency(outbox.log_checkpoint(), checkpoint, answer.get("consistency", MISSING))
    witness.check_inclusion(batch, answer.get("entries"), checkpoint)
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Final

from protocol import (
    MalformedError,
    ProtocolError,
    PublicKey,
    Reason,
    SignedEvent,
    VerificationError,
    b64decode,
    event_hash,
)
from protocol.checkpoint import Checkpoint, verify_checkpoint
from protocol.logentry import (
    PRIVATE_ENTRY_VERSION,
    event_leaf_hash,
    private_event_leaf_hash,
    sealed_event_entry,
)
from protocol.merkle import HASH_BYTES, ProofError, leaf_hash, verify_consistency, verify_inclusion
from protocol.note import NoteVerifier, parse_note
from terminal.errors import LogInconsistentError
from terminal.outbox import LogCheckpoint, OutboxReader
from terminal.serverkey import pinned_server_key

MISSING: Final = object()
"""Stands for a ``consistency`` field that the answer does not have."""


def _bad_proof(message: str) -> VerificationError:
    return VerificationError(Reason.BAD_PROOF, message)


def note_bytes(value: object) -> bytes:
    """The checkpoint note from an answer's ``checkpoint`` field; ``bad_checkpoint`` if there is none.

    A server without a transparency log sends no checkpoint.  Kiosk and server are
    upgraded together, so that is refused like any unusable checkpoint.
    """
    if not isinstance(value, str) or not value:
        raise MalformedError(
            Reason.BAD_CHECKPOINT, "the answer has no signed checkpoint (is the server current?)"
        )
    return value.encode("utf-8")


def _hashes(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise _bad_proof(f"{what} is not a list of hashes")
    try:
        return [b64decode(item, field=what, length=HASH_BYTES) for item in value]
    except MalformedError as exc:
        raise _bad_proof(exc.message) from exc


def _proof_strings(value: object) -> list[str]:
    """What the server sent as a proof, kept verbatim as evidence (only its strings)."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


class LogWitness:
    """Checks checkpoints and proofs with the server key and the pinned origin (see the module docstring)."""

    def __init__(self, *, server_key: PublicKey, origin: str | None, outbox: OutboxReader) -> None:
        self._enrolled_key = server_key  # the fallback until a rotation pins another key in the outbox
        self._origin = origin
        self._outbox = outbox

    def pinned_origin(self) -> str | None:
        """The config's origin, else the one pinned on first use, else ``None`` (nothing verified yet).

        Either moves on along the log hand-overs this kiosk followed (docs/protocol.md, "Log hand-over").
        """
        origin = self._origin if self._origin is not None else self._outbox.log_origin()
        for followed in self._outbox.log_handovers():
            if followed.old_origin == origin:
                origin = followed.new_origin
        return origin

    def server_key(self) -> PublicKey:
        """The server key pinned now (the other process may have followed a rotation)."""
        return pinned_server_key(self._outbox, self._enrolled_key)

    def verify_checkpoint(self, note: bytes) -> Checkpoint:
        """The checkpoint in ``note`` if the server key signed it under the pinned origin; else raise."""
        origin = self.pinned_origin()
        if origin is None:
            # Trust on first use: the origin the note names, but only with a signature by the server key.
            origin = parse_note(note).text.split("\n", 1)[0]
        # The key pinned now, not at start-up: the other process may have followed a rotation.
        verifier = NoteVerifier.for_key(origin, pinned_server_key(self._outbox, self._enrolled_key))
        return verify_checkpoint(note, [verifier], origin=origin)

    def check_consistency(self, old: LogCheckpoint | None, new: Checkpoint, proof: object) -> None:
        """Raise :class:`LogInconsistentError` unless ``new`` extends ``old`` as ``proof`` shows.

        ``proof`` is the answer's ``consistency`` field, or :data:`MISSING`.  With no
        ``old`` there is nothing to extend.  A missing or malformed proof fails like a
        wrong one: a server that cannot show that its log only grew is treated as one
        whose log did not.  The one exception is an unchanged log (same size, same
        root), which has nothing to prove.
        """
        if old is None:
            return
        evidence = _proof_strings(proof)
        prefix = f"checkpoint of size {new.size} does not extend the verified one of size {old.size}"
        if new.size < old.size:
            raise LogInconsistentError(f"{prefix}: the log shrank", consistency=evidence)
        same_root = hmac.compare_digest(new.root_hash, old.root)
        if new.size == old.size and same_root:
            return  # nothing appended, nothing rewritten; whatever proof came along proves nothing
        if proof is MISSING:
            raise LogInconsistentError(f"{prefix}: the server sent no consistency proof", consistency=[])
        try:
            hashes = _hashes(proof, "consistency")
            verify_consistency(old.size, new.size, hashes, old.root, new.root_hash)
        except (ProtocolError, ProofError) as exc:
            message = exc.message if isinstance(exc, ProtocolError) else str(exc)
            raise LogInconsistentError(f"{prefix}: {message}", consistency=evidence) from exc

    def check_inclusion(self, batch: Sequence[SignedEvent], entries: object, checkpoint: Checkpoint) -> None:
        """Raise ``bad_proof`` unless every event of ``batch`` has an entry proven to be under the root."""
        if not isinstance(entries, list):
            raise _bad_proof("the answer has no entries with inclusion proofs")
        by_seq: dict[int, dict[str, object]] = {}
        for item in entries:
            seq = item.get("seq") if isinstance(item, dict) else None
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise _bad_proof("an entries item has no seq")
            if seq in by_seq:
                raise _bad_proof(f"two entries items for seq {seq}")
            assert isinstance(item, dict)
            by_seq[seq] = item
        for signed in batch:
            seq = signed.event.seq
            item = by_seq.get(seq)
            if item is None:
                raise _bad_proof(f"no inclusion proof for event {seq}")
            index, received_ms, flags = item.get("index"), item.get("received_ms"), item.get("flags")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (index, received_ms)):
                raise _bad_proof(f"entry of event {seq}: index and received_ms are integers")
            if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
                raise _bad_proof(f"entry of event {seq}: flags is a list of reason codes")
            assert isinstance(index, int) and isinstance(received_ms, int)
            private = _entry_version(item, seq) == PRIVATE_ENTRY_VERSION
            hashes = _hashes(item.get("hashes"), f"inclusion proof of event {seq}")
            size, root = self._tree_of(item, checkpoint)
            try:
                if item.get("entry") == "event_sealed":
                    leaf = leaf_hash(_sealed_entry(signed, item, received_ms))
                elif private:  # the entry shows the signed bytes and the UTC day; flags are the kiosk's own
                    leaf = private_event_leaf_hash(signed.body, signed.signature, received_ms=received_ms)
                else:
                    leaf = event_leaf_hash(
                        signed.body, signed.signature, received_ms=received_ms, flags=flags
                    )
                verify_inclusion(leaf, index, size, hashes, root)
            except ProtocolError as exc:
                raise _bad_proof(f"entry of event {seq}: {exc.message}") from exc
            except ProofError as exc:
                raise _bad_proof(f"event {seq} at index {index}: {exc}") from exc

    def _tree_of(self, item: dict[str, object], checkpoint: Checkpoint) -> tuple[int, bytes]:
        """``(size, root)`` an item's proof is against: the checkpoint's, or an archived log's final one.

        An event stored before a log hand-over (resent because its answer was lost) is in
        the archived origin; the kiosk knows that log's final tree head from the hand-over it followed.
        """
        origin = item.get("origin")
        if origin is None or origin == checkpoint.origin:
            return checkpoint.size, checkpoint.root_hash
        for followed in self._outbox.log_handovers():
            if followed.old_origin == origin:
                return followed.old_size, followed.old_root
        raise _bad_proof(f"an entry in the log {origin!r}, which this kiosk never followed a hand-over from")


def _sealed_entry(signed: SignedEvent, item: dict[str, object], received_ms: int) -> bytes:
    """The ``event_sealed`` entry of ``signed`` as ``item`` describes it: a v1 event admitted into a log
    that names no card, by its chain position, a commitment the server made and the UTC day."""
    event, ref = signed.event, item.get("ref")
    if not isinstance(ref, str):
        raise _bad_proof(f"entry of event {event.seq}: an event_sealed item names its ref")
    return sealed_event_entry(
        kiosk=event.kiosk,
        seq=event.seq,
        body_hash=event_hash(signed.body),
        prev=event.prev,
        ref=ref,
        received_ms=received_ms,
    )


def _entry_version(item: Mapping[str, object], seq: int) -> int:
    """The entry version an item describes: ``"v": 2`` (no card, no flags, the UTC day), else 1."""
    if "v" not in item:
        return 1
    if item["v"] != PRIVATE_ENTRY_VERSION:
        raise _bad_proof(f"entry of event {seq}: entry version {item['v']!r} is not known")
    return PRIVATE_ENTRY_VERSION
