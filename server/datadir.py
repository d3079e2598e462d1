"""The server's data directory: its keys and its ledger, created once and then only opened.

Layout (the directory is mode 0700, the key files 0600)::

    DATA/server.key           32-byte Ed25519 seed that signs receipts
    DATA/server.key.previous  the key before a rotation, until it is finished (server.keyrotation)
    DATA/uid-pseudonym.key    32 random bytes; kiosks name unregistered cards with it
    DATA/ledger.db            SQLite ledger (plus its -wal and -shm files), unless:
    DATA/database             the ledger's PostgreSQL URL (0600), when it lives in PostgreSQL
                              (``provision init --database``, ``server migrate-db``)
    DATA/person-keys/         one 32-byte key per volunteer, v_….key (0700/0600): opens their
                              personal data, destroyed when they are erased (server.vault)
    DATA/in-use.lock          empty; whoever has the folder open holds a shared flock on it,
                              ``server migrate-db`` an exclusive one (server.folderlock)

:func:`init_data_dir` refuses to touch a directory that already holds any of
these, because overwriting a key would orphan every receipt and pseudonym
issued so far.  It prints nothing: the caller shows the admin token once; only
its SHA-256 is stored.  :func:`open_data_dir` never creates keys, only applies
pending migrations (and signs a checkpoint for the log if the last commit or a
migration left none for its size, and moves a log that names cards to a new
origin, :mod:`server.handover`), so restarting after a crash or ``SIGKILL``
is safe.

The transparency log's origin (``kokreativ.local/ledger`` unless given) is
fixed at init: it names every checkpoint, and auditors pin it with the key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from protocol import PrivateKey, PublicKey
from protocol import clock as wall_clock
from server import tlog
from server.context import Clock, ServerContext
from server.errors import DataDirError
from server.folderlock import hold_shared
from server.handover import hand_over_if_needed
from server.keyfiles import KEY_BYTES, read_secret, write_secret
from server.keyrotation import (
    SERVER_KEY,
    Rotation,
    complete_pending_rotation,
    previous_keys,
    rotate_server_key,
)
from server.people import finish_erasures, seal_legacy
from server.storage import Storage, is_postgres, open_storage
from server.vault import PERSON_KEYS, PersonVault

log = logging.getLogger(__name__)
UID_KEY: Final = "uid-pseudonym.key"
LEDGER: Final = "ledger.db"
DATABASE: Final = "database"  # the file naming a PostgreSQL ledger
ADMIN_TOKEN_SETTING: Final = "admin_token_sha256"


@dataclass(frozen=True, slots=True)
class InitResult:
    """What a coordinator must see once: the admin token (not stored), the server's key, the log's key."""

    admin_token: str
    server_public_key: PublicKey
    log_origin: str
    log_verifier_key: str  # publish it on the programme's website for auditors


def new_admin_token() -> str:
    """A new admin or API token: 256 random bits, URL-safe base64, never beginning with ``-``.

    People paste it after ``--token`` on a command line, where a leading ``-``
    reads as an option (argparse refuses ``--token -x…``); one token in 64 began so.
    """
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):
            return token


def admin_token_hash(token: str) -> str:
    """The stored form of an admin token: hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def ledger_database(path: Path, database: str | None = None) -> str:
    """Where the ledger of data directory ``path`` is: ``database`` if given, else as the directory says.

    A PostgreSQL URL recorded in ``DATA/database``, or the SQLite file ``DATA/ledger.db``.
    """
    if database:
        return database
    recorded = Path(path) / DATABASE
    if recorded.is_file():
        return recorded.read_text(encoding="utf-8").strip()
    return str(Path(path) / LEDGER)


def record_database(path: Path, database: str) -> None:
    """Record ``database``, a PostgreSQL URL, as data folder ``path``'s ledger (0600: may hold a password)."""
    if not is_postgres(database):
        raise DataDirError(f"not a PostgreSQL URL: {database!r} (give postgresql://…)", reason="bad_database")
    write_secret(Path(path) / DATABASE, database.encode("utf-8"))


def open_ledger(path: Path, database: str | None = None, *, migrate: bool = True) -> Storage:
    """The ledger of data directory ``path`` (see :func:`ledger_database`), migrated; the caller closes it."""
    where = ledger_database(path, database)
    if not is_postgres(where) and not Path(where).is_file():
        raise DataDirError(
            f"{where} is missing; create the data directory with 'kokreativ provision init --data {path}'",
            reason="data_dir_missing",
        )
    return open_storage(where, migrate=migrate)


