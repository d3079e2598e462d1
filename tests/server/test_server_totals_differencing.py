"""A differencing attack on the public totals over the real server: two refreshes reveal nothing.

The attacker reads ``/v1/log/totals``, waits for one more shift (a new one,
and a late one for last month from a kiosk that was offline) and reads again.
Any figure that moved would be that one person's shift.  Breakdowns count
only closed months by the ledger's booking time, so both land in the current,
unpublished month and every published figure stays as it was.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from server_helpers import HOUR, T0, Api, World

from protocol import EventKind
from protocol.version import SOFTWARE_VERSION
from server.context import Memo
from server.totals import CLOSED_MONTHS_SETTING

DAY = 24 * HOUR
PUBLISHED = ("months", "sites", "shops", "volunteers_active", "hours", "shifts")


def _shift(api: Api, world: World, card_id: str, start_ms: int) -> None:
    kiosk = world.kiosk
    batch = [
        kiosk.event(EventKind.CHECK_IN, card_id, start_ms),
        kiosk.event(EventKind.CHECK_OUT, card_id, start_ms + 2 * HOUR),
    ]
    assert api.send(kiosk.kiosk_id, batch).status_code == 200


def _published(api: Api) -> dict[str, Any]:
    totals = api.http.get("/v1/log/totals").json()
    return {name: totals.get(name) for name in PUBLISHED}


def test_a_new_shift_and_a_late_shift_for_last_month_change_no_published_figure(
    api: Api, world: World
) -> None:
    cards = [world.card_id] + [api.create_card(f"Volunteer {i}")["card_id"] for i in range(5)]
    for card_id in cards:  # six people worked on 29 November, booked that day
        _shift(api, world, card_id, T0 - 3 * HOUR)
    api.clock.now = T0 + 5 * DAY  # 4 December: November is closed and published
    before = _published(api)
    assert [m["shifts"] for m in before["months"]] == [6]
    assert before["sites"][0]["shifts"] == 6

    _shift(api, world, cards[0], T0 + 5 * DAY - 3 * HOUR)  # a new shift today
    _shift(api, world, cards[1], T0 - 20 * HOUR)  # a shift of 28 November, synced only now
    after = _published(api)
    assert after == before
    totals = api.http.get("/v1/log/totals").json()
    # The log's sums: November's six shifts (its totals entry closed the day); today's wait for tomorrow.
    assert totals["issued"] == 6 * 20

    api.clock.now = T0 + 35 * DAY  # January: December is published, with both shifts, about 2 people
    later = api.http.get("/v1/log/totals").json()
    assert later["months"] == before["months"]  # November's figures never change
    assert later["pending_from"] == "2025-12"  # December waits: fewer than 5 volunteers


def _november_closed(api: Api, world: World) -> list[str]:
    """Six people worked on 29 November; the clock is at 4 December, so November is published. Their cards."""
    cards = [world.card_id] + [api.create_card(f"Volunteer {i}")["card_id"] for i in range(5)]
    for card_id in cards:
        _shift(api, world, card_id, T0 - 3 * HOUR)
    api.clock.now = T0 + 5 * DAY
    return cards


def _history_reads(statements: list[str]) -> int:
    """How many of the traced ``statements`` regrouped the history (``booked_moves``)."""
    return sum(1 for sql in statements if "GROUP BY e.kind" in sql)


def test_the_closed_months_are_summed_once_a_month_not_on_every_reading(api: Api, world: World) -> None:
    """Statements stay flat as the log grows (make bench-scale): the public page reads no history twice."""
    _november_closed(api, world)
    statements: list[str] = []
    history_reads = functools.partial(_history_reads, statements)

    with api.context.storage.traced(statements.append):
        first = api.http.get("/v1/log/totals").json()
        assert history_reads() == 1
        again = api.http.get("/v1/log/totals").json()
        assert history_reads() == 1 and again == first  # the same answer, from what the first one summed
        site = api.create_site(tokens_per_hour=10)  # a new site: new rows to label
        with_site = api.http.get("/v1/log/totals").json()
        assert history_reads() == 2
        assert site["site_id"] in {row["site_id"] for row in with_site["sites"]}
        api.clock.now = T0 + 35 * DAY  # a new month closes: summed anew
        api.http.get("/v1/log/totals")
        assert history_reads() == 3


def test_a_new_process_reads_the_closed_months_the_first_one_kept(api: Api, world: World) -> None:
    """Another worker, or the server after a restart or an update, does not regroup the whole history."""
    _november_closed(api, world)
    statements: list[str] = []
    history_reads = functools.partial(_history_reads, statements)

    def kept() -> dict[str, Any]:
        with api.context.storage.read() as tx:
            stored = tx.get_setting(CLOSED_MONTHS_SETTING)
        assert stored is not None
        value: dict[str, Any] = json.loads(stored)
        return value

    with api.context.storage.traced(statements.append):
        first = api.http.get("/v1/log/totals").json()
        assert history_reads() == 1 and kept()["breakdowns"]["shifts"] == 6
        api.context.memo = Memo()  # what a new process starts with
        assert api.http.get("/v1/log/totals").json() == first and history_reads() == 1

        # What is kept is what is served: kept figures off by 7 are served off by 7.
        changed = kept()
        changed["breakdowns"]["shifts"] += 7
        with api.context.storage.write() as tx:
            tx.set_setting(CLOSED_MONTHS_SETTING, json.dumps(changed))
        api.context.memo = Memo()
        assert api.http.get("/v1/log/totals").json()["shifts"] == first["shifts"] + 7

        # Kept for another version of these rules (an update): computed again, right, and kept anew.
        changed["key"] = changed["key"].replace(SOFTWARE_VERSION, "0.0.0-older", 1)
        with api.context.storage.write() as tx:
            tx.set_setting(CLOSED_MONTHS_SETTING, json.dumps(changed))
        api.context.memo = Memo()
        assert api.http.get("/v1/log/totals").json() == first and history_reads() == 2
        assert kept()["breakdowns"]["shifts"] == 6 and SOFTWARE_VERSION in kept()["key"]
        api.clock.now = T0 + 35 * DAY  # a new month closes: computed anew, and kept for it
        api.http.get("/v1/log/totals")
        assert history_reads() == 3 and '"2026-01"' in kept()["key"]


def test_the_ledger_sums_are_read_from_where_the_last_reading_ended(api: Api, world: World) -> None:
    """Every reading summed the whole ledger (``ledger_sums``); now only what was booked since the last."""
    cards = _november_closed(api, world)
    memo = api.context.memo

    def truth() -> tuple[int, int, int]:
        with api.context.storage.read() as tx:
            return tx.ledger_sums_after(0)

    api.http.get("/v1/log/totals")
    assert memo.ledger_sums == truth() and memo.ledger_sums[0] > 0
    _shift(api, world, cards[0], T0 + 5 * DAY - 3 * HOUR)
    first = api.http.get("/v1/log/totals").json()
    assert memo.ledger_sums == truth()  # it moved on to the new entries, and their pay is in the sums
    assert first["issued"] == 6 * 20  # November's, as the log's totals entry states them

    # What is remembered is added to, not summed again: a remembered sum off by 7 stays off by 7.
    last, issued, redeemed = memo.ledger_sums
    memo.ledger_sums = (last, issued + 7, redeemed)
    assert api.http.get("/v1/log/totals").json()["issued"] == first["issued"] + 7
    # A ledger whose entries end below the remembered one is not the one summed: summed whole again.
    memo.ledger_sums = (last + 1000, issued + 7, redeemed)
    again = api.http.get("/v1/log/totals").json()
    assert again["issued"] == first["issued"] and memo.ledger_sums == truth()
