"""The machine's real verification ceiling: bare Ed25519 in one process per core, all at once.

In a module of its own, not in ``bench/__main__.py``: the worker processes are
spawned, and a spawned process finds its function by importing its module,
which ``python -m bench``'s ``__main__`` is not.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import nacl.signing

if TYPE_CHECKING:
    from protocol import SignedEvent


def _ready(*_: object) -> None:
    """Nothing: calling it in a new process imports this module there."""


def _verify_for(args: tuple[list[tuple[bytes, bytes]], bytes, float]) -> int:
    """One process's share of :func:`verify_all_cores`: verifications until ``deadline`` (monotonic)."""
    pairs, public_key, deadline = args
    verify_key = nacl.signing.VerifyKey(public_key)
    done = 0
    while time.monotonic() < deadline:
        for body, signature in pairs:
            verify_key.verify(body, signature)
        done += len(pairs)
    return done


def verify_all_cores(events: list[SignedEvent], public_key: bytes, seconds: float = 3.0) -> float:
    """Bare PyNaCl verifications per second with one process per core, all at once: this machine's ceiling.

    On a shared two-core VM this was about 1.5 × one core, not 2 ×, so figures that use
    every core are divided by this, measured in the same run, not by cores × one core.
    Each process verifies the same pre-signed events over and over until a common deadline.
    """
    import multiprocessing
    import os

    cores = os.cpu_count() or 1
    pairs = [(event.body, event.signature) for event in events[:500]]
    context = multiprocessing.get_context("spawn")
    # The initializer makes each process import this module (and PyNaCl) before the clock starts.
    with context.Pool(cores, initializer=_ready) as pool:
        pool.map(_ready, range(cores))  # returns once the pool has started its processes
        started = time.monotonic()
        deadline = started + seconds
        done = sum(pool.map(_verify_for, [(pairs, public_key, deadline)] * cores, chunksize=1))
        elapsed = time.monotonic() - started
    return done / elapsed
