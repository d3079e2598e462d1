"""``GET /metrics`` at a real server on loopback: the figures, who may scrape them, and several processes.

Scrapes are parsed with prometheus_client's own parser, as Prometheus would
read them.  The server's clock is the test's, so ages are exact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from server_helpers import MINUTE, T0, Api, FakeKiosk, World, assert_error
from server_process import free_port, start_server, wait_ready

from protocol import EventKind, PrivateKey, b64encode, encode_batch, enrolment_message
from protocol.clock import now_ms
from protocol.heartbeat import Heartbeat, sign_heartbeat
from server import tokens
from server.datadir import init_data_dir
from server.errors import DataDirError
from server.metrics import share_across_processes, shared_metrics_dir

EVENTS_ROUTE = "/v1/kiosks/{kiosk_id}/events"


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The one sample ``name`` with ``labels`` among its labels; 0 if none (a counter not hit yet)."""
    hits = [s for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert len(hits) <= 1, hits
    return hits[0].value if hits else 0.0


def scrape(api: Api, **headers: str) -> list[Sample]:
    response = api.http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def heartbeat(api: Api, world: World, sent_ms: int, pending: int) -> None:
    """A heartbeat of the world's kiosk, signed with its key, saying ``pending`` events wait there."""
    beat = Heartbeat(
        kiosk=world.kiosk.kiosk_id,
        sent_ms=sent_ms,
        boot="00000000-0000-4000-8000-00000000000b",
        mono_ms=5_000,
        synced=True,
        version="0.1.0",
        pending=pending,
        reader="ok",
        last_seq=world.kiosk.seq,
    )
    wire = sign_heartbeat(beat, world.kiosk.key)
    assert api.http.post(f"/v1/kiosks/{world.kiosk.kiosk_id}/heartbeat", json=wire).status_code == 200


def test_ingest_refusals_backlog_heartbeat_age_log_size_and_latency(api: Api, world: World) -> None:
    kiosk = world.kiosk
    check_in = kiosk.event(EventKind.CHECK_IN, world.card_id, T0 - 2 * 60 * MINUTE)
    check_out = kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 - MINUTE)
    assert api.send(kiosk.kiosk_id, [check_in, check_out]).status_code == 200
    assert api.send(kiosk.kiosk_id, [check_out]).status_code == 200  # sent again: a duplicate
    gap = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    gap = kiosk.event(EventKind.CHECK_IN, world.card_id, T0)  # seq 4 without 3
    assert_error(api.send(kiosk.kiosk_id, [gap]), 409, "sequence_gap")
    assert_error(api.post_raw(f"/v1/kiosks/{kiosk.kiosk_id}/events", b"{not json"), 400, "malformed_request")
    heartbeat(api, world, T0, pending=5)
    api.clock.now = T0 + 90_000  # the heartbeat was stored 90 s ago

    found = scrape(api)

    assert value(found, "kokreativ_ingest_batches_total", outcome="accepted") == 2
    assert value(found, "kokreativ_ingest_batches_total", outcome="refused") == 2
    assert value(found, "kokreativ_ingest_refusals_total", reason="sequence_gap") == 1
    assert value(found, "kokreativ_ingest_refusals_total", reason="malformed_request") == 1
    assert value(found, "kokreativ_ingest_events_total", result="accepted") == 2
    assert value(found, "kokreativ_ingest_events_total", result="duplicate") == 1
    assert value(found, "kokreativ_ledger_events_total") == 2
    with api.context.storage.read() as tx:
        assert value(found, "kokreativ_log_size_entries") == tx.tlog_size() > 0
    assert value(found, "kokreativ_kiosk_backlog_events", kiosk=kiosk.kiosk_id) == 5
    assert value(found, "kokreativ_kiosk_last_heartbeat_age_seconds", kiosk=kiosk.kiosk_id) == 90
    assert value(found, "kokreativ_kiosk_alarm", kiosk=kiosk.kiosk_id, alarm="silent") == 0
    assert value(found, "kokreativ_kiosks", status="active") == 1
    # Latency by route template: four batches went to the events route, whatever their kiosk.
    count = "kokreativ_http_request_duration_seconds_count"
    assert value(found, count, method="POST", route=EVENTS_ROUTE, status="200") == 2
    assert value(found, count, method="POST", route=EVENTS_ROUTE, status="409") == 1
    assert value(found, count, method="POST", route=EVENTS_ROUTE, status="400") == 1
    api.http.get("/v1/no/such/thing")
    assert value(scrape(api), count, method="GET", route="unmatched", status="404") == 1

    # No person's ID or name, and no path as asked for, in any label.
    labels = {label for sample in found for label in sample.labels.values()}
    assert not {world.card_id, world.volunteer_id} & labels
    assert not [
        label for label in labels if world.card_id in label or "Ada" in label or "/v1/kiosks/k" in label
    ]


def test_a_silent_kiosk_shows_its_alarm(api: Api, world: World) -> None:
    api.clock.now = T0 + 24 * 60 * MINUTE  # long after its enrolment, and nothing heard since
    found = scrape(api)
    assert value(found, "kokreativ_kiosk_alarm", kiosk=world.kiosk.kiosk_id, alarm="silent") == 1
    # No heartbeat yet: no backlog or heartbeat age, rather than a made-up 0.
    assert not [s for s in found if s.name == "kokreativ_kiosk_backlog_events"]


