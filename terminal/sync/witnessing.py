"""The kiosk as a witness of the server's log in a round: extend the verified checkpoint, or raise the alarm.

:class:`terminal.witness.LogWitness` does the checks; this part fetches what a
round needs for them, keeps the evidence when one fails, and reports it
(docs/kiosk.md, "Witnessing the log").
"""

from __future__ import annotations

import json
import logging

from protocol import ProtocolError
from protocol.checkpoint import Checkpoint
from terminal.config import KioskConfig
from terminal.errors import LogInconsistentError, describe
from terminal.outbox import LogCheckpoint, LogUpdate, Outbox
from terminal.sync.result import StopRound
from terminal.sync.transport import Transport, kiosk_url
from terminal.sync.trust import TrustFollower
from terminal.witness import MISSING, LogWitness

log = logging.getLogger("terminal.sync")


class Witnessing:
    """Witnesses with ``witness`` over ``transport``; ``keys`` follows a rotation a checkpoint shows."""

    def __init__(
        self,
        config: KioskConfig,
        outbox: Outbox,
        transport: Transport,
        *,
        witness: LogWitness,
        keys: TrustFollower,
    ) -> None:
        self.witness = witness
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

    def report_evidence(self) -> int:
        """POST every piece of log evidence the server has not acknowledged; how many it took.

        Best effort: never raises.  The server may be the one that rewrote its log,
        but reporting costs nothing and tells its operators; the evidence stays on
        the kiosk either way (``kokreativ terminal evidence``).
        """
        reported = 0
        try:
            for evidence in self._outbox.evidence(unreported=True):
                response = self._transport.post_json(self._evidence_url, evidence.to_json())
                if response.status_code != 202:
                    log.warning("the server did not take the log evidence (HTTP %d)", response.status_code)
                    break
                self._outbox.mark_evidence_reported(evidence.id)
                reported += 1
        except Exception as exc:  # best effort: the alarm and the stored evidence are what matter
            log.warning("could not report the log evidence: %s", describe(exc))
        return reported
