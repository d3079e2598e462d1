"""Several server processes on one ledger (issue 21): what one worker learns, every worker knows.

Real processes on loopback, no mocks.  ``kokreativ server run --workers 2`` is
started as it runs in production; to say which process answers, the tests that
compare two workers start two ``server run`` processes on one data folder (each
a worker with a port of its own: the same code, the same ledger, the same shared
counters).  A scrape counting both processes is
``test_server_metrics.py::test_a_scrape_of_either_process_counts_both``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_helpers import FakeKiosk, assert_error
from server_process import free_port, start_server, wait_ready
from test_server_metrics import samples, value
from test_server_personal_access import cookie, session_cookie

from protocol import EventKind, PrivateKey, SignedEvent, b64encode, encode_batch, enrolment_message
from protocol.clock import now_ms
from server.datadir import init_data_dir, open_ledger
from server.ratelimit import ADMIN_TOKEN
from server.storage import SqliteStorage, Storage
from server.storage.postgres import PostgresStorage

pytestmark = pytest.mark.slow


@dataclass
class Ledger:
    """One data folder, its admin token, and a client per server process serving it."""

    data: Path
    token: str
    clients: list[httpx.Client]
    processes: list[subprocess.Popen[bytes]]
    log: Path

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture
def two_processes(tmp_path: Path, ledger_database: str | None) -> Iterator[Ledger]:
    """Two ``server run`` processes on one data folder (on either engine), each on a port of its own."""
    data = tmp_path / "data"
    token = init_data_dir(data, database=ledger_database).admin_token
    log = tmp_path / "server.log"
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {"RUNTIME_DIRECTORY": str(runtime)}
    ports = [free_port(), free_port()]
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) for port in ports]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for port, client in zip(ports, clients, strict=True):  # one after the other: the first migrates
            processes.append(start_server(data, port, log, env))
            wait_ready(client, processes[-1], log)
        yield Ledger(data, token, clients, processes, log)
    finally:
        for process in processes:
            if process.poll() is None:
                _stop(process)
        for client in clients:
            client.close()


def _enrolled_kiosk(client: httpx.Client, auth: dict[str, str]) -> tuple[FakeKiosk, str]:
    """A kiosk enrolled over HTTP, and a card registered at its site."""
    site = client.post("/v1/admin/sites", json={"name": "S", "tokens_per_hour": 6}, headers=auth).json()
    code = client.post("/v1/admin/enrolment-codes", json={"site_id": site["site_id"]}, headers=auth)
    digits = code.json()["code"].replace("-", "")
    key = PrivateKey.generate()
    signature = b64encode(key.sign(enrolment_message(digits, key.public_key)))
    enrolled = client.post(
        "/v1/enrol", json={"code": digits, "public_key": key.public_key.to_b64(), "signature": signature}
    )
    assert enrolled.status_code == 200, enrolled.text
    card = client.post("/v1/admin/cards", json={"name": "V", "site_id": site["site_id"]}, headers=auth)
    return FakeKiosk(key=key, kiosk_id=enrolled.json()["kiosk_id"]), card.json()["card_id"]


def _day(kiosk: FakeKiosk, card: str, count: int) -> list[SignedEvent]:
    start = now_ms() - count * 60_000
    kinds = (EventKind.CHECK_IN, EventKind.CHECK_OUT)
    return [kiosk.event(kinds[i % 2], card, start + i * 60_000) for i in range(count)]


def _post_at_once(posts: list[tuple[httpx.Client, str, bytes]]) -> list[httpx.Response]:
    """Each ``(client, path, body)`` posted from its own thread, released together."""
    barrier = threading.Barrier(len(posts))

    def post(item: tuple[httpx.Client, str, bytes]) -> httpx.Response:
        client, path, body = item
        barrier.wait()
        return client.post(path, content=body)

    with ThreadPoolExecutor(len(posts)) as pool:
        return list(pool.map(post, posts))


# -- what is shared ----------------------------------------------------------------------------------


def test_a_lockout_earned_at_one_worker_holds_at_the_other(two_processes: Ledger) -> None:
    first, second = two_processes.clients
    wrong = {"Authorization": "Bearer wrong"}
    for _ in range(ADMIN_TOKEN.per_client.failures):
        assert first.get("/v1/admin/sites", headers=wrong).status_code == 401
    refused = second.get("/v1/admin/sites", headers=two_processes.auth)  # even the right token
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) > 0
    assert first.get("/v1/admin/sites", headers=two_processes.auth).status_code == 429


def test_a_success_at_one_worker_is_not_counted_at_the_other(two_processes: Ledger) -> None:
    first, second = two_processes.clients
    for _ in range(3 * ADMIN_TOKEN.per_client.failures):  # right tokens, alternating: never a failure
        assert first.get("/v1/admin/sites", headers=two_processes.auth).status_code == 200
        assert second.get("/v1/admin/sites", headers=two_processes.auth).status_code == 200


def test_a_session_opened_at_one_worker_is_valid_at_the_other_and_ends_at_both(two_processes: Ledger) -> None:
    first, second = two_processes.clients
    site = first.post(
        "/v1/admin/sites", json={"name": "S", "tokens_per_hour": 6}, headers=two_processes.auth
    ).json()
    card = first.post(
        "/v1/admin/cards", json={"name": "Ada", "site_id": site["site_id"]}, headers=two_processes.auth
    ).json()
    opened = first.post("/v1/me/session", json={"secret": card["access_secret"]})
    assert opened.status_code == 204, opened.text
    session = session_cookie(opened)
    assert second.get("/v1/me/balance", headers=cookie(session)).status_code == 200
    assert second.post("/v1/me/logout", headers=cookie(session)).status_code == 204
    assert first.get("/v1/me/balance", headers=cookie(session)).status_code == 401


# -- ingest at two workers at once -------------------------------------------------------------------


def test_one_kiosks_overlapping_batches_at_two_workers_at_once_are_stored_once(two_processes: Ledger) -> None:
    first, second = two_processes.clients
    kiosk, card = _enrolled_kiosk(first, two_processes.auth)
    events = _day(kiosk, card, 300)
    path = f"/v1/kiosks/{kiosk.kiosk_id}/events"
    accepted: list[int] = []
    for low in (0, 100, 200):  # each round: the same first 50 new events at both, one with 50 more
        short, long = encode_batch(events[low : low + 50]), encode_batch(events[low : low + 100])
        answers = _post_at_once([(first, path, short), (second, path, long)])
        for answer in answers:
            assert answer.status_code == 200, answer.text
            accepted += [r["seq"] for r in answer.json()["results"] if r["status"] == "accepted"]
    assert sorted(accepted) == list(range(1, 301))  # each event accepted once, by one worker
    _assert_chain_stored(two_processes.data, kiosk, 300)


def test_no_gap_is_accepted_when_a_later_batch_reaches_the_other_worker_first(two_processes: Ledger) -> None:
    first, second = two_processes.clients
    kiosk, card = _enrolled_kiosk(first, two_processes.auth)
    events = _day(kiosk, card, 200)
    path = f"/v1/kiosks/{kiosk.kiosk_id}/events"
    for low in range(0, 200, 40):
        earlier, later = encode_batch(events[low : low + 20]), encode_batch(events[low + 20 : low + 40])
        answers = _post_at_once([(first, path, earlier), (second, path, later)])
        assert answers[0].status_code == 200, answers[0].text
        if answers[1].status_code != 200:  # it came first: refused, nothing stored; the kiosk resends
            assert_error(answers[1], 409, "sequence_gap")
            assert second.post(path, content=later).status_code == 200
    _assert_chain_stored(two_processes.data, kiosk, 200)


def _assert_chain_stored(data: Path, kiosk: FakeKiosk, count: int) -> None:
    with open_ledger(data) as storage, storage.read() as tx:
        stored = tx.get_kiosk(kiosk.kiosk_id)
        assert stored is not None and (stored.last_seq, stored.head) == (count, kiosk.head)
        held = tx.stored_events(kiosk.kiosk_id, 1, count)
        assert sorted(held) == list(range(1, count + 1))
        log_indexes = [event.log_index for event in held.values()]
        assert len(set(log_indexes)) == count  # one log entry each, none twice


# -- kokreativ server run --workers 2 ----------------------------------------------------------------


def test_server_run_with_two_workers_serves_ingests_counts_and_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    token = init_data_dir(data).admin_token
    auth = {"Authorization": f"Bearer {token}"}
    log = tmp_path / "server.log"
    runtime = tmp_path / "run"
    runtime.mkdir()
    port = free_port()
    process = start_server(data, port, log, {"RUNTIME_DIRECTORY": str(runtime)}, extra=["--workers", "2"])
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_ready(client, process, log)
            workers = _children(process.pid)
            assert len(workers) == 2
            kiosks = [_enrolled_kiosk(client, auth) for _ in range(4)]
            batches = [(kiosk, encode_batch(_day(kiosk, card, 100))) for kiosk, card in kiosks]

            def send(item: tuple[FakeKiosk, bytes]) -> Any:
                kiosk, body = item
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as own:  # own connection
                    return own.post(f"/v1/kiosks/{kiosk.kiosk_id}/events", content=body)

            with ThreadPoolExecutor(len(batches)) as pool:
                answers = list(pool.map(send, batches))
            assert [answer.status_code for answer in answers] == [200] * len(batches)
            # Each batch's connection closes, so a kiosk's next batch goes to whichever worker is free.
            assert {answer.headers.get("connection") for answer in answers} == {"close"}
            found = samples(client.get("/metrics").text)
            assert value(found, "kokreativ_ingest_batches_total", outcome="accepted") == len(batches)
            assert value(found, "kokreativ_ledger_events_total") == 100 * len(batches)
            shared = {name.rsplit("_", 1)[1].removesuffix(".db") for name in _shared_files(runtime)}
            assert shared and shared <= {str(pid) for pid in workers}  # counted by the workers, in one folder
        assert _stop(process) == 0
        assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for kiosk, _ in kiosks:
        _assert_chain_stored(data, kiosk, 100)


def test_server_run_with_workers_refuses_a_port_already_taken(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init_data_dir(data)
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_server(data, port, tmp_path / "server.log", extra=["--workers", "2"])
        assert process.wait(timeout=60) == 3  # as uvicorn exits when it never started
    assert "cannot listen" in (tmp_path / "server.log").read_text()


def _shared_files(runtime: Path) -> list[str]:
    return [name for folder in runtime.iterdir() for name in os.listdir(folder)]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


# -- systemd: READY and the watchdog from the parent -------------------------------------------------


def test_the_parent_tells_systemd_ready_once_and_pings_only_while_every_worker_beats(tmp_path: Path) -> None:
    import time

    from tests.notify_helpers import PINGS, READY, WATCHDOG, between, notify_listener, pings_since

    data = tmp_path / "data"
    init_data_dir(data)
    log = tmp_path / "server.log"
    port = free_port()
    with notify_listener("abstract") as listener:
        env = {**listener.env, "WATCHDOG_USEC": "400000"}  # no WATCHDOG_PID: whichever process
        process = start_server(data, port, log, env, extra=["--workers", "2"])
        try:
            listener.wait_for(lambda m: READY in m)
            workers = sorted(_children(process.pid))
            assert len(workers) == 2  # READY came once both were forked and serving
            listener.mark("WINDOW-START")
            listener.wait_for(lambda m: pings_since(m, "WINDOW-START") >= PINGS)
            os.kill(workers[0], signal.SIGSTOP)  # a hung worker: its event loop stops beating
            try:
                # The parent stops pinging once the beat is half an interval (200 ms) old; the marks
                # leave a wide margin around that, and the pings are counted between them.
                time.sleep(1.0)
                listener.mark("HUNG-START")
                time.sleep(1.2)
                listener.mark("HUNG-END")
            finally:
                os.kill(workers[0], signal.SIGCONT)
            listener.wait_for(lambda m: pings_since(m, "HUNG-END") >= 1)  # beating again: pinging again
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                assert client.get("/v1/health").status_code == 200
            assert _stop(process) == 0
            listener.mark("END")
            messages = listener.wait_for_mark("END")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert messages.count(READY) == 1 and messages.index(READY) == 0
    assert WATCHDOG not in between(messages, "HUNG-START", "HUNG-END")
    assert "STOPPING=1" in between(messages, "HUNG-END", "END")


def _two_writers(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Storage, Storage]:
    """Two storages on one ledger, as two workers hold them; the second waits for the lock 50 ms, not 10 s."""
    if engine == "sqlite":
        path = tmp_path / "ledger.db"
        holder, waiter = SqliteStorage(path), SqliteStorage(path)
        waiter.busy_timeout_s = 0.05  # its wait for the writers' turn (ledger.db-writer)
        return holder, waiter
    url = request.getfixturevalue("postgres_database")
    pg_holder, pg_waiter = PostgresStorage(url), PostgresStorage(url)
    pg_waiter.lock_timeout_ms = 50
    return pg_holder, pg_waiter


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_write_lock_held_too_long_by_another_process_is_a_503_not_an_error(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from server.errors import StorageUnavailable

    holder, waiter = _two_writers(engine, tmp_path, request)
    with holder, waiter:
        with holder.write() as tx:
            tx.set_setting("held", "1")
            with pytest.raises(StorageUnavailable) as refused, waiter.write() as other:
                other.set_setting("waited", "1")
        assert (refused.value.status, refused.value.reason.value) == (503, "storage_unavailable")
        with waiter.write() as other:  # once the lock is free, the same write goes through
            other.set_setting("waited", "1")
        with waiter.read() as check:
            assert check.get_setting("waited") == "1"
