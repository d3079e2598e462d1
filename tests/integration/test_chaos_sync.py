"""The kiosk's real sync client through a chaos proxy to the real server: nothing lost, nothing twice.

The proxy (tests/integration/chaos_proxy.py) drops, delays, truncates, duplicates
and reorders requests, seeded.  The kiosk taps in bursts and syncs after each; at
the end the network heals and one more sync must leave nothing pending.  Then the
server holds each event exactly once, its chain head is the kiosk's, its own
verify passes, and so does the independent auditor (provisioning.audit) on the
published log.  500 events in the normal suite, 10,000 under ``make chaos``.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest
import requests

from protocol.clock import now_ms
from protocol.note import NoteVerifier
from server import tlog
from terminal.clock import SimulatedClock
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from tests.audit_helpers import audit_data_folder
from tests.conftest import EnrolledKiosk, ServerProcess
from tests.integration.chaos_proxy import FAULTS, ChaosProxy
from tests.integration.scale import chaos_seed, report_figure, scaled

pytestmark = pytest.mark.slow


def test_events_through_a_chaos_proxy_arrive_once_and_audit(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess, tmp_path: Path
):
    kiosk, server = enrolled_kiosk, server_process
    events = scaled(ci=500, full=10_000)
    seed = chaos_seed()
    rng = random.Random(seed)
    clock = SimulatedClock(start_wall_ms=now_ms() - events * 60_000)
    taps = kiosk.taps()
    errors: Counter[str] = Counter()
    with (
        ChaosProxy(("127.0.0.1", server.port), seed=seed, fault_rate=0.4) as proxy,
        Outbox(kiosk.config.outbox_path) as outbox,
    ):
        config = dataclasses.replace(kiosk.config, server_url=proxy.url)
        core = kiosk.tap_kiosk(outbox, clock)
        client = SyncClient(config, outbox, connect_timeout_s=5, timeout_s=30)
        tapped = 0
        while tapped < events:
            for _ in range(min(rng.randint(1, 12), events - tapped)):
                clock.advance(60)
                outcome = core.handle_tap(taps[tapped % len(taps)])
                tapped += 1
                assert outcome.seq == tapped, outcome
            result = client.sync_once()
            errors[result.error or "ok"] += 1
            # No fault of the network may look like a forked or rewritten log to the kiosk.
            assert outbox.alarm is None, (outbox.alarm, proxy.counts)

        # The network heals; requests still held back arrive late, then one more round.
        proxy.fault_rate = 0.0
        proxy.flush()
        result = client.sync_once()
        client.close()
        assert result.error is None and result.pending == 0, result
        assert outbox.alarm is None
        head = outbox.head()

    assert set(proxy.counts) >= set(FAULTS), f"every fault must have been applied: {proxy.counts}"
    with server.admin() as admin:
        verify = admin.verify()
    assert verify["ok"], verify["problems"]
    assert verify["events"] == events, "an event was lost or stored twice"
    state = requests.get(f"{server.url}/v1/kiosks/{kiosk.config.kiosk_id}", timeout=5).json()
    assert (state["last_seq"], state["head"]) == head

    verifier = NoteVerifier.parse(tlog.verifier_key(kiosk.config.log_origin, kiosk.config.server_public_key))
    report = audit_data_folder(server.data_dir, [verifier], tmp_path / "audit")
    assert report.ok, "\n".join(report.lines())
    assert report.events == events
    applied = {fault: proxy.counts[fault] for fault in FAULTS}
    report_figure(
        "events through the chaos proxy",
        events,
        requests=sum(proxy.counts.values()),
        **applied,
        rounds=sum(errors.values()),
        failed_rounds=sum(n for code, n in errors.items() if code != "ok"),
    )
