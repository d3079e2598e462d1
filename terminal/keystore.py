"""The kiosk's Ed25519 key on disk: a 32-byte seed, mode 0600, written once.

A kiosk's key never changes after enrolment (the server knows the kiosk by
it, and a new key means a new kiosk), so :func:`create_key` refuses to
replace an existing file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from protocol import PrivateKey, Reason
from protocol.keys import SEED_BYTES
from terminal._files import TargetExistsError, write_private
from terminal.errors import ConfigError, KeyExistsError


def create_key(path: Path) -> PrivateKey:
    """Generate a key and store its seed at ``path``; raise :class:`KeyExistsError` if one exists."""
    key = PrivateKey.generate()
    try:
        write_private(path, key.seed, overwrite=False)
    except TargetExistsError:
        raise KeyExistsError(
            Reason.KEY_ALREADY_ENROLLED, f"{path} exists; a kiosk key is never replaced"
        ) from None
    return key


def load_key(path: Path) -> PrivateKey:
    """Read the seed at ``path``; a missing, unreadable or wrong-sized file is a :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            seed = f.read(SEED_BYTES + 1)
    except OSError as exc:
        raise ConfigError(Reason.MISSING_FIELD, f"cannot read kiosk key {path}: {exc.strerror}") from exc
    if len(seed) != SEED_BYTES:
        raise ConfigError(Reason.BAD_FIELD, f"kiosk key {path} is not a {SEED_BYTES}-byte seed")
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(Reason.BAD_FIELD, f"kiosk key {path} is readable by others; chmod 600 it")
    return PrivateKey(seed)