def init_data_dir(
    path: Path,
    *,
    origin: str = tlog.DEFAULT_ORIGIN,
    now_ms: Clock = wall_clock.now_ms,
    database: str | None = None,
) -> InitResult:
    """Create a new data directory at ``path`` (which may exist only if empty).

    ``origin`` names the transparency log (the server's URL without the
    scheme); it cannot be changed later.  ``now_ms`` dates the empty log's
    checkpoint (pass the clock :func:`open_data_dir` will be given).  Returns
    the admin token, which is shown once and stored only as a hash, and the
    log's verifier key.  ``database`` (a ``postgresql://`` URL) keeps the ledger
    in PostgreSQL instead of ``ledger.db``; that database must hold no ledger yet.
    Raises :class:`DataDirError` if ``path`` already holds anything, the database
    already holds a ledger, or ``origin`` is not a valid name (empty, spaces, ``+``).
    """
    try:
        tlog.check_origin(origin)
    except ValueError as exc:
        raise DataDirError(str(exc)) from None
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise DataDirError(f"{path} exists and is not a directory")
        if any(path.iterdir()):
            raise DataDirError(
                f"{path} is not empty; refusing to overwrite an existing data directory "
                "(give --data a new folder; copy one in use with 'kokreativ server backup')",
                reason="data_dir_not_empty",
            )
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)

    server_key = PrivateKey.generate()
    write_secret(path / SERVER_KEY, server_key.seed)
    write_secret(path / UID_KEY, secrets.token_bytes(KEY_BYTES))
    PersonVault.open_folder(path / PERSON_KEYS)
    admin_token = new_admin_token()
    if database is not None:
        record_database(path, database)
    with open_storage(ledger_database(path)) as storage:
        with storage.write() as tx:
            if tx.get_setting(ADMIN_TOKEN_SETTING) is not None:
                raise DataDirError(
                    f"{storage.database} already holds a ledger; refusing to overwrite it "
                    "(give a new, empty database)",
                    reason="data_dir_not_empty",
                )
            tx.set_setting(ADMIN_TOKEN_SETTING, admin_token_hash(admin_token))
            tx.set_setting(tlog.ORIGIN_SETTING, origin)
        tlog.ensure_checkpoint(storage, server_key, now_ms())  # the empty log's, size 0
    return InitResult(
        admin_token=admin_token,
        server_public_key=server_key.public_key,
        log_origin=origin,
        log_verifier_key=tlog.verifier_key(origin, server_key.public_key),
    )


def open_data_dir(
    path: Path, *, now_ms: Clock = wall_clock.now_ms, database: str | None = None
) -> ServerContext:
    """Open an existing data directory; the caller closes the returned context.

    ``database`` overrides where the ledger is (``server run --database``);
    by default it is where the directory says (:func:`ledger_database`).

    Here, where the key folder is known, personal data still in plaintext from
    before migration m016 is sealed (and the file vacuumed), and an erasure a
    crash cut short gets its key destroyed.
    """
    path = Path(path)
    folder_lock = hold_shared(path)  # a move (server migrate-db) waits for every holder to close
    try:
        storage = open_ledger(path, database)
    except BaseException:
        folder_lock.release()
        raise
    try:
        uid_key = read_secret(path / UID_KEY)
        with storage.read() as tx:
            if tx.get_setting(ADMIN_TOKEN_SETTING) is None:
                raise DataDirError(f"{storage.database} has no admin token; it was not made by init")
        vault = PersonVault.open_folder(path / PERSON_KEYS)
        seal_legacy(storage, vault)
        finish_erasures(storage, vault)
        complete_pending_rotation(path, storage)  # before the key is read: it may be the new one
        server_key = PrivateKey(read_secret(path / SERVER_KEY))
        cosign = previous_keys(path)
        tlog.ensure_checkpoint(storage, server_key, now_ms(), cosign)
        moved = hand_over_if_needed(storage, server_key, now_ms(), vault, cosign)
        if moved is not None:
            log.warning(
                "the transparency log named cards: archived origin %s at size %d; the log goes on as %s, "
                "verifier key %s (publish it for auditors)",
                moved.handover.old_origin,
                moved.handover.old_size,
                moved.handover.new_origin,
                tlog.verifier_key(moved.handover.new_origin, server_key.public_key),
            )
    except BaseException:
        storage.close()
        folder_lock.release()
        raise
    return ServerContext(
        storage=storage,
        server_key=server_key,
        uid_pseudonym_key=uid_key,
        vault=vault,
        now_ms=now_ms,
        cosign_keys=cosign,
        folder_lock=folder_lock,
    )


def rotate_key(path: Path, *, now_ms: int) -> Rotation:
    """Step 1 of a server key rotation on the data folder ``path`` (:mod:`server.keyrotation`)."""
    path = Path(path)
    with open_ledger(path) as storage:
        return rotate_server_key(path, storage, now_ms=now_ms)
