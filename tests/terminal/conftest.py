"""Fixtures for the kiosk tests: a config with fresh keys, an outbox, a simulated clock, and a
hand-written fake ledger server on loopback that speaks the kiosk endpoints of docs/protocol.md.

The fake exists so that failures can be injected; ``test_terminal_real_server.py`` checks that
the real server (``server/``) agrees on the wire.  It implements the batch ingest rules
(duplicates, sequence gaps, chain checks), signs receipts, and keeps a real RFC 6962
transparency log (:class:`FakeLog`, built on ``protocol.merkle``) whose signed checkpoints,
inclusion and consistency proofs follow "Receipts with proofs" exactly, so the kiosk's witness
checks run against genuine proofs.  Fault switches make it lie the ways a server could.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from protocol import (
    GENESIS_PREV,
    BalanceSheet,
    Event,
    PrivateKey,
    ProtocolError,
    PublicKey,
    Reason,
    Receipt,
    TrustList,
    b64encode,
    decode_batch_request,
    event_hash,
    ids,
    sign_balances,
    sign_receipt,
    sign_trust_list,
    verify_event,
)
from protocol.checkpoint import Checkpoint
from protocol.commitments import SealedOpening
from protocol.evidence import EvidenceReport, open_evidence
from protocol.logentry import event_entry, make_entry
from protocol.merkle import consistency_proof, inclusion_proof, leaf_hash, node_hash, root_hash
from protocol.note import sign_note
from protocol.serverkeys import sign_transition
from terminal.clock import SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import create_key
from terminal.outbox import Outbox
from terminal.tap import Kiosk
from tests.cardfactory import FixedTrust, TestIssuer
from tests.conftest import ServerProcess, server_in_thread

START_MS = 1_764_400_000_000
ORIGIN = "ledger.test/log"  # the fake ledger's log origin, and the config's log_origin


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    """The ledger server, here from a thread of the test process (:class:`tests.conftest.ServerThread`).

    The kiosk talks HTTP to it as to a process, and stopping and starting it is an
    outage all the same; a process per test cost a second or more each.  The
    heartbeat tests, the crash tests (tests/integration) and tests/server/test_server_cli.py
    run ``kokreativ server run`` as a real process.
    """
    with server_in_thread(tmp_path / "server") as server:
        yield server


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
            "log_origin": ORIGIN,
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


class FakeLog:
    """An RFC 6962 log in memory: its entries and the hash of every complete subtree (the HashReader)."""

    def __init__(self, entries: list[bytes] | None = None) -> None:
        self.entries: list[bytes] = []
        self._hashes: dict[tuple[int, int], bytes] = {}
        for entry in entries or []:
            self.append(entry)

    @property
    def size(self) -> int:
        return len(self.entries)

    def append(self, entry: bytes) -> int:
        index = len(self.entries)
        self.entries.append(entry)
        level, i, digest = 0, index, leaf_hash(entry)
        self._hashes[(0, index)] = digest
        while i & 1:  # a right child completes its parent
            digest = node_hash(self._hashes[(level, i - 1)], digest)
            level, i = level + 1, i >> 1
            self._hashes[(level, i)] = digest
        return index

    def read(self, level: int, index: int) -> bytes:
        return self._hashes[(level, index)]

    def root(self, size: int) -> bytes:
        return root_hash(size, self.read)

    def inclusion(self, index: int, size: int) -> list[str]:
        return [b64encode(h) for h in inclusion_proof(index, size, self.read)]

    def consistency(self, old: int, new: int) -> list[str]:
        return [b64encode(h) for h in consistency_proof(old, new, self.read)]


@dataclass
class FakeLedger:
    """Just enough of the ledger: the kiosk endpoints with the ingest rules, signed receipts, a log.

    Fault switches (all off by default):

    * ``lie_about_head``, ``receipt_key``: receipts that contradict the kiosk or do not verify;
    * ``log_key``, ``origin``, ``key_name``: checkpoints signed by another key, for another
      origin, or under another key name than their origin;
    * :meth:`fork_log`: rewrite one entry of the log, so what it serves from then on is a
      self-consistent history that does not extend what a kiosk saw before;
    * ``serve_size``: serve the checkpoint of an older, smaller tree (proofs against it);
    * ``corrupt_inclusion``: inclusion proofs whose first hash is wrong;
    * ``omit_consistency``, ``omit_checkpoint``: answers without those fields (an old server);
    * ``evidence_status``, ``evidence_code``: what ``POST …/evidence`` answers (202 by default); the
      reports it takes are checked with the kiosk's key, as the server does, and kept in ``evidence``;
    * :meth:`rotate_key`: a planned rotation of the server key, as ``kokreativ server rotate-key``
      and a restart make it: a transition signed by both keys is served at ``GET /v1/server-keys``,
      receipts, balance sheets and trust lists are signed by the new key only, and checkpoints by
      both until :meth:`finish_rotation`; ``transitions`` may be replaced to serve forged chains;
    * ``balances``: when set, answers carry a balance sheet of these balances (as of the batch's
      ``received_ms``) signed by ``balances_key`` (default ``receipt_key``) for ``balances_kiosk``
      (default this kiosk); ``balances_wire``, when set, is sent as the sheet instead, as is.
    """

    kiosk_id: str
    kiosk_public_key: PublicKey
    receipt_key: PrivateKey
    url: str = ""
    stored: list[bytes] = field(default_factory=list)
    opened: dict[int, Event] = field(default_factory=dict)  # seq -> each accepted event, opened as received
    batch_sizes: list[int] = field(default_factory=list)
    first_seqs: list[int] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)  # (status, code) answered, then dropped
    lie_about_head: bool = False
    lose_next_answers: int = 0  # store the batch, then answer 502 as a proxy whose upstream timed out
    on_request: Callable[[], None] | None = None  # called as each request arrives (e.g. to set ``stop``)
    trust: TrustList | None = None  # what GET …/trust answers, signed with ``receipt_key``; None: 404
    trust_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The transparency log.
    origin: str = ORIGIN
    log_key: PrivateKey | None = None  # signs checkpoints; defaults to ``receipt_key`` as it was at creation
    key_name: str | None = None  # the key name checkpoints are signed under; None: the origin
    log: FakeLog = field(default_factory=FakeLog)
    event_index: dict[int, int] = field(default_factory=dict)  # seq -> index of its entry in the log
    event_entry_fields: dict[int, tuple[int, list[str]]] = field(default_factory=dict)  # seq -> (ms, flags)
    flags: list[str] = field(default_factory=list)  # the flags every newly accepted event gets
    received_ms: int = START_MS  # the server's clock, one second on per batch
    serve_size: int | None = None
    corrupt_inclusion: bool = False
    omit_consistency: bool = False
    omit_checkpoint: bool = False
    log_sizes: list[int | None] = field(default_factory=list)  # ?log_size of each POST of events
    checkpoint_requests: int = 0
    state_requests: int = 0
    consistency_requests: list[tuple[int, int]] = field(default_factory=list)
    evidence: list[EvidenceReport] = field(default_factory=list)
    evidence_status: int = 202
    evidence_code: Reason = Reason.INTERNAL_ERROR
    heartbeats: list[bytes] = field(default_factory=list)  # each POST …/heartbeat body, as sent
    clocks: list[Any] = field(default_factory=list)  # each batch's clock sample, as sent (None: none)
    balances: dict[str, int] | None = None
    balances_key: PrivateKey | None = None
    balances_kiosk: str | None = None
    balances_wire: Any = None
    # Server key rotation.
    transitions: list[dict[str, str]] = field(default_factory=list)  # GET /v1/server-keys, oldest first
    cosign_keys: list[PrivateKey] = field(default_factory=list)  # also sign checkpoints (old keys)
    server_keys_requests: int = 0

    def __post_init__(self) -> None:
        if self.log_key is None:
            self.log_key = self.receipt_key
        if not self.log.entries:  # a log starts with the kiosk's enrolment, so entry indices are not seqs
            self.log.append(
                make_entry(
                    "kiosk_enrolled",
                    kiosk_id=self.kiosk_id,
                    site_id=ids.new_id(ids.SITE),
                    public_key=b64encode(self.kiosk_public_key.raw),
                    at_ms=START_MS,
                )
            )

    # -- what tests do to the server ------------------------------------------------------------------

    def restore_backup(self, keep: int) -> None:
        """Forget everything after ``keep`` events, as a restore from an older backup would: the log too."""
        with self.lock:
            del self.stored[keep:]
            cut = self.event_index.get(keep + 1)
            if cut is not None:
                self.log = FakeLog(self.log.entries[:cut])
            for seq in [s for s in self.event_index if s > keep]:
                del self.event_index[seq], self.event_entry_fields[seq]

    def fork_log(self, index: int = 0) -> None:
        """Rewrite entry ``index`` (and rebuild the tree): a history that does not extend the old one."""
        with self.lock:
            entries = list(self.log.entries)
            entries[index] = make_entry(
                "kiosk_enrolled",
                kiosk_id=self.kiosk_id,
                site_id=ids.new_id(ids.SITE),
                public_key=b64encode(PrivateKey.generate().public_key.raw),
                at_ms=START_MS,
            )
            self.log = FakeLog(entries)

    def append_entry(self) -> None:
        """Log something that is not this kiosk's (another kiosk enrolled), so the tree grows."""
        with self.lock:
            self.log.append(
                make_entry(
                    "kiosk_enrolled",
                    kiosk_id=ids.new_id(ids.KIOSK),
                    site_id=ids.new_id(ids.SITE),
                    public_key=b64encode(PrivateKey.generate().public_key.raw),
                    at_ms=self.received_ms,
                )
            )

    def rotate_key(self, new_key: PrivateKey | None = None) -> PrivateKey:
        """Move to ``new_key`` (default: a fresh one) as the real server does after ``rotate-key``.

        Publishes the transition signed by the old and the new key; from now on receipts,
        balance sheets and trust lists are signed by the new key only, and checkpoints by the
        new key and, until :meth:`finish_rotation`, every key before it.
        """
        new_key = new_key or PrivateKey.generate()
        with self.lock:
            old_key = self.receipt_key
            signed = sign_transition(old_key, new_key, at_ms=self.received_ms)
            self.transitions.append(signed.to_wire())
            assert self.log_key is not None
            self.cosign_keys.append(self.log_key)
            self.receipt_key = self.log_key = new_key
        return new_key

    def finish_rotation(self) -> None:
        """Stop co-signing checkpoints with the old keys (the operator finished the rotation)."""
        with self.lock:
            self.cosign_keys.clear()

    def checkpoint_note(self, size: int | None = None) -> str:
        """The signed checkpoint the ledger serves (of ``size``, default the served size)."""
        size = self._served_size() if size is None else size
        checkpoint = Checkpoint(self.origin, size, self.log.root(size))
        assert self.log_key is not None
        name = self.key_name or self.origin
        also = [(name, key) for key in self.cosign_keys]
        return sign_note(checkpoint.text(), name, self.log_key, also=also).decode()

    def _served_size(self) -> int:
        return self.log.size if self.serve_size is None else self.serve_size

    # -- the endpoints ----------------------------------------------------------------------------------

    def post(self, target: str, data: bytes) -> tuple[int, dict[str, Any]]:
        path = urlsplit(target).path
        if path == f"/v1/kiosks/{self.kiosk_id}/evidence":
            return self.report(data)
        if path == f"/v1/kiosks/{self.kiosk_id}/heartbeat":
            return self.heartbeat(data)
        return self.ingest(target, data)

    def heartbeat(self, data: bytes) -> tuple[int, dict[str, Any]]:
        """Keep the heartbeat as sent and answer an offset of 0 (the real server is tested elsewhere)."""
        with self.lock:
            self.heartbeats.append(data)
            return 200, {"offset_ms": 0, "server_ms": self.received_ms, "stored": True}

    def ingest(self, target: str, data: bytes) -> tuple[int, dict[str, Any]]:
        if self.on_request is not None:
            self.on_request()
        url = urlsplit(target)
        with self.lock:
            sizes = parse_qs(url.query).get("log_size")
            log_size = int(sizes[0]) if sizes else None
            self.log_sizes.append(log_size)
            if self.fail_next:
                status, code = self.fail_next.pop(0)
                return status, _error(code, "injected failure")
            if url.path != f"/v1/kiosks/{self.kiosk_id}/events":
                return 404, _error(Reason.NOT_FOUND, url.path)
            if log_size is not None and log_size > self.log.size:  # as the real server does
                return 400, _error(Reason.BAD_FIELD, "log_size is larger than the log")
            try:
                items, clock, openings = decode_batch_request(data)
            except ProtocolError as exc:
                return 400, _error(exc.reason, exc.message)
            self.clocks.append(clock)
            self.batch_sizes.append(len(items))
            staged = list(self.stored)
            opened: dict[int, Event] = {}
            results = []
            batch: list[tuple[int, bytes, bytes]] = []
            for index, (body, sig) in enumerate(items):
                try:
                    event = verify_event(body, sig, self.kiosk_public_key).event
                    opening = openings[index]
                    if isinstance(opening, SealedOpening):  # a re-fed event: opened as the server does
                        opening = opening.open([self.receipt_key, *self.cosign_keys])
                    # New ones only, as the server; a re-fed event without an opening has none.
                    if opening is not None and event.seq > len(staged):
                        event = event.opened(opening)
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
                batch.append((event.seq, body, sig))
                opened[event.seq] = event
                results.append({"seq": event.seq, "status": "accepted", "flags": list(self.flags)})
            # The batch and its log entries commit together, as on the real server.
            self.stored = staged
            self.opened.update(opened)
            self.received_ms += 1000
            for seq, body, sig in batch:
                entry = event_entry(body, sig, received_ms=self.received_ms, flags=self.flags)
                self.event_index[seq] = self.log.append(entry)
                self.event_entry_fields[seq] = (self.received_ms, list(self.flags))
            if self.lose_next_answers:
                self.lose_next_answers -= 1
                return 502, _error("bad_gateway", "answer lost")
            head = event_hash(staged[-1]) if staged else GENESIS_PREV
            if self.lie_about_head:
                head = "f" * 64
            receipt = Receipt(kiosk=self.kiosk_id, seq=len(staged), head=head, issued_ms=START_MS)
            answer: dict[str, Any] = {"receipt": sign_receipt(receipt, self.receipt_key), "results": results}
            answer.update(self.proofs([r["seq"] for r in results], log_size))
            if self.balances_wire is not None:
                answer["balances"] = self.balances_wire
            elif self.balances is not None:
                sheet = BalanceSheet(
                    self.balances_kiosk or self.kiosk_id, self.received_ms, dict(self.balances)
                )
                answer["balances"] = sign_balances(sheet, self.balances_key or self.receipt_key)
            return 200, answer

    def proofs(self, seqs: list[int], log_size: int | None) -> dict[str, Any]:
        """``checkpoint``, ``entries`` and ``consistency`` for the events ``seqs`` (see the spec).

        A test may replace it on the instance to make the fake lie about the log.
        """
        if self.omit_checkpoint:
            return {}
        size = self._served_size()
        entries = []
        for seq in seqs:
            index = self.event_index[seq]
            received_ms, flags = self.event_entry_fields[seq]
            hashes = self.log.inclusion(index, size) if index < size else []
            if self.corrupt_inclusion and hashes:
                hashes[0] = b64encode(bytes(32))
            entries.append(
                {"seq": seq, "index": index, "received_ms": received_ms, "flags": flags, "hashes": hashes}
            )
        answer: dict[str, Any] = {"checkpoint": self.checkpoint_note(size), "entries": entries}
        # No proof from 0; and none the tree cannot give (a kiosk that saw more than is served).
        if log_size and log_size <= size and not self.omit_consistency:
            answer["consistency"] = self.log.consistency(log_size, size)
        return answer

    def get(self, target: str) -> tuple[int, dict[str, Any] | bytes]:
        url = urlsplit(target)
        if url.path == "/checkpoint":
            with self.lock:
                self.checkpoint_requests += 1
                return 200, self.checkpoint_note().encode()
        if url.path == "/v1/log/consistency":
            return self.consistency(url.query)
        if url.path == f"/v1/kiosks/{self.kiosk_id}":  # the kiosk's state, as the server's, in short
            with self.lock:
                self.state_requests += 1
                return 200, {"kiosk_id": self.kiosk_id, "last_seq": len(self.stored)}
        if url.path == "/v1/server-keys":
            with self.lock:
                self.server_keys_requests += 1
                return 200, {"transitions": list(self.transitions)}
        return self.trust_list(url.path)

    def consistency(self, query: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            try:
                args = {k: int(v[0]) for k, v in parse_qs(query).items()}
                old, new = args["from"], args["to"]
            except (KeyError, ValueError):
                return 400, _error(Reason.BAD_FIELD, "from and to are integers")
            self.consistency_requests.append((old, new))
            if not 0 <= old <= new <= self._served_size():
                return 400, _error(Reason.BAD_FIELD, "sizes out of range")
            hashes = [] if self.omit_consistency else self.log.consistency(old, new)
            return 200, {"from": old, "to": new, "hashes": hashes}

    def report(self, data: bytes) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.evidence_status != 202:
                return self.evidence_status, _error(self.evidence_code, "injected failure")
            try:
                signed = open_evidence(json.loads(data), self.kiosk_public_key, kiosk_id=self.kiosk_id)
            except ProtocolError as exc:
                return 400, _error(exc.reason, exc.message)
            self.evidence.append(signed.report)
            return 202, {"stored": True, "number": signed.report.number}

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
        self._answer(*self.server.ledger.post(self.path, data))

    def do_GET(self) -> None:
        self._answer(*self.server.ledger.get(self.path))

    def _answer(self, status: int, body: dict[str, Any] | bytes) -> None:
        text = isinstance(body, bytes)  # a checkpoint is text/plain
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if text else "application/json")
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
