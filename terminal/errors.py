"""Errors raised by :mod:`terminal`.

Each carries a stable ``code``: a :class:`protocol.Reason` value where the
protocol has one (``reason`` is then set), else a local code such as
``network_error``.  The ``kokreativ`` command prints ``reason: message``::

    TerminalError
    ├── ConfigError (ValueError)        a config or key file is missing or invalid
    │   └── KeyExistsError (FileExistsError)   refusing to replace an enrolled key
    ├── OutboxError                     the outbox refused a write, is missing (not_found), or its disk
    │                                   is full (storage_full) or read-only or failing (storage_unavailable)
    ├── ReceiptError                    bad_receipt, or fork_detected
    ├── LogInconsistentError            log_inconsistent: a checkpoint does not extend the verified one
    ├── ModeError                       the kiosk's mode does not allow it (shop_terminal, not_a_shop)
    └── EnrolmentError                  enrolment refused (here or by the server) or its answer unusable

Sync problems are not raised: :class:`terminal.sync.SyncResult` reports them.
:func:`describe` turns any exception into a short, data-free log phrase.
"""

from __future__ import annotations

import errno
import re

from protocol import Reason

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


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
    """The outbox refused a write that would break the hash chain, or cannot be opened as asked."""


class ReceiptError(TerminalError):
    """A receipt failed verification (``bad_receipt``) or contradicts our chain (``fork_detected``)."""


class LogInconsistentError(TerminalError):
    """The server's checkpoint does not extend the last one the kiosk verified: history was rewritten."""

    def __init__(self, message: str, *, consistency: list[str]) -> None:
        super().__init__(Reason.LOG_INCONSISTENT, message)
        self.consistency = consistency  # the proof as the server sent it (b64 strings), for the evidence


class ModeError(TerminalError):
    """The kiosk's mode (check-in or shop, from its trust list) does not allow what was asked.

    ``shop_terminal``: a shop terminal cannot run the check-in tap loop (nor without its
    screen); ``not_a_shop``: only a shop terminal redeems tokens.
    """


def describe(exc: BaseException) -> str:
    """``"TypeName"`` or ``"TypeName (code)"`` for a log line: never the message, which may hold card data.

    The code is the exception's ``code``, ``reason`` or ``sqlite_errorname``,
    if it has one that looks like a code, else an ``OSError``'s errno name.
    """
    name = type(exc).__name__
    for attribute in ("code", "reason", "sqlite_errorname"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and _CODE.fullmatch(value):
            return f"{name} ({value})"
    number = exc.errno if isinstance(exc, OSError) else None
    if number is not None and number in errno.errorcode:
        return f"{name} ({errno.errorcode[number]})"
    return name


class EnrolmentError(TerminalError):
    """Enrolment failed: refused here (``bad_field``, ``already_enrolled``), by the server, or unreachable.

    ``from_server`` says the server answered with this code (the one-time code
    may then be spent); ``network_error`` means no answer at all.
    """

    def __init__(self, code: Reason | str, message: str, *, from_server: bool = False) -> None:
        super().__init__(code, message)
        self.from_server = from_server