def test_this_host_scrapes_without_a_token_until_one_holds_read_metrics(api: Api) -> None:
    assert api.http.get("/metrics").status_code == 200
    # Through a proxy on this host (it names the client), or from elsewhere: a token is needed.
    proxied = api.http.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"})
    error = assert_error(proxied, 401, "unauthorized")
    assert "read_metrics" in error["message"]

    storage, now = api.context.storage, api.clock.now
    scrape_token = tokens.add_token(
        storage, name="prometheus", permissions=["read_metrics"], sites=None, now_ms=now
    )
    other = tokens.add_token(storage, name="reports", permissions=["reports"], sites=None, now_ms=now)
    assert_error(api.http.get("/metrics"), 401, "unauthorized")  # a token exists: this host needs it too
    assert_error(api.http.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert_error(api.http.get("/metrics", headers={"Authorization": f"Bearer {other}"}), 403, "forbidden")
    scrape(api, Authorization=f"Bearer {scrape_token}", **{"X-Forwarded-For": "198.51.100.7"})
    scrape(api, Authorization=f"Bearer {api.admin_token}")

    tokens.revoke_token(storage, "prometheus", now_ms=now)
    assert api.http.get("/metrics").status_code == 200  # no live token holds it any more
    assert_error(
        api.http.get("/metrics", headers={"Authorization": f"Bearer {scrape_token}"}), 401, "unauthorized"
    )


# -- several processes on one data folder --------------------------------------------------------------


@pytest.mark.slow
def test_a_scrape_of_either_process_counts_both(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = init_data_dir(data).admin_token
    auth = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "server.log"
    runtime = tmp_path / "run"
    runtime.mkdir()
    shared = shared_metrics_dir(data, {"RUNTIME_DIRECTORY": str(runtime)})
    ports = [free_port(), free_port()]
    processes = [start_server(data, ports[0], log, {"RUNTIME_DIRECTORY": str(runtime)})]
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for port in ports]
    try:
        wait_ready(clients[0], processes[0], log)
        processes.append(
            start_server(data, ports[1], log, {"RUNTIME_DIRECTORY": str(runtime)})
        )  # after the first: it opened the folder already
        wait_ready(clients[1], processes[1], log)
        first, second = clients
        site = first.post("/v1/admin/sites", json={"name": "S", "tokens_per_hour": 6}, headers=auth).json()
        code = first.post("/v1/admin/enrolment-codes", json={"site_id": site["site_id"]}, headers=auth)
        digits = code.json()["code"].replace("-", "")
        key = PrivateKey.generate()
        signature = b64encode(key.sign(enrolment_message(digits, key.public_key)))
        enrolled = first.post(
            "/v1/enrol", json={"code": digits, "public_key": key.public_key.to_b64(), "signature": signature}
        )
        kiosk_id = enrolled.json()["kiosk_id"]
        card = first.post(
            "/v1/admin/cards", json={"name": "V", "site_id": site["site_id"]}, headers=auth
        ).json()
        kiosk = FakeKiosk(key=key, kiosk_id=kiosk_id)
        batch = encode_batch([kiosk.event(EventKind.CHECK_IN, card["card_id"], now_ms())])
        assert first.post(f"/v1/kiosks/{kiosk_id}/events", content=batch).status_code == 200
        assert second.post(f"/v1/kiosks/{kiosk_id}/events", content=b"[]").status_code == 400
        for _ in range(3):
            assert second.get("/v1/health").status_code == 200
        for _ in range(2):
            assert first.get("/v1/health").status_code == 200

        for client in clients:  # either process answers every process's counts
            response = client.get("/metrics")
            assert response.status_code == 200, response.text
            found = samples(response.text)
            count = "kokreativ_http_request_duration_seconds_count"
            # Each process also answered /v1/health while waiting to be ready: at least once each.
            health = value(found, count, method="GET", route="/v1/health", status="200")
            assert health >= 3 + 2 + 2
            assert value(found, "kokreativ_ingest_batches_total", outcome="accepted") == 1
            assert value(found, "kokreativ_ingest_batches_total", outcome="refused") == 1
            assert value(found, "kokreativ_ledger_events_total") == 1
        assert sorted(p.name for p in shared.iterdir())  # the shared files, in the runtime folder
        pids = {str(p.pid) for p in processes}
        assert {name.rsplit("_", 1)[1].removesuffix(".db") for name in os.listdir(shared)} == pids
        # Nothing of prometheus_client's (counter_<pid>.db, histogram_<pid>.db) on the data disk.
        assert not [path for path in data.rglob("*_*.db") if path.name.split("_")[-1][:-3] in pids]
    finally:
        for client in clients:
            client.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_the_shared_counters_live_in_memory_per_data_folder_and_only_in_a_folder_of_ours(
    tmp_path: Path,
) -> None:
    """A full data disk must not kill the server: prometheus_client's mapped files are never put there."""
    data = tmp_path / "data"
    runtime = tmp_path / "run"
    in_runtime = shared_metrics_dir(data, {"RUNTIME_DIRECTORY": f"{runtime}:{tmp_path / 'other'}"})
    assert in_runtime.parent == runtime
    assert shared_metrics_dir(data, {"RUNTIME_DIRECTORY": str(runtime)}) == in_runtime  # found again
    assert shared_metrics_dir(tmp_path / "other-data", {"RUNTIME_DIRECTORY": str(runtime)}) != in_runtime
    elsewhere = shared_metrics_dir(data, {})
    assert data not in elsewhere.parents and elsewhere.parent in (
        Path("/dev/shm"),
        Path(tempfile.gettempdir()),
    )
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)  # another local user could have made it, to change the counts
    with pytest.raises(DataDirError) as refused:
        share_across_processes(planted)
    assert refused.value.reason == "data_dir_unusable" and "alone" in refused.value.message
