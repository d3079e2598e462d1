"""Shared fixtures: a real ``kokreativ server run`` process and a kiosk enrolled against it.

Package-level conftests add their own fixtures; names here are long so they never clash.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
import requests
from argon2 import PasswordHasher

from hardware.indicator import RecordingIndicator
from hardware.reader import Tap
from kokreativ.localserver import free_port, start_server, stop_server
from kokreativ.pgcluster import MISSING, PgCluster, find_binaries
from protocol import PrivateKey, SignedEvent, b64encode, encode_batch, enrolment_message
from protocol.clock import now_ms
from provisioning.client import ApiClient
from provisioning.enrol import enrol_kiosk, normalise_code
from server.accounts import persons
from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread
from terminal.clock import Clock, SimulatedClock
from terminal.config import KioskConfig
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.tap import Kiosk
from terminal.trust import TrustStore
from tests.cardfactory import TestIssuer
from tests.server.server_helpers import FakeKiosk

# Console passwords in the test process: argon2id at its smallest cost.  The server's hasher
# (argon2-cffi's defaults, 64 MiB and 3 passes) takes 0.1-0.3 s per hash or check on the test machine,
# and every console person and login of the suite paid it.  Processes the tests start keep the real
# cost; tests/server/test_server_accounts.py checks it with ``production_password_hashes``.
PRODUCTION_HASHER: Final = persons._HASHER
CHEAP_HASHER: Final = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashes() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(persons, "_HASHER", CHEAP_HASHER)
        yield


@pytest.fixture
def production_password_hashes(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """The server's own password hasher for one test (the suite uses :data:`CHEAP_HASHER`)."""
    monkeypatch.setattr(persons, "_HASHER", PRODUCTION_HASHER)
    return PRODUCTION_HASHER


def clock_from_now() -> SimulatedClock:
    """A kiosk's simulated clock that starts at the real now: call it once the real server enrolled the kiosk.

    A server on the real clock holds a shift dated before its kiosk's enrolment
    (``before_enrolment``, :mod:`protocol.economy.kiosklimits`), so a kiosk enrolled
    against it cannot work on a fixed date in the past.  Started now, its shifts of
    simulated hours run ahead of the server's clock instead, which takes event
    times up to 24 h ahead of its own (:data:`protocol.economy.clocks.CLOCK_MAX_AHEAD_MS`):
    keep what a test simulates under a day.
    """
    return SimulatedClock(now_ms())


