"""Errors raised by :mod:`provisioning`.

::

    ProvisioningError (RuntimeError)
    ├── ServerRefused        the server answered with a documented error code
    └── ServerUnreachable    no answer at all (network, TLS, timeout)
"""

from __future__ import annotations

from protocol import Reason


class ProvisioningError(RuntimeError):
    """Base of every error a provisioning step raises."""

    def __init__(self, reason: Reason | str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ServerRefused(ProvisioningError):
    """The server refused the request; ``reason`` is its error code."""


class ServerUnreachable(ProvisioningError):
    """The server could not be reached."""
