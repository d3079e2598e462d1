"""What a sync round reports (:class:`SyncResult`), its reason codes, and how a round stops early."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from protocol import Reason

# Sync problems with no answer from the server (or no code in its answer) are reason codes too.
NETWORK_ERROR = Reason.NETWORK_ERROR.value
SERVER_ERROR = Reason.SERVER_ERROR.value
STOPPED = "stopped"  # the round ended early because ``stop`` was set; nothing is lost
TIMEOUT = "timeout"  # a till's round reached its deadline between batches; the rest stays pending
INTERNAL_ERROR = Reason.INTERNAL_ERROR.value
# The round followed a planned rotation of the server key and pinned the new key (docs/kiosk.md);
# what the server sent under the old pin was not applied, so the round is run again with the new key.
SERVER_KEY_ROTATED = Reason.SERVER_KEY_ROTATED.value
LOG_HANDED_OVER = Reason.LOG_HANDED_OVER.value  # followed a log hand-over: the round runs once more


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one round did; ``error`` is a reason code (or a local code) when it stopped early."""

    sent: int
    acknowledged: int
    pending: int
    error: str | None = None
    message: str | None = None
    trust_issued_ms: int | None = None
    log_size: int | None = None  # the size of the last log checkpoint the kiosk verified

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class StopRound(Exception):
    """Ends a round early with a result code; raised inside this package only, never to its callers."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_of(body: Any) -> tuple[str | None, str, dict[str, Any]]:
    """``(code, message, error object)`` from the protocol's error body, tolerating junk."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "no error body", {}
    code = error.get("code")
    return (code if isinstance(code, str) else None), str(error.get("message", ""))[:200], error
