"""The scale bench (``make bench-scale``) at a tiny size: its report's shape, and every read checked.

No timings are judged here: :func:`bench.scale.check` compares each operation's
answer with what the generator booked (balances, the month's tokens and
redemptions, a verified inclusion proof), inside :func:`bench.scale.run_engine`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from bench import scale

TINY = scale.Shape(cards=40, sites=2, kiosks=4, shops=3, per_month=300)


@pytest.mark.parametrize("engine", scale.ENGINES)
def test_the_scale_bench_grows_a_tiny_economy_and_checks_every_read(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    lines: list[str] = []
    given = request.getfixturevalue("postgres_cluster").empty_database() if engine == "postgresql" else None
    with contextlib.ExitStack() as stack:
        database = scale.database_for(engine, tmp_path, given, stack)
    results = scale.run_engine(
        engine,
        database,
        tmp_path,
        [400, 1000],
        TINY,
        window=60,
        samples=3,
        log=lines.append,
    )
    assert [r["target"] for r in results] == [400, 1000]
    for result in results:
        assert result["engine"] == engine
        assert result["size"] >= result["target"]
        assert result["window_events"] >= 1 and result["ingest_events_per_s"] > 0
        assert all(result[op] > 0 for op in scale.OPERATIONS)
    last = results[-1]["checked"]
    assert last["balances_checked"] > 0 and last["proof_hashes"] > 0
    assert last["month_tokens"] > 0 and last["month_redemptions"] > 0
    assert len(lines) == 1 + 2 * len(results)

    text = scale.table(results)
    assert text.splitlines()[0].split() == ["engine", "entries", "ingest/s", *scale.OPERATIONS]
    assert len(text.splitlines()) == 1 + len(results)
    json.dumps(results)  # the JSON file's content
    scale.plot(results, tmp_path / "img" / "plot.png")
    assert (tmp_path / "img" / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_the_storage_is_opened_from_one_database_string(tmp_path: Path, postgres_database: str) -> None:
    with scale.open_storage(str(tmp_path / "ledger.db")) as storage, storage.read() as tx:
        assert storage.engine == "sqlite" and tx.tlog_size() == 0
    with scale.open_storage(postgres_database) as storage, storage.read() as tx:
        assert storage.engine == "postgresql" and tx.tlog_size() == 0


def test_a_month_too_busy_for_its_cards_is_refused_not_booked_as_overlapping_shifts(tmp_path: Path) -> None:
    clock = scale.SimClock(0)
    first = scale.first_month(2)
    clock.ms = scale.month_start(*first) - 48 * scale.HOUR_MS
    with scale.open_context(str(tmp_path / "ledger.db"), tmp_path, clock) as ctx:
        economy = scale.Economy(
            ctx, clock, scale.Shape(cards=2, sites=1, kiosks=1, shops=1, per_month=50_000), first
        )
        economy.setup()
        with pytest.raises(ValueError, match="overlap"):
            economy._month_specs()
