"""Errors raised by :mod:`provisioning.audit`.

Findings about the log are never exceptions: they are :class:`~provisioning.audit.report.Problem`
items in the report, so one audit names every problem it finds.  Exceptions
mean the audit could not run at all::

    AuditError (RuntimeError)
    ├── SourceError          the log cannot be read (no such folder, server unreachable, bad answer)
    └── UsageError (ValueError)   the arguments do not make sense (no key for a URL, bad leaf hash)
"""

from __future__ import annotations


class AuditError(RuntimeError):
    """Base of every error that stops an audit before it could reach a verdict."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SourceError(AuditError):
    """The log's source cannot be read: a missing mirror folder, an unreachable or misbehaving server."""


class UsageError(AuditError, ValueError):
    """The caller asked for something that cannot be checked as given."""
