"""Errors raised by :mod:`protocol`.

Every error carries a stable reason code from :class:`protocol.reasons.Reason`;
callers map codes, never messages::

    ProtocolError (ValueError)
    ├── MalformedError         the bytes are not a well-formed v1 object
    ├── VerificationError      well-formed, but a signature or binding does not check
    └── EconomyError           a rule of the economy refuses (a decision that cannot apply)

Verification fails closed: a function that verifies either returns the parsed
object or raises one of these.
"""

from __future__ import annotations

from protocol.reasons import Reason


class ProtocolError(ValueError):
    """Base of every error the protocol package raises."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message


class MalformedError(ProtocolError):
    """The input is not a canonical, complete, known-version protocol object."""


class VerificationError(ProtocolError):
    """A signature, key or hash binding failed to verify."""


class EconomyError(ProtocolError):
    """An economy rule (:mod:`protocol.economy`) refuses: the server answers it, an auditor reports it."""
