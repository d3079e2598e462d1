"""The guessing limits' windows (m028), shared by every server process: :mod:`server.ratelimit`.

One row per open window of one kind of secret, one scope (``client`` or
``target``) and one key.  Portable SQL only (an upsert with ``ON CONFLICT``):
the same statements run on every engine.
"""

from __future__ import annotations

from typing import NamedTuple

from server.storage.base import Queries


class GuessWindow(NamedTuple):
    """One stored window: when it opened and ends, its failures, whether its lockout was logged."""

    start_ms: int
    end_ms: int
    failures: int
    logged: bool


class GuessesRead(Queries):
    """The open windows of failed guesses."""

    def guess_window(self, kind: str, scope: str, key: str) -> GuessWindow | None:
        row = self._conn.execute(
            "SELECT start_ms, end_ms, failures, logged FROM guess_windows "
            "WHERE kind = ? AND scope = ? AND key = ?",
            (kind, scope, key),
        ).fetchone()
        return None if row is None else GuessWindow(row[0], row[1], row[2], bool(row[3]))

    def count_guess_windows(self, kind: str, scope: str) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM guess_windows WHERE kind = ? AND scope = ?", (kind, scope)
        ).fetchone()
        return int(row[0])


class GuessesWrite(GuessesRead):
    """Count, refund and forget failed guesses; every call is part of the caller's write transaction."""

    def expire_guess_windows(self, kind: str, scope: str, now_ms: int) -> None:
        """Forget the windows of ``kind`` and ``scope`` that ended by ``now_ms``."""
        self._conn.execute(
            "DELETE FROM guess_windows WHERE kind = ? AND scope = ? AND end_ms <= ?", (kind, scope, now_ms)
        )

    def drop_guess_window(self, kind: str, scope: str, key: str) -> None:
        self._conn.execute(
            "DELETE FROM guess_windows WHERE kind = ? AND scope = ? AND key = ?", (kind, scope, key)
        )

    def mark_guess_window_logged(self, kind: str, scope: str, key: str) -> None:
        self._conn.execute(
            "UPDATE guess_windows SET logged = 1 WHERE kind = ? AND scope = ? AND key = ?", (kind, scope, key)
        )

    def drop_oldest_guess_windows(self, kind: str, scope: str, count: int) -> None:
        """Forget the ``count`` windows of ``kind`` and ``scope`` that end first."""
        self._conn.execute(
            "DELETE FROM guess_windows WHERE kind = ? AND scope = ? AND key IN "
            "(SELECT key FROM guess_windows WHERE kind = ? AND scope = ? ORDER BY end_ms, key LIMIT ?)",
            (kind, scope, kind, scope, count),
        )

    def charge_guess(self, kind: str, scope: str, key: str, start_ms: int, end_ms: int) -> int:
        """One failure for ``key``: its open window's count + 1, or a new window from ``start_ms``.

        Returns the start of the window charged (the caller dropped ended windows first).
        """
        self._conn.execute(
            "INSERT INTO guess_windows (kind, scope, key, start_ms, end_ms, failures, logged) "
            "VALUES (?, ?, ?, ?, ?, 1, 0) "
            "ON CONFLICT (kind, scope, key) DO UPDATE SET failures = guess_windows.failures + 1",
            (kind, scope, key, start_ms, end_ms),
        )
        window = self.guess_window(kind, scope, key)
        assert window is not None, "just written"
        return window.start_ms

    def refund_guess(self, kind: str, scope: str, key: str, start_ms: int) -> None:
        """Take one failure back from ``key``'s window that opened at ``start_ms``, if it is still there."""
        self._conn.execute(
            "UPDATE guess_windows SET failures = failures - 1 "
            "WHERE kind = ? AND scope = ? AND key = ? AND start_ms = ? AND failures > 0",
            (kind, scope, key, start_ms),
        )
