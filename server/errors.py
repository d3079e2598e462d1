"""The errors :mod:`server` raises on purpose, and the HTTP status each reason maps to.

Services decide; the HTTP layer only translates.  A service refuses a request
by raising :class:`ServiceError` with a stable reason code from
:class:`protocol.Reason`; ``server.http.errors`` turns it into the documented body
``{"error": {"code", "message", **extra}}`` with ``status``.  Nothing else in
the package picks an HTTP status.

::

    Exception
    ├── ServiceError              a refused request: reason, message, HTTP status, extra fields
    │   ├── InputError (ValueError)   the request itself is wrong (4xx from malformed input)
    │   ├── RateLimited           too many failed guesses at a secret (429, with Retry-After)
    │   └── StorageUnavailable    the disk is full, read-only or failing: 503 with Retry-After
    ├── DataDirError (OSError)    a data directory that cannot be created or opened (not a request)
    ├── ConfigError (ValueError)  a settings file (server.config) or flag the server cannot start with
    ├── LogCorrupted (RuntimeError)   the stored transparency log lacks what it must hold (HTTP 500)
    └── PersonalDataCorrupted (RuntimeError)   a sealed personal-data row that does not open (HTTP 500)

``protocol.MalformedError`` and ``protocol.VerificationError`` never leave a
service: :func:`from_protocol` converts them, so callers handle one type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from protocol import ProtocolError, Reason

# The documented HTTP status of every reason a service can refuse with; 400 when absent.
STATUS: Final[Mapping[Reason, int]] = {
    Reason.UNAUTHORIZED: 401,
    Reason.ACCESS_SECRET_INVALID: 401,
    Reason.SESSION_REQUIRED: 401,
    Reason.LOGIN_FAILED: 401,
    Reason.TOTP_INVALID: 401,
    Reason.DUTIES_CONFLICT: 409,
    Reason.GRANT_EXCEEDS_OWN: 403,
    Reason.ACCOUNT_LOCKED: 423,
    Reason.ACCOUNT_DISABLED: 403,
    Reason.DISABLE_REFUSED: 409,
    Reason.INVITATION_INVALID: 410,
    Reason.UNKNOWN_PERSON: 404,
    Reason.UNKNOWN_TEAM: 404,
    Reason.UNKNOWN_ORGANISATION: 404,
    Reason.PERSON_EXISTS: 409,
    Reason.KIOSK_REVOKED: 403,
    Reason.UNKNOWN_COORDINATOR: 403,  # a decision signed by a key the server does not know
    Reason.COSIGNER_SAME_PERSON: 403,
    Reason.NOT_YOUR_KEY: 403,
    Reason.NOT_PENDING: 404,
    Reason.COORDINATOR_REVOKED: 403,
    Reason.NOT_FOUND: 404,
    Reason.UNKNOWN_KIOSK: 404,
    Reason.UNKNOWN_SITE: 404,
    Reason.UNKNOWN_CARD: 404,
    Reason.UNKNOWN_VOLUNTEER: 404,
    Reason.UNKNOWN_ISSUER: 404,
    Reason.UNKNOWN_SHIFT: 404,
    Reason.UNKNOWN_REDEMPTION: 404,
    Reason.UNKNOWN_STAFF: 404,
    Reason.SEQUENCE_GAP: 409,
    Reason.CHAIN_BROKEN: 409,
    Reason.EQUIVOCATION: 409,
    Reason.ENROLMENT_CODE_USED: 409,
    Reason.KEY_ALREADY_ENROLLED: 409,
    Reason.ISSUER_KEY_INACTIVE: 409,
    Reason.CARD_EXISTS: 409,
    Reason.VOLUNTEER_ERASED: 409,
    Reason.CARD_NOT_PENDING: 409,
    Reason.READ_BACK_MISMATCH: 409,
    Reason.TOO_MANY_PENDING_CARDS: 409,
    Reason.UNKNOWN_CONFIRMATION: 404,
    Reason.CONFIRMATION_CLOSED: 410,
    Reason.CERTIFICATE_NOT_IN_LOG: 409,  # the live log disagrees with a certificate's payload
    Reason.CARD_BLOCKED: 409,
    Reason.REPLAYED: 409,
    Reason.UNCREDENTIALED_CARD: 409,
    Reason.NOT_IN_REVIEW: 409,
    Reason.NOT_A_SHOP: 409,
    Reason.ENROLMENT_CODE_EXPIRED: 410,
    Reason.BATCH_TOO_LARGE: 413,
    Reason.BODY_TOO_LARGE: 413,
    Reason.KIOSK_SUSPENDED: 423,
    Reason.QUOTA_EXCEEDED: 429,
    Reason.RATE_LIMITED: 429,
    Reason.TOO_MANY_ENROLMENT_CODES: 409,
    Reason.STORAGE_FULL: 503,
    Reason.STORAGE_UNAVAILABLE: 503,
}

STORAGE_RETRY_AFTER_S: Final = 60  # what a 503 for a full or read-only disk tells clients to wait


class ServiceError(Exception):
    """A request refused with a stable reason code; ``extra`` adds fields to the error body.

    ``headers`` go out with the answer (``Retry-After`` on a 429 or 503).
    """

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        status: int | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason
        self.message = message
        self.status = STATUS.get(reason, 400) if status is None else status
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        """The documented error body."""
        return {"error": {"code": self.reason.value, "message": self.message, **self.extra}}


class InputError(ServiceError, ValueError):
    """The request is malformed or over a limit; retrying it unchanged will fail again."""


class RateLimited(ServiceError):
    """Too many failed attempts at a secret (:mod:`server.ratelimit`): retry after ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(
            Reason.RATE_LIMITED,
            message,
            extra={"retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )
        self.retry_after_s = retry_after_s


class StorageUnavailable(ServiceError):
    """The ledger's disk cannot take a write (full: ``storage_full``; read-only or failing:
    ``storage_unavailable``).  Nothing was written; the same request succeeds once the disk is back,
    so the answer is 503 with ``Retry-After``, and a kiosk keeps its events and retries."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(reason, message, status=503, headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)})


class DataDirError(OSError):
    """A data directory that cannot be created (it exists) or opened (it is incomplete).

    ``reason`` is the code the CLI prints before the message (``kokreativ: error: <reason>: …``):
    ``data_dir_missing`` (no ledger: make one with ``provision init``), ``data_dir_not_empty``
    (``provision init`` on a folder in use), ``server_running`` and ``data_dir_busy``
    (:mod:`server.folderlock`), or ``data_dir_unusable`` for the rest.
    """

    def __init__(self, message: str, *, reason: str = "data_dir_unusable") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class LogCorrupted(RuntimeError):
    """A hash or checkpoint the log must hold is missing: the database was changed behind the server."""


class PersonalDataCorrupted(RuntimeError):
    """A ``personal_data`` row or person key that does not open: changed, or moved to another person."""


def from_protocol(exc: ProtocolError, **extra: Any) -> ServiceError:
    """The service-level error for a protocol refusal, keeping its reason code."""
    cls = InputError if STATUS.get(exc.reason, 400) in (400, 413) else ServiceError
    return cls(exc.reason, exc.message, extra=extra)


class ConfigError(ValueError):
    """The server's settings (file or flags) cannot be read or have a key or value it does not accept."""
