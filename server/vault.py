"""Personal data under one key per person, kept apart from the database (crypto-shredding).

A volunteer's name and Ehrenamtskarte number are stored in ``personal_data``
only as ciphertext.  The key that opens it is a 32-byte file
``<data>/person-keys/<volunteer_id>.key`` (folder 0700, files 0600), never in
the database, so the database file, its WAL, its free pages and every copy of
it (backups) hold ciphertext only.  Erasing a person destroys their key file:
every copy of the ciphertext becomes noise at once, without rewriting backups.

The cipher is XChaCha20-Poly1305 (libsodium's IETF AEAD through PyNaCl) with a
random 24-byte nonce; the associated data binds the volunteer ID, so a
ciphertext moved to another person's row fails to open instead of showing the
wrong name.  A sealed value is ``0x01 ‖ nonce ‖ ciphertext``.

The vault is built once at start-up (:func:`server.datadir.open_data_dir`) and
lives in :class:`server.context.ServerContext`; nothing here is global.

Example::

    vault = PersonVault(data_dir / "person-keys")
    sealed = vault.seal("v_…", PersonalData(name="Jörg Beispiel", ehrenamtskarte="EK-123"))
    vault.open("v_…", sealed)      # PersonalData(...), or None once vault.destroy("v_…") ran
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nacl.bindings as sodium
import nacl.exceptions

from server.errors import DataDirError, PersonalDataCorrupted
from server.keyfiles import KEY_BYTES, fsync_dir

PERSON_KEYS: Final = "person-keys"
SEALED_VERSION: Final = 1
_NONCE_BYTES: Final = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
_AD_DOMAIN: Final = b"kokreativ.personal-data.v1\0"
_KEY_NAME: Final = re.compile(r"v_[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True, slots=True)
class PersonalData:
    """What the programme knows about a person beyond pseudonymous IDs."""

    name: str
    ehrenamtskarte: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ehrenamtskarte": self.ehrenamtskarte}


def _associated(volunteer_id: str) -> bytes:
    return _AD_DOMAIN + volunteer_id.encode("ascii")


class PersonVault:
    """The folder of per-person keys; seals and opens personal data, destroys a person's key."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def open_folder(cls, folder: Path) -> PersonVault:
        """The vault in ``folder``, made (mode 0700) if missing; :class:`DataDirError` if it is no folder."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise DataDirError(f"{folder} exists and is not a directory")
        if not folder.exists():
            folder.mkdir(mode=0o700)
            fsync_dir(folder.parent)
        os.chmod(folder, 0o700)
        return cls(folder)

    def key_path(self, volunteer_id: str) -> Path:
        """Where ``volunteer_id``'s key lives; only a ``v_`` ID of safe characters names a file.

        Looser than :func:`protocol.ids.is_id`: a ledger from a test or an early pilot may hold
        shorter IDs, and they need keys too.
        """
        if not _KEY_NAME.fullmatch(volunteer_id):
            raise ValueError("not a volunteer ID")
        return self.folder / f"{volunteer_id}.key"

    def has_key(self, volunteer_id: str) -> bool:
        return self.key_path(volunteer_id).is_file()

    def key_ids(self) -> list[str]:
        """The volunteer IDs that have a key file, sorted."""
        found = (path.name.removesuffix(".key") for path in self.folder.glob("v_*.key"))
        return sorted(name for name in found if _KEY_NAME.fullmatch(name))

    def _read_key(self, volunteer_id: str) -> bytes | None:
        try:
            key = self.key_path(volunteer_id).read_bytes()
        except FileNotFoundError:
            return None
        if len(key) != KEY_BYTES:
            raise PersonalDataCorrupted(f"the key file of {volunteer_id} does not hold {KEY_BYTES} bytes")
        return key

    def _key_for_sealing(self, volunteer_id: str) -> bytes:
        """The person's key, made now if they have none (written atomically, fsynced)."""
        existing = self._read_key(volunteer_id)
        if existing is not None:
            return existing
        key = secrets.token_bytes(KEY_BYTES)
        final = self.key_path(volunteer_id)
        partial = self.folder / f".{final.name}.partial-{secrets.token_hex(4)}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(partial, final)  # never replaces a key another writer made meanwhile
            except FileExistsError:
                return self._key_for_sealing(volunteer_id)
        finally:
            partial.unlink(missing_ok=True)
        fsync_dir(self.folder)
        return key

    def seal(self, volunteer_id: str, data: PersonalData) -> bytes:
        """``data`` encrypted under ``volunteer_id``'s key (made if needed), bound to that ID."""
        key = self._key_for_sealing(volunteer_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plain = json.dumps(data.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")
        box = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, _associated(volunteer_id), nonce, key)
        return bytes([SEALED_VERSION]) + nonce + box

    def open(self, volunteer_id: str, sealed: bytes) -> PersonalData | None:
        """The personal data in ``sealed``; ``None`` once the key is destroyed (the person is erased).

        Raises :class:`PersonalDataCorrupted` if ``sealed`` was not made for
        ``volunteer_id`` under its key, or was changed.
        """
        key = self._read_key(volunteer_id)
        if key is None:
            return None
        if len(sealed) < 1 + _NONCE_BYTES or sealed[0] != SEALED_VERSION:
            raise PersonalDataCorrupted(f"the personal data of {volunteer_id} is not a sealed value")
        nonce, box = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                box, _associated(volunteer_id), nonce, key
            )
        except nacl.exceptions.CryptoError:
            raise PersonalDataCorrupted(f"the personal data of {volunteer_id} does not open") from None
        fields = json.loads(plain.decode("utf-8"))
        return PersonalData(name=fields["name"], ehrenamtskarte=fields.get("ehrenamtskarte"))

    def destroy(self, volunteer_id: str) -> bool:
        """Overwrite, fsync and unlink the person's key, then fsync the folder; whether there was one.

        Overwriting first keeps the bytes off a disk that does not reuse the
        block at once (on flash and copy-on-write file systems that is not
        guaranteed, hence the backups' retention in docs/operations.md).
        """
        path = self.key_path(volunteer_id)
        try:
            fd = os.open(path, os.O_WRONLY)
        except FileNotFoundError:
            return False
        try:
            os.write(fd, bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        path.unlink()
        fsync_dir(self.folder)
        return True
