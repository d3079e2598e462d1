"""``kokreativ provision terminal list``: kiosk health as a table, ``--silent`` and ``--json``,
against a real ``kokreativ server run`` process."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from kokreativ.cli import main
from protocol.clock import now_ms
from provisioning.enrol import enrol_kiosk
from provisioning.kiosks import format_offset
from server.datadir import LEDGER
from terminal.outbox import Outbox
from terminal.sync import SyncClient
from tests.conftest import EnrolledKiosk, ServerProcess

HOUR_MS = 3_600_000


def _list(server: ServerProcess, capsys: pytest.CaptureFixture[str], *flags: str, status: int = 0) -> str:
    """The listing's output; ``status`` is the exit status it must end with."""
    capsys.readouterr()
    argv = ["provision", "terminal", "list", "--server", server.url, "--token", server.admin_token, *flags]
    assert main(argv) == status
    return capsys.readouterr().out


def test_terminal_list_marks_silent_kiosks_and_lists_only_them_with_silent(
    server_process: ServerProcess,
    enrolled_kiosk: EnrolledKiosk,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = server_process
    talking = enrolled_kiosk.config
    with server.admin() as admin:
        code = admin.create_enrolment_code(talking.site_id)["code"]
    _, quiet = enrol_kiosk(server.url, code, tmp_path / "quiet")
    # Both kiosks enrolled two hours ago: the server's real clock then sees them as long unheard.
    server.stop()
    with closing(sqlite3.connect(server.data_dir / LEDGER)) as conn, conn:  # the file, as an operator could
        conn.execute("UPDATE kiosks SET enrolled_ms = ?", (now_ms() - 2 * HOUR_MS,))
    server.start()
    with Outbox(talking.outbox_path) as outbox, SyncClient(talking, outbox) as client:
        offset = client.send_heartbeat()
    assert isinstance(offset, int)

    table = _list(server, capsys)
    lines = table.splitlines()
    assert lines[0].split() == [
        "kiosk",
        "site",
        "status",
        "last",
        "seen",
        "(Europe/Berlin)",
        "pending",
        "reader",
        "clock",
        "offset",
    ]
    rows = {line.split()[0]: line for line in lines[1:] if line.startswith("k_")}
    assert set(rows) == {talking.kiosk_id, quiet.kiosk_id}
    assert "SILENT" in rows[quiet.kiosk_id] and "SILENT" not in rows[talking.kiosk_id]
    assert "active" in rows[talking.kiosk_id] and "Test site" in rows[talking.kiosk_id]
    assert "unknown" in rows[talking.kiosk_id]  # a sync-only process has no reader to report on
    assert format_offset(offset) in rows[talking.kiosk_id]
    assert "1 silent: no heartbeat and no sync for more than 900 s." in table

    # --silent is a monitoring check: exit status 1 while any kiosk is silent, 0 when none is.
    silent = _list(server, capsys, "--silent", status=1)
    assert quiet.kiosk_id in silent and talking.kiosk_id not in silent

    listed = json.loads(_list(server, capsys, "--json"))
    assert [(k["kiosk_id"], k["silent"]) for k in listed] == [
        (talking.kiosk_id, False),
        (quiet.kiosk_id, True),
    ]
    assert listed[0]["clock_offset_ms"] == offset and listed[0]["reader"] == "unknown"
    assert listed[1]["last_heartbeat_ms"] is None and listed[1]["pending"] is None
    for kiosk in listed:  # the integer for scripts, the same instant for people (site's zone, offset)
        seen = dt.datetime.fromisoformat(kiosk["last_seen"])
        assert seen.utcoffset() in {dt.timedelta(hours=1), dt.timedelta(hours=2)}
        assert int(seen.timestamp()) == kiosk["last_seen_ms"] // 1000
    assert json.loads(_list(server, capsys, "--json", "--silent", status=1))[0]["kiosk_id"] == quiet.kiosk_id
    only = json.loads(_list(server, capsys, "--json", "--silent", "--silent-after", str(3 * 3600)))
    assert only == []


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0, "+0.0 s"),
        (1_250, "+1.2 s"),
        (-59_999, "-60.0 s"),
        (-90_000, "-1 min"),
        (7_200_000, "+2.0 h"),
    ],
)
def test_clock_offsets_read_as_people_say_them(ms: int | None, text: str) -> None:
    assert format_offset(ms) == text
