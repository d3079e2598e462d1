"""The red team's findings against issue 19's public figures (item 3, principle 10), each kept by a test.

Each test here failed before its fix.
"""

from __future__ import annotations

import json

from server_helpers import HOUR, T0, Api, World

from protocol import EventKind


def _logged_totals(api: Api) -> tuple[int, int, int]:
    """``(size, issued, redeemed)``: what the log's ``totals`` entries add up to, and the size they cover."""
    with api.context.storage.read() as tx:
        entries = [json.loads(e) for e in tx.tlog_entry_range(0, tx.tlog_size())]
    sums = [e for e in entries if e["kind"] == "totals"]
    last = max((e["last"] for e in sums), default=-1)
    return last + 1, sum(e["issued"] for e in sums), sum(e["redeemed"] for e in sums)


def test_the_live_totals_say_no_more_than_the_logs_daily_totals(api: Api, world: World) -> None:
    """One volunteer's shift moved ``issued`` on ``/v1/log/totals``, ``/`` and ``/anzeige`` at once.

    In entry format 2 the log shows no amount, and its daily ``totals`` entry
    waits until it covers at least 5 people; a refresh of the public totals
    told anyone (and the town-hall screen, every minute) the tokens of the one
    shift just synced.  The live figures are now the log's own sums.
    """
    with api.context.storage.read() as tx:
        assert tx.log_format() == 2
    before = api.http.get("/v1/log/totals").json()
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, world.card_id, T0),
        kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR),
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200
    after = api.http.get("/v1/log/totals").json()
    figures = ("size", "issued", "redeemed", "in_circulation")
    assert {k: after[k] for k in figures} == {k: before[k] for k in figures}  # one person: nothing moves
    # Five more people work the next day; the day after, the log closes both days in one totals entry.
    cards = [api.create_card(f"V{i}")["card_id"] for i in range(5)]
    api.clock.now = T0 + 24 * HOUR
    for card in cards:
        batch = [kiosk.event(EventKind.CHECK_IN, card, api.clock.now - 3 * HOUR),
                 kiosk.event(EventKind.CHECK_OUT, card, api.clock.now - 2 * HOUR)]  # fmt: skip
        assert api.send(kiosk.kiosk_id, batch).status_code == 200
    api.clock.now = T0 + 48 * HOUR
    api.create_site()  # any append on a new day closes the last one
    totals = api.http.get("/v1/log/totals").json()
    size, issued, redeemed = _logged_totals(api)
    assert issued == 20 + 5 * 10
    assert (totals["size"], totals["issued"], totals["redeemed"]) == (size, issued, redeemed)
    assert totals["in_circulation"] == issued - redeemed
