"""``make demo`` is the product's front door: run it and check what it reports."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kokreativ.demo import DAY, TOKENS_PER_HOUR, run_demo

pytestmark = pytest.mark.slow


def test_demo_day_syncs_verifies_and_pays_what_was_worked(tmp_path: Path):
    out = io.StringIO()
    assert run_demo(tmp_path / "demo", out) == 0
    text = out.getvalue()

    # Offline first: nothing reached the server until it came back, then everything did.
    assert "sync while offline: network_error; 9 events wait in the outbox" in text
    assert "sent 9, acknowledged by verified receipt 9, still pending 0, error none" in text
    # The double tap recorded nothing and the unknown card was denied.
    assert re.search(r"08:00\s+Alex\s+already_recorded\s+light OK\s+nothing recorded", text)
    assert re.search(r"\(unknown\)\s+denied\s+light DENIED\s+seq \d+, reason unknown_card", text)
    # A copy of a genuine credential on a tag with another UID is refused offline.
    assert re.search(r"Bo \(copy\)\s+denied\s+light DENIED\s+seq \d+, reason uid_mismatch", text)
    assert "3 cards with signed credentials written onto NTAG215 stickers through nfcpy, all read-only" in (
        text
    )
    # The shop till: offline it takes Bo's coffee within the allowance; online the server authorises
    # Alex's book against the fresh balance and declines Chris, who has earned nothing.
    assert re.search(r"Bo\s+Kaffee for\s+2 tokens \(balance unknown here\): paid_offline", text)
    assert re.search(r"Alex\s+Buch for\s+5 tokens \(balance 66 tokens\): paid, new balance 61", text)
    assert re.search(
        r"Chris\s+Fahrrad for\s+40 tokens \(balance 0 tokens\): declined \(insufficient_balance\)", text
    )
    assert "2 redemptions, 7 tokens redeemed, 0 voided, 7 to settle" in text
    # After a power cut the kiosk's clock reads 1970 and never syncs; the sync's clock sample lets
    # the server date Bo's hour by its own clock, and pay it.
    assert "kiosk clock 1970-01-01 01:00  Bo  check_in" in text  # the epoch, in Berlin
    assert "kiosk clock 1970-01-01 02:00  Bo  check_out" in text
    assert "21:45 Power cut at the kiosk" in text
    assert (
        "synced (ok): the server dated the shift 21:45–22:45 by its own clock, 1:00 h, 10 tokens, paid"
        in text
    )
    # One day's story: the server enrols the kiosk before the day it signs, is down while it is worked,
    # back in the evening, and the coordinator reads the results the next morning, so no shift is held
    # (not before_enrolment, not backdated) and the printed times only move forward.
    assert re.search(
        r"2\. \d{4}-\d\d-\d\d, 07:30 \(all times are Europe/Berlin\): the ledger server runs at", text
    )
    assert "before_enrolment" not in text and "backdated" not in text
    acts = re.findall(r"^ *(?:\d\. )?(\d\d:\d\d) (?:At the shop|Server back|Power cut)", text, re.M)
    assert acts == ["20:30", "21:30", "21:35", "21:45"]
    # Balances: 4:30 h + 2:10 h for Alex, 8:30 h + 1:00 h for Bo, nothing for Chris, at 10 tokens/h
    # rounded down, less what each spent at the shop.
    assert TOKENS_PER_HOUR == 10
    assert re.search(r"Alex Beispiel\s+balance\s+61 tokens, 6:40 h paid", text)
    assert re.search(r"Bo Muster\s+balance\s+93 tokens, 9:30 h paid", text)
    assert re.search(
        r"09:15–17:45\s+paid\s+8:30 h\s+85 tokens\n\s+21:45–22:45\s+paid\s+1:00 h\s+10 tokens", text
    )
    assert re.search(r"Chris Probe\s+balance\s+0 tokens, 0:00 h paid", text)
    assert "Results, as the coordinator reads them the next morning" in text
    assert "Waiting for a coordinator's review: 1" in text
    assert "Chris Probe: missing_check_out" in text
    assert "14 events from 2 kiosk(s), signatures and hash chain OK" in text
    # The transparency log: the kiosk witnessed it, a public audit passes (sealed events, no card named;
    # the story's day has no totals entry yet), the designated auditor opens every commitment, replays
    # the economy and finds the public totals and every balance as the server says; a database edit
    # is caught.
    assert re.search(r"the kiosk, as a witness, verified checkpoint \S+ size \d+", text)
    assert re.search(
        r"14 sealed event signatures, 2 kiosk chain\(s\), 3 card commitment\(s\),\n\s+"
        r"no totals entry yet \(the day's comes with the next day's first entry\): OK",
        text,
    )
    assert re.search(
        r"\d+ commitment\(s\) opened, 14 events replayed, 161 tokens issued and 7 redeemed, "
        r"as the public totals say \(compared\),\n\s+3 balance\(s\) as the server's: OK",
        text,
    )
    assert re.search(r"the server says 50 tokens, the log gives 0 \[balance_mismatch\]\n\s+caught", text)
    assert text.rstrip().endswith("Demo succeeded.")
    assert len(DAY) == 10
