"""The kiosk's metrics file for node_exporter's textfile collector: written by the sync loop, parsed."""

from __future__ import annotations

import dataclasses
import io
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from protocol import PrivateKey, ids, sign_trust_list
from terminal.config import KioskConfig, load_config, write_config
from terminal.metricsfile import MetricsFile
from terminal.outbox import Outbox
from terminal.service import open_service
from terminal.tap import Kiosk, Tap
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer, uid_for
from tests.terminal.conftest import FakeLedger


def read(path: Path) -> list[Sample]:
    text = path.read_text(encoding="utf-8")
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float | None:
    hits = [s for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert len(hits) <= 1, hits
    return hits[0].value if hits else None


def test_pending_events_their_oldest_time_the_reader_and_an_alarm(
    kiosk: Kiosk, outbox: Outbox, config: KioskConfig, card_tap: Callable[[str], Tap], tmp_path: Path
) -> None:
    path = tmp_path / "textfile" / "kokreativ.prom"
    path.parent.mkdir()
    file = MetricsFile(path)
    assert file.update(
        outbox, kiosk_id=config.kiosk_id, site_id=config.site_id, reader=lambda: "ok", now_ms=0
    )
    found = read(path)
    assert value(found, "kokreativ_kiosk_outbox_pending_events") == 0
    assert value(found, "kokreativ_kiosk_oldest_pending_timestamp_seconds") is None  # none waits
    assert value(found, "kokreativ_kiosk_last_sync_timestamp_seconds") is None  # never synced
    assert value(found, "kokreativ_kiosk_alarm") == 0
    assert value(found, "kokreativ_kiosk_info", kiosk=config.kiosk_id, site=config.site_id) == 1

    cards = [ids.new_id(ids.CARD) for _ in range(2)]
    first = kiosk.handle_tap(card_tap(cards[0]))
    kiosk.handle_tap(card_tap(cards[1]))
    outbox.record_log_inconsistency(old_note=b"old", new_note=b"new", consistency=[], detail="log rewritten")
    assert file.update(
        outbox, kiosk_id=config.kiosk_id, site_id=config.site_id, reader=lambda: "missing", now_ms=1_000
    )
    found = read(path)
    assert value(found, "kokreativ_kiosk_events_total") == 2
    assert value(found, "kokreativ_kiosk_outbox_pending_events") == 2
    oldest = outbox.pending(limit=1)[0].event
    assert oldest.seq == 1 and first is not None
    assert value(found, "kokreativ_kiosk_oldest_pending_timestamp_seconds") == oldest.clock.wall_ms / 1000
    assert value(found, "kokreativ_kiosk_reader", state="missing") == 1
    assert value(found, "kokreativ_kiosk_reader", state="ok") == 0
    assert value(found, "kokreativ_kiosk_alarm", code="log_inconsistent") == 1
    # Nothing of a card in the file: no card ID, no UID.
    text = path.read_text(encoding="utf-8")
    assert not [card for card in cards if card in text or uid_for(card).hex() in text]
    # Readable by node_exporter (another user), and no temporary file left behind.
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["kokreativ.prom"]

    # Unchanged figures are not written again until a minute has passed (the SD card), then they are.
    same = {"kiosk_id": config.kiosk_id, "site_id": config.site_id, "reader": lambda: "missing"}
    assert not file.update(outbox, **same, now_ms=30_000)
    assert file.update(outbox, **same, now_ms=61_000)


def test_a_folder_that_is_missing_is_logged_and_the_loop_goes_on(
    outbox: Outbox, config: KioskConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="terminal.metrics")
    file = MetricsFile(tmp_path / "no-such-folder" / "kokreativ.prom")
    for now in (0, 100_000):
        assert not file.update(
            outbox, kiosk_id=config.kiosk_id, site_id=config.site_id, reader=str, now_ms=now
        )
    assert [r.levelname for r in caplog.records if "metrics file" in r.getMessage()] == ["WARNING", "DEBUG"]


def test_metrics_file_in_kiosk_toml(config: KioskConfig, tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    write_config(path, config)
    assert load_config(path).metrics_file is None  # off unless set
    write_config(path, dataclasses.replace(config, metrics_file=Path("/var/lib/node_exporter/x.prom")))
    assert load_config(path).metrics_file == Path("/var/lib/node_exporter/x.prom")


ISSUER = TestIssuer()


def test_the_kiosk_s_sync_thread_writes_the_file_after_its_rounds(
    config: KioskConfig,
    kiosk_key: PrivateKey,
    fake_ledger: FakeLedger,
    server_key: PrivateKey,
    tmp_path: Path,
) -> None:
    """A real kiosk service (simulated reader, its own sync thread) against a ledger on loopback."""
    metrics = tmp_path / "textfile" / "kokreativ.prom"
    metrics.parent.mkdir()
    config_path = tmp_path / "kiosk.toml"
    write_config(config_path, dataclasses.replace(config, server_url=fake_ledger.url, metrics_file=metrics))
    with Outbox(config.outbox_path) as box:
        store = TrustStore(box, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        store.store(
            sign_trust_list(ISSUER.trust_list(kiosk=config.kiosk_id, site=config.site_id), server_key)
        )
    cards = [ids.new_id(ids.CARD) for _ in range(3)]

    stop = threading.Event()
    with open_service(
        load_config(config_path), stdin=io.StringIO(), stdout=io.StringIO(), reader="sim", indicator="console"
    ) as service:
        for card in cards:
            service.reader.present_card(uid_for(card), ISSUER.ndef(card))  # type: ignore[attr-defined]
        runner = threading.Thread(target=service.run, args=(stop,), name="kiosk")
        runner.start()
        try:
            # Until the sync thread has sent all three and written so (a deadline against a hang only).
            deadline = time.monotonic() + 60
            found: list[Sample] = []
            while time.monotonic() < deadline:
                if metrics.exists():
                    found = read(metrics)
                    if value(found, "kokreativ_kiosk_last_receipt_seq") == 3:
                        break
                time.sleep(0.05)
        finally:
            stop.set()
            runner.join(timeout=60)
    assert value(found, "kokreativ_kiosk_events_total") == 3
    assert value(found, "kokreativ_kiosk_outbox_pending_events") == 0
    assert value(found, "kokreativ_kiosk_oldest_pending_timestamp_seconds") is None
    assert value(found, "kokreativ_kiosk_last_sync_timestamp_seconds") is not None
    assert value(found, "kokreativ_kiosk_sync_round_ok") == 1
    assert value(found, "kokreativ_kiosk_reader", state="ok") == 1
    assert value(found, "kokreativ_kiosk_alarm") == 0
    assert len(fake_ledger.stored) == 3
