"""The transparency log's figures: ``append_per_s``, ``proof_ms`` and the audit of a tile mirror.

What each figure means is in :mod:`bench.__main__`'s docstring; these only measure.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    EventKind,
    PrivateKey,
    encode_batch,
    sign_event,
)
from protocol.events import committed_event
from server.datadir import init_data_dir

BATCH = 500  # events or entries per batch, in every figure that batches


def tlog_append_rate(folder: Path, entries_count: int) -> float:
    """Entries per second appended by :func:`server.tlog.append` in batches of 500, SQLite on disk.

    Each batch is one durable transaction that also signs its checkpoint, as at ingest.
    """
    import os

    from protocol.logentry import event_entry
    from server import tlog
    from server.context import ServerContext
    from server.storage import SqliteStorage
    from server.vault import PERSON_KEYS, PersonVault

    folder.mkdir()
    entries = [
        event_entry(os.urandom(420), os.urandom(64), received_ms=1_764_400_000_000 + i, flags=[])
        for i in range(entries_count)
    ]
    with SqliteStorage(folder / "ledger.db") as storage:
        ctx = ServerContext(
            storage=storage,
            server_key=PrivateKey.generate(),
            uid_pseudonym_key=bytes(32),
            vault=PersonVault(folder / PERSON_KEYS),
        )
        tlog.ensure_checkpoint(storage, ctx.server_key, 0)
        started = time.perf_counter()
        for start in range(0, entries_count, BATCH):
            with storage.write() as tx:
                tlog.append(ctx, tx, entries[start : start + BATCH])
        return entries_count / (time.perf_counter() - started)


def tlog_proof_times(folder: Path, size: int, samples: int) -> list[float]:
    """Seconds per inclusion + consistency proof for random indexes in a log of ``size`` entries.

    The log is built directly (hashes precomputed with :class:`server.tlogtree.Frontier`,
    one ``executemany`` per chunk); each sample is one read transaction, as a request is.
    """
    import random

    from protocol.merkle import leaf_hash
    from server import tlog
    from server.storage import SqliteStorage
    from server.tlogtree import Frontier

    folder.mkdir()
    rng = random.Random(7)
    frontier = Frontier(0, {})
    with SqliteStorage(folder / "ledger.db") as storage:
        with storage.write() as tx:
            chunk = 1 << 16
            for start in range(0, size, chunk):
                entries = [b"entry %d" % i for i in range(start, min(size, start + chunk))]
                tx.append_tlog(start, entries, frontier.extend(leaf_hash(e) for e in entries))
        times: list[float] = []
        for _ in range(samples):
            index, old = rng.randrange(size), rng.randrange(1, size)
            started = time.perf_counter()
            with storage.read() as tx:
                hashes = tlog.StoredHashes(tx)
                tlog.inclusion(hashes, index, size)
                tlog.consistency(hashes, old, size)
            times.append(time.perf_counter() - started)
    return times


def audit_rate(folder: Path, events_count: int) -> tuple[float, int]:
    """``verify ledger`` on a tile mirror of ``events_count`` events: events audited per second, and cores.

    ``audit_vs_ceiling`` divides the rate by cores × ``verify_ceiling_per_s``: what
    checking every signature on every core would allow.  Target ≥ 0.7.  The
    folder is filled in-process through :func:`server.ingest.ingest_batch` in
    batches of 500 (signatures checked on a thread per core), in ``/dev/shm``
    where there is one (no fsync wait), so building it takes well under a minute.
    The log is then exported as a tile mirror (``kokreativ server export-log``)
    beside it, outside the timed part: the audit reads only that mirror.
    """
    import os
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    from protocol import b64encode, enrolment_message
    from protocol.note import NoteVerifier
    from provisioning.audit import AuditOptions, MirrorSource, audit_ledger, default_workers
    from server import admin, cards, enrolment, ingest
    from server.datadir import open_data_dir
    from server.logexport import export_log
    from server.ratelimit import ENROLMENT_CODES, GuessLimiter

    shm = Path("/dev/shm")
    roomy = shm.is_dir() and shutil.disk_usage(shm).free > events_count * 4096  # ~1.7 KiB per event
    with tempfile.TemporaryDirectory(dir=shm if roomy else folder.parent) as tmp:
        data = Path(tmp) / "server"
        verifier = NoteVerifier.parse(init_data_dir(data, origin="bench.kokreativ/ledger").log_verifier_key)
        with open_data_dir(data) as ctx, ThreadPoolExecutor(os.cpu_count()) as pool:
            site = admin.create_site(ctx, {"name": "bench", "tokens_per_hour": 10})["site_id"]
            code = admin.create_enrolment_code(ctx, {"site_id": site})["code"].replace("-", "")
            key = PrivateKey.generate()
            signature = b64encode(key.sign(enrolment_message(code, key.public_key)))
            enrol = {"code": code, "public_key": key.public_key.to_b64(), "signature": signature}
            attempt = GuessLimiter(ctx.now_ms).attempt(ENROLMENT_CODES, "bench")
            kiosk_id = enrolment.enrol(ctx, enrol, attempt=attempt)["kiosk_id"]
            card_ids = [
                cards.create_card(ctx, {"name": f"bench {i}", "site_id": site})["card_id"] for i in range(50)
            ]
            start_ms, boot, prev = (
                int(time.time() * 1000) - events_count * 60_000,
                str(uuid.uuid4()),
                GENESIS_PREV,
            )
            for first in range(0, events_count, BATCH):
                batch = []
                for i in range(first, min(first + BATCH, events_count)):
                    kind = EventKind.CHECK_IN if (i // len(card_ids)) % 2 == 0 else EventKind.CHECK_OUT
                    clock = ClockEvidence(wall_ms=start_ms + i * 60_000, synced=True, boot_id=boot, mono_ms=i)
                    event, opening = committed_event(
                        kiosk=kiosk_id,
                        seq=i + 1,
                        prev=prev,
                        kind=kind,
                        card=card_ids[i % len(card_ids)],
                        clock=clock,
                    )
                    batch.append(sign_event(event, key, opening))
                    prev = batch[-1].hash
                ingest.ingest_batch(ctx, kiosk_id, encode_batch(batch), verify_pool=pool)
            mirror = Path(export_log(ctx, Path(tmp) / "mirror").folder)
        source = MirrorSource(mirror)
        try:
            options = AuditOptions(verifiers=[verifier], state_dir=folder, workers=default_workers())
            report = audit_ledger(source, options)
        finally:
            source.close()
    if not report.ok or report.events != events_count:
        raise RuntimeError("the audit of a clean ledger failed:\n" + "\n".join(report.lines()))
    return report.events_per_s, report.workers
