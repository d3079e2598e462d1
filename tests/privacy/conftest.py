"""Fixtures for the stranger test: an economy built once per format through the real app on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.app import create_app
from server.datadir import init_data_dir, open_data_dir
from server.runner import serve_in_thread
from tests.privacy.economy import Economy, EconomySpec, EventFormat, Subject, build_economy
from tests.privacy.material import PublicMaterial, collect
from tests.server.server_helpers import Api, FakeClock


@contextmanager
def loopback_api(folder: Path, log_format: int = 2) -> Iterator[tuple[Api, list[object]]]:
    """An :class:`Api` on a fresh data folder served on 127.0.0.1, and the app's routes.

    ``log_format`` 1 makes it a data folder from before issue 17, whose log names
    cards (entry v1) until its hand-over at the next start: the positive control.
    """
    clock = FakeClock()
    init = init_data_dir(folder)
    with open_data_dir(folder, now_ms=clock) as ctx:
        if log_format != 2:
            with ctx.storage.write() as tx:
                tx.set_log_format(log_format)
        app = create_app(ctx)
        with serve_in_thread(app) as base_url:
            api = Api(base_url, init.admin_token, ctx, clock)
            try:
                yield api, list(app.routes)
            finally:
                api.close()


@dataclass(frozen=True, slots=True)
class StrangerRun:
    """An economy, what a stranger fetched of it, and the truth about each entry (for scoring)."""

    economy: Economy
    material: PublicMaterial
    subjects: dict[int, Subject]


def stranger_run(folder: Path, fmt: EventFormat) -> StrangerRun:
    """Build the economy (:meth:`EconomySpec.from_env`) with kiosks signing ``fmt``; collect; find truth."""
    with loopback_api(folder, 1 if fmt is EventFormat.V1 else 2) as (api, routes):
        economy = build_economy(api, EconomySpec.from_env(), fmt)
        material = collect(api.base_url, routes)  # type: ignore[arg-type]
    return StrangerRun(economy, material, economy.truth.subjects(material.entries))


@pytest.fixture(scope="module")
def v1_run(tmp_path_factory: pytest.TempPathFactory) -> StrangerRun:
    return stranger_run(tmp_path_factory.mktemp("stranger-v1") / "server-data", EventFormat.V1)


@pytest.fixture(scope="module")
def v2_run(tmp_path_factory: pytest.TempPathFactory) -> StrangerRun:
    return stranger_run(tmp_path_factory.mktemp("stranger-v2") / "server-data", EventFormat.V2)
