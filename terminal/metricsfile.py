"""The kiosk's figures in a file for node_exporter's textfile collector (docs/operations.md "Monitoring").

``metrics_file`` in kiosk.toml names the file (by convention
``/var/lib/node_exporter/textfile_collector/kokreativ.prom``); without it no
file is written.  The sync loop (:meth:`terminal.sync.SyncClient.run_forever`,
the kiosk's sync thread or the sync service) writes it after its rounds,
never the tap path: a slow SD card delays a figure, never a tap.

The file says when things happened, not how long ago: node_exporter reads it
whenever Prometheus scrapes, so an age written at some earlier moment would be
wrong by then.  ``time() - kokreativ_kiosk_oldest_pending_timestamp_seconds``
is the age in PromQL.  So the text changes only when the kiosk's state does,
and :class:`MetricsFile` writes it then, and otherwise once every
:data:`REFRESH_S` so that ``node_textfile_mtime_seconds`` shows a living loop
(and the SD card is spared the rest).  It is written to a temporary file in
the same folder and renamed over the old one, so the collector never reads
half a file.

Example::

    MetricsFile(Path("/var/lib/node_exporter/textfile_collector/kokreativ.prom")).update(
        outbox, kiosk_id="k_…", site_id="s_…", reader=outbox.reader_status, now_ms=now)
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from protocol.heartbeat import READER_STATES
from protocol.version import SOFTWARE_VERSION
from terminal.errors import describe
from terminal.outbox import Outbox
from terminal.outbox.status import OutboxStatus

log = logging.getLogger("terminal.metrics")

REFRESH_S: Final = 60.0  # an unchanged file is rewritten at most this often, for its mtime
PREFIX: Final = "kokreativ_kiosk"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> str:
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]
    for labels, value in samples:
        shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
        number = int(value) if float(value).is_integer() else value
        lines.append(f"{PREFIX}_{name}{{{shown}}} {number}" if shown else f"{PREFIX}_{name} {number}")
    return "\n".join(lines) + "\n"


def render(
    status: OutboxStatus,
    *,
    kiosk_id: str,
    site_id: str,
    reader: str,
    oldest_pending_ms: int | None,
) -> str:
    """One outbox snapshot in the Prometheus text format (0.0.4); times in Unix seconds, the kiosk's clock."""
    receipt = status.last_receipt or {}
    parts = [
        _family(
            "info",
            "gauge",
            "The kiosk this file describes, with its software version",
            [({"kiosk": kiosk_id, "site": site_id, "version": SOFTWARE_VERSION}, 1)],
        ),
        _family(
            "events",
            "counter",
            "Events this kiosk recorded (each tap, denied ones included): its last seq",
            [({}, status.last_seq)],
        ),
        _family(
            "outbox_pending_events",
            "gauge",
            "Events recorded here that the server has not yet acknowledged",
            [({}, status.pending)],
        ),
        _family(
            "oldest_pending_timestamp_seconds",
            "gauge",
            "When the oldest unacknowledged event was recorded (absent when none waits)",
            [({}, oldest_pending_ms / 1000)] if oldest_pending_ms is not None else [],
        ),
        _family(
            "last_sync_timestamp_seconds",
            "gauge",
            "When a sync last succeeded (a verified receipt applied; absent before the first)",
            [({}, status.last_sync_ms / 1000)] if status.last_sync_ms is not None else [],
        ),
        _family(
            "last_receipt_seq",
            "gauge",
            "The seq the server's last verified receipt covers",
            [({}, receipt["seq"])] if isinstance(receipt.get("seq"), int) else [],
        ),
        _family(
            "last_receipt_timestamp_seconds",
            "gauge",
            "When the server issued its last verified receipt (the server's clock)",
            [({}, receipt["issued_ms"] / 1000)] if isinstance(receipt.get("issued_ms"), int) else [],
        ),
        _family(
            "sync_round_ok",
            "gauge",
            "1 if the last sync round went well, 0 if it ended with an error (absent before the first)",
            [({}, 0 if status.sync_round_error else 1)] if status.sync_round_ms is not None else [],
        ),
        _family(
            "reader",
            "gauge",
            "The card reader's state: 1 for the state it is in",
            [({"state": state}, 1 if state == reader else 0) for state in sorted(READER_STATES)],
        ),
        _family(
            "alarm",
            "gauge",
            "1 while an alarm stops the sync (its reason code as the label), else 0",
            [({"code": status.alarm_code or "alarm"}, 1)] if status.alarm is not None else [({}, 0)],
        ),
    ]
    return "".join(parts)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder and a rename; mode 0644.

    node_exporter runs as another user and must read it; the figures name no
    person and no card, only this kiosk's counts and times.
    """
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class MetricsFile:
    """Keeps the file at ``path`` up to date: rewritten on change, else every ``refresh_s``."""

    def __init__(self, path: Path, *, refresh_s: float = REFRESH_S) -> None:
        self.path = path
        self.refresh_s = refresh_s
        self._written: tuple[str, int] | None = None  # (text, when) last written
        self._failing = False

    def update(
        self, outbox: Outbox, *, kiosk_id: str, site_id: str, reader: Callable[[], str], now_ms: int
    ) -> bool:
        """Write the file if the figures changed or it is due; whether it was written.  Never raises.

        ``reader`` tells the card reader's state (``ok``, ``missing``, ``error``, ``unknown``).
        """
        try:
            status = outbox.status()
            oldest = outbox.pending(limit=1) if status.pending else []
            text = render(
                status,
                kiosk_id=kiosk_id,
                site_id=site_id,
                reader=reader(),
                oldest_pending_ms=oldest[0].event.clock.wall_ms if oldest else None,
            )
            last = self._written
            if last is not None and last[0] == text and 0 <= now_ms - last[1] < self.refresh_s * 1000:
                return False
            write_atomically(self.path, text)
        except Exception as exc:  # the figures are a convenience: the loop goes on without them
            # Once per spell of failures, not every round: a missing folder would flood the journal.
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "could not write the metrics file %s: %s",
                self.path,
                describe(exc),
            )
            self._failing = True
            return False
        self._written, self._failing = (text, now_ms), False
        return True
