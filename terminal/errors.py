"""Errors raised by :mod:`terminal`.

Each carries a stable ``code``: a :class:`protocol.Reason` value where the
protocol has one (``reason`` is then set), else a local code such as
``network_error``.  The ``kokreativ`` command prints ``reason: message``::

    TerminalError
    ├── ConfigError (ValueError)        a config or key file is missing or invalid
    │   └── KeyExistsError (FileExistsError)   refusing to replace an enrolled key
    ├── OutboxError                     the outbox refused a write (chain would break)
    ├── SyncError                       the server was unreachable or refused a batch
    └── ReceiptError                    bad_receipt, or fork_detected
"""

from __future__ import annotations

from protocol import Reason


class TerminalError(Exception):
    """Base of every error the terminal package raises."""

    def __init__(self, code: Reason | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.reason: Reason | None = code if isinstance(code, Reason) else None
        self.code = str(code)
        self.message = message


class ConfigError(TerminalError, ValueError):
    """A config or key file is missing, unreadable or invalid."""


class KeyExistsError(ConfigError, FileExistsError):
    """A kiosk key already exists; a kiosk's key never changes after enrolment."""


class OutboxError(TerminalError):
    """The outbox refused a write that would break the hash chain."""


class SyncError(TerminalError):
    """The server could not be reached or refused a batch."""


class ReceiptError(TerminalError):
    """A receipt failed verification (``bad_receipt``) or contradicts our chain (``fork_detected``)."""
