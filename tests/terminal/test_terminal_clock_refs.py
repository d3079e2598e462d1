"""A kiosk that booted at 1970 after a power cut, corrected by its sync's clock sample, through a real
``kokreativ server run`` process.

The kiosk signs a heartbeat (its boot and monotonic time) into every sync request; the server's
receive time for it ties that boot's monotonic clock to real time (``protocol.clockref``).  So
a shift worked on a clock that never synced is paid, at the right real time, and the sample
that made it so is in the public log for an auditor to replay.  Without the sample of the
events' own boot the same taps stay at 1970 and go to review.

The shift is four minutes at a site paying 150 tokens an hour (10 tokens), not an hour at the
fixture's 10.  Placed at real time, it ends when the sync arrives, seconds after the fixture
enrolled the kiosk, and starts its length before that; the server rightly holds a shift that
starts more than 5 minutes before its kiosk's enrolment (``before_enrolment``).  On a real kiosk
monotonic time keeps pace with real time, so simulated time cannot be longer here either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from hardware.reader import Tap
from protocol.clock import now_ms
from protocol.heartbeat import parse_heartbeat
from protocol.logentry import parse_entry
from provisioning.audit.sources import HttpSource
from provisioning.enrol import enrol_kiosk
from terminal.clock import SimulatedClock
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from terminal.tap import Outcome
from tests.cardfactory import uid_for
from tests.conftest import EnrolledKiosk, ServerProcess

HOUR_MS = 3_600_000
SHIFT_MS = 4 * 60_000  # within the 5 minutes before its enrolment the server takes a shift start from
TOKENS_PER_HOUR = 150  # so the four minutes earn 10 tokens
BOOT = "5f0c1e2a-9b7d-4c3e-8a61-2d4f6b8e0c13"  # the kiosk's boot: not this machine's, nor SystemClock's


class RecordingSession(requests.Session):
    """A real session that keeps the JSON answer of every batch POST (the server's event results)."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_answers: list[Any] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, *args, **kwargs)
        if str(method).upper() == "POST" and str(url).endswith("/events"):
            self.batch_answers.append(response.json())
        return response


@pytest.fixture
def quick_kiosk(
    enrolled_kiosk: EnrolledKiosk, server_process: ServerProcess, tmp_path: Path
) -> EnrolledKiosk:
    """A kiosk at a site paying :data:`TOKENS_PER_HOUR`, for ``enrolled_kiosk``'s cards and issuer."""
    with server_process.admin() as admin:
        site = admin.add_site("Quick site", tokens_per_hour=TOKENS_PER_HOUR)
        code = admin.create_enrolment_code(site["site_id"])["code"]
    config_path, config = enrol_kiosk(server_process.url, code, tmp_path / "quick-kiosk")
    return EnrolledKiosk(config_path, config, enrolled_kiosk.card_ids, enrolled_kiosk.issuer)


def _work_a_shift_on_a_1970_clock(enrolled: EnrolledKiosk, outbox: Outbox, clock: SimulatedClock) -> str:
    """Check a registered card in and, :data:`SHIFT_MS` of monotonic time later, out; both taps unsynced."""
    kiosk = enrolled.tap_kiosk(outbox, clock)
    card = enrolled.card_ids[0]
    # A card of the default issue, valid from 2023: an unsynced clock judges only expiry
    # (docs/protocol.md, "Card credential"), so the 1970 kiosk still takes it.
    tap = Tap(uid=uid_for(card), ndef=enrolled.issuer.ndef(card))
    assert kiosk.handle_tap(tap).kind is Outcome.CHECK_IN
    clock.advance(SHIFT_MS / 1000)
    assert kiosk.handle_tap(tap).kind is Outcome.CHECK_OUT
    taken = outbox.events_from(1, 10)
    assert [(e.event.clock.synced, e.event.clock.boot_id) for e in taken] == [(False, BOOT)] * 2
    assert all(e.event.clock.wall_ms <= 5_000 + SHIFT_MS for e in taken)  # still 1970 on the wall
    return card


def _shifts(server: ServerProcess, card: str) -> list[dict[str, Any]]:
    response = requests.get(
        f"{server.url}/v1/cards/{card}/shifts",
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    shifts: list[dict[str, Any]] = response.json()["shifts"]
    return shifts


def _log(server: ServerProcess) -> list[dict[str, Any]]:
    """Every entry of the server's public transparency log, read from its tiles."""
    source = HttpSource(server.url)
    try:
        size = int(source.checkpoint().decode().splitlines()[1])
        return [parse_entry(entry) for piece in source.pieces(size) for entry in piece.entries]
    finally:
        source.close()


def _flags(session: RecordingSession) -> list[list[str]]:
    [answer] = session.batch_answers
    return [result["flags"] for result in answer["results"]]


def test_a_shift_on_a_1970_clock_is_paid_at_the_servers_time_by_the_syncs_clock_sample(
    quick_kiosk: EnrolledKiosk, server_process: ServerProcess
) -> None:
    """The sync client signs its sample with the taps' own clock, so the server can place them."""
    config = quick_kiosk.config
    clock = SimulatedClock(5_000, synced=False, boot_id=BOOT, start_mono_ms=40_000)
    session = RecordingSession()
    with Outbox(config.outbox_path) as outbox:
        card = _work_a_shift_on_a_1970_clock(quick_kiosk, outbox, clock)
        with SyncClient(
            config, outbox, session=session, key=load_key(config.key_path), clock=clock
        ) as client:
            before = now_ms()
            result = client.sync_once()
            after = now_ms()
        assert result.ok and (result.sent, result.acknowledged, result.pending) == (2, 2, 0), result

    # Neither tap is out of range: each counted at the server's time, not at 1970.
    assert _flags(session) == [[], []]

    # Exactly one sample was logged, the one of this batch: the kiosk's own signed reading of the
    # check-out's boot and monotonic time, received while the sync ran.
    refs = [entry for entry in _log(server_process) if entry["kind"] == "clock_ref"]
    assert len(refs) == 1
    [ref] = refs
    beat = parse_heartbeat(ref["body"])
    load_key(config.key_path).public_key.verify(ref["body"], ref["sig"])
    assert (beat.kiosk, beat.boot, beat.synced, beat.mono_ms) == (config.kiosk_id, BOOT, False, clock.mono_ms)
    received = ref["received_ms"]
    assert before <= received <= after

    # The shift is paid for its four minutes and placed at real time: it ends when the sample arrived
    # (the check-out and the sample share a monotonic reading) and starts four minutes before.
    [shift] = _shifts(server_process, card)
    assert (shift["status"], shift["reason"], shift["minutes"], shift["tokens"]) == ("paid", None, 4, 10)
    assert (shift["start_ms"], shift["end_ms"]) == (received - SHIFT_MS, received)
    assert before - SHIFT_MS <= shift["start_ms"] <= after - SHIFT_MS


def test_without_a_sample_of_the_taps_boot_the_1970_clock_stays_uncorrected(
    quick_kiosk: EnrolledKiosk, server_process: ServerProcess
) -> None:
    """A sync client on the machine's own clock signs another boot: nothing corrects the taps.

    This is the control for the test above: the same taps and sync, only the sample's clock
    differs, so the correction there came from the sample and not from anything else.
    """
    config = quick_kiosk.config
    clock = SimulatedClock(5_000, synced=False, boot_id=BOOT, start_mono_ms=40_000)
    session = RecordingSession()
    with Outbox(config.outbox_path) as outbox:
        card = _work_a_shift_on_a_1970_clock(quick_kiosk, outbox, clock)
        with SyncClient(config, outbox, session=session, key=load_key(config.key_path)) as client:
            result = client.sync_once()
        assert result.ok and (result.sent, result.acknowledged, result.pending) == (2, 2, 0), result

    assert _flags(session) == [["clock_out_of_range"], ["clock_out_of_range"]]
    assert [entry for entry in _log(server_process) if entry["kind"] == "clock_ref"] == []
    [shift] = _shifts(server_process, card)
    assert (shift["status"], shift["reason"], shift["tokens"]) == ("review", "clock_out_of_range", 0)
    assert shift["start_ms"] < HOUR_MS  # still 1970
