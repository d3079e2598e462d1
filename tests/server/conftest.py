"""Fixtures for the ledger server tests: a real data directory, a real loopback server, real keys.

Each test gets a fresh data directory in ``tmp_path``, a uvicorn server on
127.0.0.1 (through ``server.runner.serve_in_thread``) and kiosks that enrol
through the API.  The server's clock is a ``FakeClock`` the test moves.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

# --import-mode=importlib does not put test folders on sys.path; the helpers module lives here.
sys.path.insert(0, str(Path(__file__).parent))

from server_helpers import Api, FakeClock, World

from protocol import PublicKey
from server.app import create_app
from server.context import ServerContext
from server.datadir import InitResult, init_data_dir, open_data_dir
from server.runner import serve_in_thread


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ENGINES: Final = tuple(os.environ.get("KOKREATIV_ENGINES", "sqlite,postgresql").split(","))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The ledger engine of this run of the test: every test that opens a ledger runs on both."""
    return str(request.param)


@pytest.fixture
def ledger_database(engine: str, request: pytest.FixtureRequest) -> str | None:
    """Where the test's ledger lives: ``None`` for SQLite's file, else a new PostgreSQL database's URL."""
    if engine == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def data_dir(tmp_path: Path, ledger_database: str | None) -> tuple[Path, InitResult]:
    path = tmp_path / "server-data"
    return path, init_data_dir(path, database=ledger_database)


@pytest.fixture
def context(data_dir: tuple[Path, InitResult], clock: FakeClock) -> Iterator[ServerContext]:
    with open_data_dir(data_dir[0], now_ms=clock) as ctx:
        yield ctx


@pytest.fixture
def api(context: ServerContext, data_dir: tuple[Path, InitResult], clock: FakeClock) -> Iterator[Api]:
    with serve_in_thread(create_app(context)) as base_url:
        client = Api(base_url, data_dir[1].admin_token, context, clock)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture
def server_key(data_dir: tuple[Path, InitResult]) -> PublicKey:
    return data_dir[1].server_public_key


@pytest.fixture
def world(api: Api) -> World:
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"])
    card = api.create_card("Ada Lovelace")
    return World(site=site, kiosk=kiosk, card_id=card["card_id"], volunteer_id=card["volunteer_id"])
