"""The coordinator PIN: stored as an argon2id hash in ``kiosk.toml``, checked off the UI thread.

A PIN has few digits, so the hash alone would not stop someone holding the SD
card; it keeps the PIN out of backups and screenshots of the config, and the
screen's lockout (five wrong PINs, five minutes) stops guessing at the kiosk.
The memory cost is kept at 16 MiB so that a check fits beside the app on a Pi
Zero 2 W with 512 MB.
"""

from __future__ import annotations

from typing import Final

import nacl.exceptions
import nacl.pwhash

_OPSLIMIT: Final = 4
_MEMLIMIT: Final = 16 * 1024 * 1024


def hash_pin(pin: str) -> str:
    """The ``$argon2id$…`` string to store for ``pin`` (digits only, 4 to 8 of them)."""
    if not (pin.isdigit() and pin.isascii() and 4 <= len(pin) <= 8):
        raise ValueError("a PIN has 4 to 8 digits")
    return nacl.pwhash.argon2id.str(pin.encode("ascii"), opslimit=_OPSLIMIT, memlimit=_MEMLIMIT).decode(
        "ascii"
    )


def verify_pin(stored: str | None, pin: str) -> bool:
    """Whether ``pin`` matches the stored hash; ``False`` without a stored hash or for a garbled one."""
    if stored is None or not pin.isascii():
        return False
    try:
        return bool(nacl.pwhash.verify(stored.encode("ascii"), pin.encode("ascii")))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
        return False