@dataclass
class ServerProcess:
    """A ``kokreativ server run`` process that a test may kill and restart."""

    data_dir: Path
    port: int
    admin_token: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_server(self.data_dir, self.port, self.data_dir.parent / "server.log")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)
            self.process = None

    def admin(self) -> ApiClient:
        return ApiClient(self.url, admin_token=self.admin_token)

    def enrol_signer(self, site_id: str) -> FakeKiosk:
        """A kiosk's signing side, enrolled at ``site_id`` with a one-time code like any kiosk."""
        kiosk = FakeKiosk(key=PrivateKey.generate())
        with self.admin() as admin:
            code = normalise_code(admin.create_enrolment_code(site_id)["code"])
            signature = kiosk.key.sign(enrolment_message(code, kiosk.key.public_key))
            answer = admin.enrol(
                {"code": code, "public_key": kiosk.key.public_key.to_b64(), "signature": b64encode(signature)}
            )
        kiosk.kiosk_id = answer["kiosk_id"]
        return kiosk

    def send(self, kiosk: FakeKiosk, *events: SignedEvent) -> None:
        """Post ``events`` as one batch from ``kiosk``; the server must take it."""
        response = requests.post(
            f"{self.url}/v1/kiosks/{kiosk.kiosk_id}/events",
            data=encode_batch(list(events)),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200, response.text


class ServerThread(ServerProcess):
    """The same server as :class:`ServerProcess`'s, served from a thread of the test process.

    For the tests about a client of the server (the provisioning CLI, say) rather than
    about the server process: no interpreter start per test (about a second each).  It
    cannot be killed (:meth:`stop` and :meth:`start` restart it cleanly); crash tests use
    :class:`ServerProcess`.
    """

    def __init__(self, data_dir: Path, admin_token: str) -> None:
        super().__init__(data_dir, 0, admin_token)
        self._running: ExitStack | None = None

    def start(self) -> None:
        with ExitStack() as running:
            context = running.enter_context(open_data_dir(self.data_dir))
            # A restart keeps the port: enrolled kiosks have the URL.
            url = running.enter_context(serve_in_thread(create_app(context), port=self.port))
            self.port = int(url.rsplit(":", 1)[1])
            self._running = running.pop_all()

    def kill(self) -> None:
        raise NotImplementedError("a server in a thread cannot be killed: use ServerProcess")

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@contextmanager
def server_in_thread(folder: Path) -> Iterator[ServerThread]:
    """A new data directory in ``folder``, served from a thread for the block."""
    init = init_data_dir(folder)
    server = ServerThread(folder, init.admin_token)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def server_in_process(folder: Path) -> Iterator[ServerProcess]:
    """A new data directory in ``folder``, served by a ``kokreativ server run`` process for the block."""
    init = init_data_dir(folder)
    proc = ServerProcess(folder, free_port(), init.admin_token)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[ServerProcess]:
    with server_in_process(tmp_path / "server") as server:
        yield server


@dataclass
class EnrolledKiosk:
    config_path: Path
    config: KioskConfig
    card_ids: list[str]
    issuer: TestIssuer

    def taps(self) -> list[Tap]:
        """One genuine tap per card, signed by the issuer key the kiosk trusts."""
        return [self.issuer.tap(card) for card in self.card_ids]

    def tap_kiosk(self, outbox: Outbox, clock: Clock, trust: TrustStore | None = None) -> Kiosk:
        """The kiosk's tap logic on ``outbox`` and ``clock``, with its own key and trust list."""
        config = self.config
        return Kiosk(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=trust or TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id),
        )


@pytest.fixture
def enrolled_kiosk(server_process: ServerProcess, tmp_path: Path) -> EnrolledKiosk:
    server = server_process
    issuer = TestIssuer()
    with server.admin() as admin:
        site = admin.add_site("Test site", tokens_per_hour=10)
        admin.add_issuer_key(issuer.key.public_key.to_b64())
        cards = [
            admin.register_card(name=f"Volunteer {i}", site_id=site["site_id"])["card_id"] for i in range(3)
        ]
        code = admin.create_enrolment_code(site["site_id"])["code"]
        config_path, config = enrol_kiosk(server.url, code, tmp_path / "kiosk")  # trusts the issuer key
    return EnrolledKiosk(config_path, config, cards, issuer)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    """A real PostgreSQL server for the session (kokreativ/pgcluster.py); a skip where none is installed."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(MISSING)
    cluster = PgCluster(binaries)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_database(postgres_cluster: PgCluster) -> Iterator[str]:
    """The URL of a new PostgreSQL database holding an empty, migrated ledger; dropped afterwards."""
    url = postgres_cluster.new_database()
    try:
        yield url
    finally:
        postgres_cluster.drop(url)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``hardware`` unless KOKREATIV_HARDWARE=1 says real parts are attached.

    And run tests marked ``sqlite_only`` (SQLite's own mechanics) on that engine alone: their
    PostgreSQL variant is not collected.
    """
    import os

    def engine(item: pytest.Item) -> str | None:
        callspec = getattr(item, "callspec", None)
        return None if callspec is None else callspec.params.get("engine")

    kept = [i for i in items if not (i.get_closest_marker("sqlite_only") and engine(i) == "postgresql")]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept

    if os.environ.get("KOKREATIV_HARDWARE") == "1":
        return
    skip = pytest.mark.skip(reason="needs real GPIO or a reader; set KOKREATIV_HARDWARE=1 on a kiosk to run")
    for item in items:
        if item.get_closest_marker("hardware") is not None:
            item.add_marker(skip)
