"""The kiosk as a witness of the server's log in a round: extend the verified checkpoint, or raise the alarm.

:class:`terminal.witness.LogWitness` does the checks; this part fetches what a
round needs for them, keeps the evidence when one fails, and reports it
(docs/kiosk.md, "Witnessing the log").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import requests

from protocol import PrivateKey, ProtocolError, Reason
from protocol.checkpoint import Checkpoint
from protocol.evidence import EvidenceReport, sign_evidence
from terminal.config import KioskConfig
from terminal.errors import LogInconsistentError, describe
from terminal.outbox import LogCheckpoint, LogEvidence, LogUpdate, Outbox
from terminal.sync.result import StopRound, error_of
from terminal.sync.transport import Transport, kiosk_url
from terminal.sync.trust import TrustFollower
from terminal.witness import MISSING, LogWitness

log = logging.getLogger("terminal.sync")


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
