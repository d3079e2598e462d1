"""Several server worker processes on one ledger at once, on both engines.

Each worker is a real process that opens the data folder as ``server run`` does
(its own connection, or its own PostgreSQL pool) and ingests at the same moment
as the others.  What must hold, however they interleave: one online redemption
of a balance is debited, not two (no double spend); a batch sent by several
workers is stored and logged once (no duplicate ingest); the log stays one
chain whose entries and tree agree (appends serialised).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from server_helpers import MINUTE, Api
from server_shop_helpers import ShopWorld, redeem

from protocol import EventKind, encode_batch
from server.models import RedemptionStatus
from server.verify import verify_ledger, verify_store
from tests.server.concurrent_workers import ingest_when_told


def test_workers_at_once_spend_a_balance_once_and_store_a_batch_once(
    api: Api, data_dir: tuple[Path, object], ledger_database: str | None, tmp_path: Path
) -> None:
    w = ShopWorld(api)
    ada = w.holder(tokens=10)
    other_till = w.terminal()
    first, spend_here = redeem(w.till, ada.card_id, 10)
    second, spend_there = redeem(other_till, ada.card_id, 10)
    bob = w.holder()
    start = api.clock.now - 200 * MINUTE
    shifts = [
        w.earner.event(
            EventKind.CHECK_IN if i % 2 == 0 else EventKind.CHECK_OUT, bob.card_id, start + i * MINUTE
        )
        for i in range(20)
    ]
    with api.context.storage.read() as tx:
        size_before = tx.tlog_size()
        seq_before = tx.get_kiosk(w.earner.kiosk_id).last_seq  # type: ignore[union-attr]

    go = tmp_path / "go"
    jobs = [
        (w.till.kiosk_id, encode_batch([spend_here])),
        (other_till.kiosk_id, encode_batch([spend_there])),
        (w.earner.kiosk_id, encode_batch(shifts)),
        (w.earner.kiosk_id, encode_batch(shifts)),
        (w.earner.kiosk_id, encode_batch(shifts)),
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = [
            pool.submit(
                ingest_when_told, str(data_dir[0]), ledger_database, api.clock.now, kiosk, batch, str(go)
            )
            for kiosk, batch in jobs
        ]
        go.touch()
        answers = [future.result(timeout=120) for future in futures]

    # One worker stored the shifts; the others were told they were duplicates, never a second copy.
    shift_answers = answers[2:]
    assert sorted(answer.count("accepted") for answer in shift_answers) == [0, 0, 20], answers
    assert all(set(answer) <= {"accepted", "duplicate"} for answer in shift_answers), answers

    with api.context.storage.read() as tx:
        statuses = sorted(tx.get_redemption(rid).status for rid in (first, second))  # type: ignore[union-attr]
        assert statuses == sorted([RedemptionStatus.DEBITED, RedemptionStatus.DECLINED])
        assert tx.balance(ada.volunteer_id) == 0  # spent once, never overdrawn
        assert tx.balances() == tx.summed_balances()
        assert tx.get_kiosk(w.earner.kiosk_id).last_seq == seq_before + 20  # type: ignore[union-attr]
        size_after = tx.tlog_size()
    assert size_after > size_before
    store = verify_store(api.context.storage)
    assert store.ok, store.to_json()
    ledger = verify_ledger(api.context.storage)
    assert ledger.ok, ledger
