"""The kiosk as a witness of the server's log in a round: extend the verified checkpoint, or raise the alarm.

:class:`terminal.witness.LogWitness` does the checks; this part fetches what a
round needs for them, keeps the evidence when one fails, and reports it
(docs/kiosk.md, "Witnessing the log").
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Final
from urllib.parse import urlencode

import requests

from protocol import MalformedError, PrivateKey, ProtocolError, Reason, VerificationError, b64decode
from protocol.checkpoint import Checkpoint, verify_checkpoint
from protocol.evidence import EvidenceReport, sign_evidence
from protocol.handover import verify_handover
from protocol.merkle import HASH_BYTES, ProofError, verify_consistency
from protocol.note import NoteVerifier
from terminal.config import KioskConfig
from terminal.errors import LogInconsistentError, describe
from terminal.outbox import FollowedHandover, LogCheckpoint, LogEvidence, LogUpdate, Outbox
from terminal.sync.result import LOG_HANDED_OVER, StopRound, error_of
from terminal.sync.transport import Transport, kiosk_url
from terminal.sync.trust import TrustFollower
from terminal.witness import MISSING, LogWitness, note_bytes

log = logging.getLogger("terminal.sync")
# GET /v1/log/handover of a server whose log never moved: nothing to follow.
_NO_HANDOVER: Final = frozenset({Reason.NOT_FOUND.value, "http_404"})


class Witnessing:
    """Witnesses with ``witness`` over ``transport``; ``keys`` follows a rotation a checkpoint shows.

    ``signing_key`` gives the kiosk's own key, which signs the evidence it reports.
    """

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        transport: Transport,
        *,
        witness: LogWitness,
        keys: TrustFollower,
        signing_key: Callable[[], PrivateKey],
    ) -> None:
        self.witness = witness
        self._kiosk_id = config.kiosk_id
        self._signing_key = signing_key
        self._outbox = outbox
        self._transport = transport
        self._keys = keys
        self._evidence_url = f"{kiosk_url(config)}/evidence"

    def check_extends(
        self, verified: LogCheckpoint | None, note: bytes, checkpoint: Checkpoint, proof: object
    ) -> None:
        """Rule 2; on failure set the alarm, keep and report the evidence, and stop the round."""
        try:
            self.witness.check_consistency(verified, checkpoint, proof)
        except LogInconsistentError as exc:
            assert verified is not None  # nothing to be inconsistent with otherwise
            log.error("the server's log is inconsistent with the one this kiosk verified: %s", exc.message)
            self._outbox.record_log_inconsistency(
                old_note=verified.note, new_note=note, consistency=exc.consistency, detail=exc.message
            )
            self.report_evidence()
            raise StopRound(exc.code, exc.message) from exc

    def witness_latest(self) -> None:
        """With nothing sent this round: fetch the latest checkpoint and check that it extends ours."""
        server_url = self._transport.server_url
        verified = self._outbox.log_checkpoint()
        note = self._transport.get(f"{server_url}/checkpoint", what="checkpoint")
        try:
            checkpoint = self.witness.verify_checkpoint(note)
        except ProtocolError as exc:
            self.follow_if_handed_over(note.decode("utf-8", "replace"))
            self._keys.follow_if_rotated(exc)
            raise StopRound(exc.reason.value, exc.message) from exc
        proof: object = []
        if verified is not None and checkpoint.size > verified.size:
            url = f"{server_url}/v1/log/consistency?from={verified.size}&to={checkpoint.size}"
            raw = self._transport.get(url, what="consistency proof")
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            proof = answer.get("hashes", MISSING) if isinstance(answer, dict) else MISSING
        self.check_extends(verified, note, checkpoint, proof)
        if verified is not None and verified.note == note:
            return  # an idle log: no write every few seconds to the SD card for nothing new
        self._outbox.save_log_checkpoint(LogUpdate(note=note, checkpoint=checkpoint, replaces=verified))

    def follow_if_handed_over(self, note: object) -> None:
        """If ``note`` is a checkpoint of another origin than the pinned one, follow the log's hand-over.

        The server moved a log that named cards to a new origin (docs/protocol.md, "Log
        hand-over").  Followed only when the hand-over verifies with the pinned server
        key, starts at the pinned origin, ends at the note's, comes with the new log's
        checkpoint at its size, and the checkpoint this kiosk verified last is consistent
        with the old log's final one (a proof from the archived origin).  Then the new
        origin and that checkpoint are pinned and the round stops with ``log_handed_over``
        (run again at once).  Any failure keeps the alarm ``log_inconsistent`` and its
        evidence, as for a log that was rewritten; a network error only ends the round.
        Returns when ``note`` is not of another origin, or the server has no hand-over
        (``404``): its failure was something else, whose error stands (as when a key
        rotation cannot be followed).
        """
        pinned = self.witness.pinned_origin()
        origin = _note_origin(note)
        if pinned is None or origin is None or origin == pinned:
            return
        assert isinstance(note, str)
        verified = self._outbox.log_checkpoint()
        try:
            raw = self._transport.get(f"{self._transport.server_url}/v1/log/handover", what="log hand-over")
        except StopRound as halt:
            if halt.code in _NO_HANDOVER:
                return
            raise
        try:
            followed, document, update = self._check_handover(raw, pinned, origin, verified)
        except (ProtocolError, ProofError, LogInconsistentError) as exc:
            message = exc.message if isinstance(exc, (ProtocolError, LogInconsistentError)) else str(exc)
            detail = (
                f"a checkpoint of origin {origin!r}, not the pinned {pinned!r}, without a valid hand-over: "
            )
            log.error("%s%s", detail, message)
            self._outbox.record_log_inconsistency(
                old_note=verified.note if verified else b"",
                new_note=note.encode(),
                consistency=[],
                detail=detail + message,
            )
            self.report_evidence()
            raise StopRound(Reason.LOG_INCONSISTENT.value, detail + message) from exc
        if not self._outbox.follow_log_handover(followed, document, update):
            raise StopRound(Reason.LOG_INCONSISTENT.value, "the stored checkpoint changed while following")
        log.warning("the server's log moved from %s to %s: following its signed hand-over", pinned, origin)
        raise StopRound(LOG_HANDED_OVER, f"now pinning log origin {origin}")

    def _check_handover(
        self, raw: bytes, pinned: str, origin: str, verified: LogCheckpoint | None
    ) -> tuple[FollowedHandover, str, LogUpdate]:
        """The checks of :meth:`follow_if_handed_over` on the answer ``raw``; raise at the first failure."""
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise MalformedError(Reason.BAD_HANDOVER, "the hand-over answer is not a JSON object")
        key = self.witness.server_key()
        handover = verify_handover(answer.get("handover"), key)
        if handover.old_origin != pinned or handover.new_origin != origin:
            raise VerificationError(
                Reason.BAD_HANDOVER,
                f"the hand-over goes from {handover.old_origin!r} to {handover.new_origin!r}",
            )
        first = note_bytes(answer.get("checkpoint"))
        checkpoint = verify_checkpoint(first, [NoteVerifier.for_key(origin, key)], origin=origin)
        if checkpoint.size != handover.new_size:
            raise VerificationError(
                Reason.BAD_HANDOVER, "the new log's checkpoint is not at the hand-over's size"
            )
        if verified is not None:
            self._check_old_log(verified, pinned, handover.old_size, handover.old_root)
        followed = FollowedHandover(pinned, origin, handover.old_size, handover.old_root)
        document = json.dumps(answer["handover"], sort_keys=True)
        return followed, document, LogUpdate(note=first, checkpoint=checkpoint, replaces=verified)

    def _check_old_log(self, verified: LogCheckpoint, pinned: str, old_size: int, old_root: bytes) -> None:
        """Raise unless ``verified`` (of the pinned origin) is a prefix of the old log's final tree."""
        if verified.origin != pinned:
            raise LogInconsistentError(
                f"the verified checkpoint is of {verified.origin!r}, not {pinned!r}", consistency=[]
            )
        if verified.size > old_size:
            raise LogInconsistentError(
                f"the old log ended at {old_size}, before the verified {verified.size}", consistency=[]
            )
        if verified.size == old_size:
            if not hmac.compare_digest(verified.root, old_root):
                raise LogInconsistentError("the old log's final root is not the verified one", consistency=[])
            return
        query = urlencode({"origin": pinned, "from": verified.size, "to": old_size})
        raw = self._transport.get(
            f"{self._transport.server_url}/v1/log/consistency?{query}", what="old log proof"
        )
        try:
            hashes = json.loads(raw).get("hashes")
            proof = [b64decode(h, field="consistency", length=HASH_BYTES) for h in hashes]
        except (ValueError, AttributeError, TypeError) as exc:
            raise LogInconsistentError(
                "the archived log's consistency proof is malformed", consistency=[]
            ) from exc
        verify_consistency(verified.size, old_size, proof, verified.root, old_root)

    def signed_report(self, evidence: LogEvidence) -> dict[str, str]:
        """The wire form of ``evidence``: a report numbered by its outbox ID, signed by the kiosk's key.

        Cut to the protocol's limits if a hostile server sent more than fits (``truncated``).
        """
        report = EvidenceReport.clipped(
            kiosk=self._kiosk_id,
            number=evidence.id,
            kind=evidence.kind,
            old_checkpoint=evidence.old_checkpoint,
            new_checkpoint=evidence.new_checkpoint,
            consistency=evidence.consistency,
            detail=evidence.detail,
            detected_ms=evidence.detected_ms,
        )
        return sign_evidence(report, self._signing_key())

    def report_evidence(self) -> int:
        """POST every piece of log evidence the server has not acknowledged; how many it took.

        Best effort: never raises.  The server may be the one that rewrote its log,
        but reporting costs nothing and tells its operators; the evidence stays on
        the kiosk either way (``kokreativ terminal evidence``).  ``409 duplicate`` means
        the server holds that report already (an earlier answer was lost): it counts as taken.
        """
        reported = 0
        try:
            for evidence in self._outbox.evidence(unreported=True):
                response = self._transport.post_json(self._evidence_url, self.signed_report(evidence))
                if response.status_code != 202 and not _already_held(response):
                    log.warning("the server did not take the log evidence (HTTP %d)", response.status_code)
                    break
                self._outbox.mark_evidence_reported(evidence.id)
                reported += 1
        except Exception as exc:  # best effort: the alarm and the stored evidence are what matter
            log.warning("could not report the log evidence: %s", describe(exc))
        return reported


def _already_held(response: requests.Response) -> bool:
    """Whether the server refused a report as one it holds already (``409 duplicate``)."""
    if response.status_code != 409:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return error_of(body)[0] == Reason.DUPLICATE.value


def _note_origin(note: object) -> str | None:
    """The origin line of a checkpoint note, unverified (only to notice a log that moved), or ``None``."""
    if not isinstance(note, str) or not note:
        return None
    first = note.split("\n", 1)[0]
    return first or None
