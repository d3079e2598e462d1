"""A kiosk of the code before issue 17, run by :mod:`tests.integration.test_log_handover`.

Not imported by the tests: its source is run with ``python -c`` in the old tree (``git archive``
of the commit before issue 17, the working directory and ``PYTHONPATH``), so the kiosk's
configuration and outbox are written by the old code, as a kiosk in the field wrote them before
its software update.  It enrols with a one-time code, checks ``cards[0]`` in and syncs (the
kiosk pins the old origin), then checks it out an hour later without syncing (``pending``: the
v1 event waits in the outbox for the update) or sends that check-out and loses the answer
(``lost_receipt``).  It prints a JSON object: the configuration's path and the kiosk clock.
``sync`` runs one round of the old kiosk, as it goes on syncing between the server's upgrade and
its own: it prints the round's error, its alarm and the events still pending.

Usage: ``python -c "$(cat old_kiosk.py)" enrol URL CODE FOLDER ISSUER_SEED_HEX CARD_ID MODE``
or ``python -c "$(cat old_kiosk.py)" sync CONFIG``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import requests

from hardware.indicator import RecordingIndicator
from protocol import PrivateKey, encode_batch
from provisioning.enrol import enrol_kiosk
from terminal.config import load_config
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer
from tests.conftest import clock_from_now

MODES = ("pending", "lost_receipt")


def enrol(url: str, code: str, folder: str, seed_hex: str, card: str, mode: str) -> dict[str, object]:
    if mode not in MODES:
        raise SystemExit(f"mode must be one of {MODES}, not {mode!r}")
    config_path, config = enrol_kiosk(url, code, Path(folder))
    issuer = TestIssuer(PrivateKey(bytes.fromhex(seed_hex)))
    clock = clock_from_now()
    with Outbox(config.outbox_path) as outbox:
        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        kiosk = Kiosk(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=trust,
        )
        assert kiosk.handle_tap(issuer.tap(card)).kind is Outcome.CHECK_IN
        with SyncClient(config, outbox) as client:
            synced = client.sync_once()
        assert synced.ok, synced
        pinned = outbox.log_checkpoint()
        assert pinned is not None and pinned.size > 0
        clock.advance(3600)
        assert kiosk.handle_tap(issuer.tap(card)).kind is Outcome.CHECK_OUT
        if mode == "lost_receipt":  # sent as a round sends it; the answer never reaches the outbox
            sent = requests.post(
                f"{url}/v1/kiosks/{config.kiosk_id}/events",
                data=encode_batch(outbox.pending()),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert sent.status_code == 200, sent.text
        assert [signed.event.seq for signed in outbox.pending()] == [2]
        now = clock.now()
    return {"config": str(config_path), "wall_ms": now.wall_ms, "mono_ms": now.mono_ms}


def sync(config_path: str) -> dict[str, object]:
    config = load_config(Path(config_path))
    with Outbox(config.outbox_path) as outbox:
        with SyncClient(config, outbox) as client:
            result = client.sync_once()
        return {"error": result.error, "alarm": outbox.alarm_code, "pending": outbox.pending_count()}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    print(json.dumps(enrol(*args) if command == "enrol" else sync(*args)))
