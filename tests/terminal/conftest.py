"""Fixtures for the kiosk tests: a config with fresh keys, an outbox, a simulated clock, and a
hand-written fake ledger server on loopback that speaks the events endpoint of docs/protocol.md.

The fake exists because the real server (``server/``) is being written at the same time; it
implements the batch ingest rules (duplicates, sequence gaps, chain checks) and signs receipts,
so the sync client is exercised over real HTTP rather than a mocked library.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol import (
    GENESIS_PREV,
    PrivateKey,
    ProtocolError,
    PublicKey,
    Reason,
    Receipt,
    TrustList,
    decode_batch,
    event_hash,
    ids,
    sign_receipt,
    sign_trust_list,
    verify_event,
)
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import create_key
from terminal.outbox import Outbox
from terminal.tap import Kiosk
from tests.cardfactory import FixedTrust, TestIssuer

START_MS = 1_764_400_000_000


@pytest.fixture
def server_key() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture
def make_config(tmp_path: Path, server_key: PrivateKey) -> Callable[..., KioskConfig]:
    def make(**overrides: Any) -> KioskConfig:
        values: dict[str, Any] = {
            "kiosk_id": ids.new_id(ids.KIOSK),
            "site_id": ids.new_id(ids.SITE),
            "site_name": "Tafel Linden",
            "server_url": "http://127.0.0.1:9",
            "server_public_key": server_key.public_key,
            "uid_pseudonym_key": bytes(range(32)),
            "tokens_per_hour": 10,
            "data_dir": tmp_path,
        }
        values.update(overrides)
        return KioskConfig(**values)

    return make


@pytest.fixture
def config(make_config: Callable[..., KioskConfig]) -> KioskConfig:
    return make_config()


@pytest.fixture
def kiosk_key(config: KioskConfig) -> PrivateKey:
    return create_key(config.key_path)


@pytest.fixture
def outbox(config: KioskConfig) -> Iterator[Outbox]:
    box = Outbox(config.outbox_path)
    yield box
    box.close()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START_MS)


@pytest.fixture
def indicator() -> RecordingIndicator:
    return RecordingIndicator()


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def trust(issuer: TestIssuer, config: KioskConfig) -> FixedTrust:
    """The kiosk's trust list: the test issuer's key, nothing blocked; tests may replace ``.trust``."""
    return FixedTrust(issuer.trust_list(kiosk=config.kiosk_id, site=config.site_id))


@pytest.fixture
def kiosk(
    config: KioskConfig,
    kiosk_key: PrivateKey,
    outbox: Outbox,
    clock: SimulatedClock,
    indicator: RecordingIndicator,
    trust: FixedTrust,
) -> Kiosk:
    return Kiosk(config=config, key=kiosk_key, outbox=outbox, clock=clock, indicator=indicator, trust=trust)


@pytest.fixture
def card_tap(issuer: TestIssuer) -> Callable[[str], Tap]:
    """A tap of a genuine kokreativ card; the UID is derived from the card ID so each card has one."""
    return issuer.tap


# -- the fake ledger ----------------------------------------------------------------------------------


@dataclass
class FakeLedger:
    """Just enough of the ledger: POST /v1/kiosks/{id}/events with the ingest rules, signed receipts."""

    kiosk_id: str
    kiosk_public_key: PublicKey
    receipt_key: PrivateKey
    url: str = ""
    stored: list[bytes] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    first_seqs: list[int] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)  # (status, code) answered, then dropped
    lie_about_head: bool = False
    lose_next_answers: int = 0  # store the batch, then answer 502 as a proxy whose upstream timed out
    on_request: Callable[[], None] | None = None  # called as each request arrives (e.g. to set ``stop``)
    trust: TrustList | None = None  # what GET …/trust answers, signed with ``receipt_key``; None: 404
    trust_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def restore_backup(self, keep: int) -> None:
        """Forget everything after ``keep`` events, as a restore from an older backup would."""
        with self.lock:
            del self.stored[keep:]

    def ingest(self, path: str, data: bytes) -> tuple[int, dict[str, Any]]:
        if self.on_request is not None:
            self.on_request()
        with self.lock:
            if self.fail_next:
                status, code = self.fail_next.pop(0)
                return status, _error(code, "injected failure")
            if path != f"/v1/kiosks/{self.kiosk_id}/events":
                return 404, _error(Reason.NOT_FOUND, path)
            try:
                items = decode_batch(data)
            except ProtocolError as exc:
                return 400, _error(exc.reason, exc.message)
            self.batch_sizes.append(len(items))
            staged = list(self.stored)
            results = []
            for index, (body, sig) in enumerate(items):
                try:
                    event = verify_event(body, sig, self.kiosk_public_key).event
                except ProtocolError as exc:
                    return 400, _error(exc.reason, exc.message, index=index)
                if index == 0:
                    self.first_seqs.append(event.seq)
                if event.kiosk != self.kiosk_id:
                    return 400, _error(Reason.KIOSK_MISMATCH, "other kiosk", index=index)
                if event.seq <= len(staged):
                    if staged[event.seq - 1] != body:
                        return 409, _error(Reason.EQUIVOCATION, "different bytes", index=index)
                    results.append({"seq": event.seq, "status": "duplicate", "flags": []})
                    continue
                if event.seq != len(staged) + 1:
                    return 409, _error(Reason.SEQUENCE_GAP, "gap", index=index, expected_seq=len(staged) + 1)
                if event.prev != (event_hash(staged[-1]) if staged else GENESIS_PREV):
                    return 409, _error(Reason.CHAIN_BROKEN, "prev", index=index)
                staged.append(body)
                results.append({"seq": event.seq, "status": "accepted", "flags": []})
            self.stored = staged
            if self.lose_next_answers:
                self.lose_next_answers -= 1
                return 502, _error("bad_gateway", "answer lost")
            head = event_hash(staged[-1]) if staged else GENESIS_PREV
            if self.lie_about_head:
                head = "f" * 64
            receipt = Receipt(kiosk=self.kiosk_id, seq=len(staged), head=head, issued_ms=START_MS)
            return 200, {"receipt": sign_receipt(receipt, self.receipt_key), "results": results}

    def trust_list(self, path: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.trust_requests += 1
            if path != f"/v1/kiosks/{self.kiosk_id}/trust" or self.trust is None:
                return 404, _error(Reason.NOT_FOUND, path)
            return 200, sign_trust_list(self.trust, self.receipt_key)


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, **extra}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests uses it
    timeout = 10  # an idle keep-alive connection cannot hold up server_close for long
    server: _LedgerServer

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._answer(*self.server.ledger.ingest(self.path, data))

    def do_GET(self) -> None:
        self._answer(*self.server.ledger.trust_list(self.path))

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _LedgerServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close joins the handler threads: no thread outlives the test
    ledger: FakeLedger


@pytest.fixture
def fake_ledger(
    config: KioskConfig, kiosk_key: PrivateKey, server_key: PrivateKey, trust: FixedTrust
) -> Iterator[FakeLedger]:
    ledger = FakeLedger(config.kiosk_id, kiosk_key.public_key, server_key, trust=trust.trust)
    httpd = _LedgerServer(("127.0.0.1", 0), _Handler)
    httpd.ledger = ledger
    ledger.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-ledger")
    thread.start()
    try:
        yield ledger
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


# -- a server that never answers ----------------------------------------------------------------------


@dataclass
class SilentServer:
    """A loopback TCP server that accepts connections and never says a word, until ``hang_up``."""

    url: str
    connected: threading.Event
    hang_up: Callable[[], None]


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)  # so the accept loop notices ``done``
    accepted: list[socket.socket] = []
    connected, done = threading.Event(), threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)
            connected.set()

    def hang_up() -> None:
        done.set()
        thread.join()
        for conn in accepted:
            conn.close()  # the client's blocked read ends at once (connection closed)
        accepted.clear()

    thread = threading.Thread(target=serve, name="silent-server")
    thread.start()
    try:
        yield SilentServer(f"http://127.0.0.1:{listener.getsockname()[1]}", connected, hang_up)
    finally:
        hang_up()
        listener.close()
