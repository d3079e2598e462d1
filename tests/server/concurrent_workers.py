"""What each worker process of tests/server/test_server_concurrency.py runs (importable, for spawn)."""

from __future__ import annotations

import time
from pathlib import Path

from server import ingest
from server.datadir import open_data_dir
from server.errors import ServiceError


def ingest_when_told(
    data: str, database: str | None, now_ms: int, kiosk_id: str, batch: bytes, go: str
) -> list[str]:
    """Open the data folder as a server worker would, wait for ``go`` to exist, ingest ``batch``.

    Returns each event's status (or the refusal's reason), for the parent to compare.
    """
    with open_data_dir(Path(data), now_ms=lambda: now_ms, database=database) as ctx:
        while not Path(go).exists():  # all workers are open and waiting: start together
            time.sleep(0.001)
        try:
            answer = ingest.ingest_batch(ctx, kiosk_id, batch)
        except ServiceError as refused:
            return [f"refused:{refused.reason.value}"]
        return [str(result["status"]) for result in answer["results"]]
