"""Planned rotation of the server key, in two steps an operator runs on the server.

1. ``kokreativ server rotate-key --data DIR`` makes a new key and a transition
   from the old one, signed by both (:mod:`protocol.serverkeys`).  It logs the
   transition (a ``server_key`` entry) and keeps it for ``GET /v1/server-keys``.
   From the next start the server signs receipts, balance sheets and trust
   lists with the new key, and co-signs every checkpoint with the old one too.
   A kiosk notices the first document it cannot verify with its pinned key,
   follows the transition, and pins the new key.  An auditor with the old
   verifier key keeps verifying the log meanwhile.
2. ``kokreativ server rotate-key --data DIR --finish``, once every kiosk has
   synced since (``provision terminal list`` shows when each was last seen),
   deletes the old key: checkpoints carry the new key's signature only.

Files in the data folder::

    server.key            the key the server signs with
    server.key.previous   the old key, between the two steps (co-signs checkpoints)
    server.key.next       only for a moment inside step 1

Step 1 is crash-safe.  It writes ``server.key.next`` first, then commits the
transition to the ledger, then renames the files.  If it crashes between
commit and renames, opening the data folder completes the renames
(:func:`complete_pending_rotation`).  If it crashes before the commit, the
leftover ``server.key.next`` is removed.

A rotation cannot help when the old key has leaked: whoever holds it could sign
a transition of their own.  ``docs/operations.md`` says what to do then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from protocol import PrivateKey, PublicKey
from protocol.serverkeys import sign_transition
from server import tlog
from server.context import ServerContext
from server.errors import DataDirError
from server.keyfiles import fsync_dir, read_secret, write_secret
from server.storage import Storage
from server.vault import PERSON_KEYS, PersonVault

SERVER_KEY: Final = "server.key"
PREVIOUS_KEY: Final = "server.key.previous"
NEXT_KEY: Final = "server.key.next"


@dataclass(frozen=True, slots=True)
class Rotation:
    """What step 1 did: the two public keys, the log entry and the verifier key to publish."""

    old_public_key: PublicKey
    new_public_key: PublicKey
    log_index: int
    log_verifier_key: str


def _read_key(path: Path) -> PrivateKey:
    return PrivateKey(read_secret(path))


def _swap(folder: Path) -> None:
    """``server.key`` → ``server.key.previous``, ``server.key.next`` → ``server.key``, durably."""
    os.replace(folder / SERVER_KEY, folder / PREVIOUS_KEY)
    os.replace(folder / NEXT_KEY, folder / SERVER_KEY)
    fsync_dir(folder)


def complete_pending_rotation(folder: Path, storage: Storage) -> None:
    """Finish or undo a step 1 that crashed between writing ``server.key.next`` and the renames.

    The ledger decides: if its newest transition is to the key in ``server.key.next``,
    the transition was committed and the renames are done now; otherwise the
    commit never happened and the unused key is removed.
    """
    pending = folder / NEXT_KEY
    if not pending.exists():
        return
    next_key = _read_key(pending)
    with storage.read() as tx:
        transitions = tx.server_key_transitions()
    if transitions and transitions[-1].transition.new == next_key.public_key:
        _swap(folder)
    else:
        pending.unlink()
        fsync_dir(folder)


def previous_keys(folder: Path) -> tuple[PrivateKey, ...]:
    """The old key that still co-signs checkpoints between the two steps, if any."""
    path = folder / PREVIOUS_KEY
    return (_read_key(path),) if path.exists() else ()


def rotate_server_key(folder: Path, storage: Storage, *, now_ms: int) -> Rotation:
    """Step 1 (see the module docstring) on the data folder ``folder`` whose ledger is ``storage``.

    Refuses while an earlier rotation is not finished: one old key co-signs at a time.
    """
    folder = Path(folder)
    if (folder / PREVIOUS_KEY).exists():
        raise DataDirError(
            f"{folder / PREVIOUS_KEY} exists: finish the last rotation first (rotate-key --finish), "
            "once every kiosk has synced since"
        )
    complete_pending_rotation(folder, storage)
    old = _read_key(folder / SERVER_KEY)
    new = PrivateKey.generate()
    signed = sign_transition(old, new, at_ms=now_ms)
    write_secret(folder / NEXT_KEY, new.seed)
    fsync_dir(folder)
    # The checkpoint for the new entry is signed by both keys, like every one until --finish.  Only
    # the signing keys and the clock of this context are used.
    ctx = ServerContext(
        storage=storage,
        server_key=new,
        uid_pseudonym_key=b"",
        vault=PersonVault(folder / PERSON_KEYS),
        cosign_keys=(old,),
    )
    with storage.write() as tx:
        entry = tlog.server_key_entry(signed.body, signed.sig_old, signed.sig_new, version=tx.log_format())
        index = tx.tlog_size()
        tx.insert_server_key_transition(signed, index)
        tlog.append(ctx, tx, [entry], now_ms=now_ms)
        log_origin = tlog.origin(tx)
    _swap(folder)
    return Rotation(old.public_key, new.public_key, index, tlog.verifier_key(log_origin, new.public_key))


def finish_rotation(folder: Path) -> PublicKey | None:
    """Step 2: delete the old key, so checkpoints carry the new key's signature only.

    Returns the old key's public half, or ``None`` when no rotation was pending.
    """
    path = Path(folder) / PREVIOUS_KEY
    if not path.exists():
        return None
    old = _read_key(path)
    path.unlink()
    fsync_dir(Path(folder))
    return old.public_key
