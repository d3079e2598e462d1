"""The console's overview (server.overview): today per site, anomalies, this month's tokens, by scope.

Seeded through the real API (sites, cards, kiosks, signed events); read through the service.
"""

from __future__ import annotations

from typing import Any

from server_helpers import HOUR, MINUTE, T0, Api, FakeKiosk
from server_shop_helpers import ShopWorld, redeem

from protocol import EventKind
from server import charts, overview
from server.storage.views import TapRow

SECOND = 1000


def _tap(kiosk: str, seq: int, card: str, time_ms: int, kind: str = "check_in", site: str = "s_a") -> TapRow:
    return TapRow(kiosk, site, seq, kind, card, time_ms)


def _send(api: Api, kiosk: FakeKiosk, *taps: tuple[EventKind, str, int]) -> None:
    response = api.send(kiosk.kiosk_id, [kiosk.event(kind, card, at) for kind, card, at in taps])
    assert response.status_code == 200, response.text


class Town:
    """Sites A and B with two kiosks each, and a card whose home is A and one whose home is B."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.a = api.create_site(tokens_per_hour=60)["site_id"]
        self.b = api.create_site(tokens_per_hour=60)["site_id"]
        self.a_kiosks = [api.enrol_kiosk(self.a) for _ in range(3)]
        self.b_kiosks = [api.enrol_kiosk(self.b)]
        self.card_a = api.create_card("Ada", site_id=self.a)["card_id"]
        self.card_b = api.create_card("Bea", site_id=self.b)["card_id"]


def test_today_counts_check_ins_and_open_shifts_of_the_callers_sites_only(api: Api) -> None:
    town = Town(api)
    _send(api, town.a_kiosks[0], (EventKind.CHECK_IN, town.card_a, T0 - HOUR))
    _send(api, town.a_kiosks[1], (EventKind.CHECK_IN, town.card_b, T0 - 30 * MINUTE))
    _send(api, town.b_kiosks[0], (EventKind.CHECK_IN, town.card_b, T0 - 20 * MINUTE))
    # Yesterday's check-in (local day) is not today's.
    _send(api, town.b_kiosks[0], (EventKind.CHECK_OUT, town.card_b, T0 - 10 * MINUTE))

    seen_by_a = overview.today(api.context, frozenset({town.a}))
    assert [(s["site_id"], s["checkins"], s["cards"], s["open_shifts"]) for s in seen_by_a] == [
        (town.a, 2, 2, 2)
    ]
    everything = {s["site_id"]: s["checkins"] for s in overview.today(api.context, None)}
    assert everything == {town.a: 2, town.b: 1}


def test_check_ins_before_local_midnight_are_not_today(api: Api) -> None:
    town = Town(api)
    midnight = overview.local_day(T0)[0]
    _send(api, town.a_kiosks[0], (EventKind.CHECK_IN, town.card_a, midnight - MINUTE))
    _send(api, town.a_kiosks[1], (EventKind.CHECK_IN, town.card_b, midnight + MINUTE))
    assert [s["checkins"] for s in overview.today(api.context, frozenset({town.a}))] == [1]


def test_one_card_at_three_kiosks_within_half_an_hour_is_an_anomaly_for_its_sites_only(api: Api) -> None:
    town = Town(api)
    for offset, kiosk in zip((40, 30, 20), town.a_kiosks, strict=True):
        _send(api, kiosk, (EventKind.CHECK_IN, town.card_a, T0 - offset * MINUTE))

    found = overview.anomalies(api.context, frozenset({town.a}))
    assert [(a["kind"], a["card_id"], a["taps"]) for a in found] == [("many_kiosks", town.card_a, 3)]
    assert found[0]["kiosks"] == sorted(k.kiosk_id for k in town.a_kiosks)
    assert overview.anomalies(api.context, frozenset({town.b})) == []


def test_an_anomaly_of_a_card_from_another_site_names_no_card(api: Api) -> None:
    town = Town(api)
    for offset, kiosk in zip((40, 30, 20), town.a_kiosks, strict=True):
        _send(api, kiosk, (EventKind.CHECK_IN, town.card_b, T0 - offset * MINUTE))

    seen_by_a = overview.anomalies(api.context, frozenset({town.a}))
    assert [(a["kind"], a["card_id"]) for a in seen_by_a] == [("many_kiosks", None)]
    assert [a["card_id"] for a in overview.anomalies(api.context, None)] == [town.card_b]
    assert [a["card_id"] for a in overview.anomalies(api.context, frozenset({town.a, town.b}))] == [
        town.card_b
    ]


def test_taps_elsewhere_do_not_complete_an_anomaly_for_a_site_coordinator(api: Api) -> None:
    town = Town(api)
    _send(api, town.a_kiosks[0], (EventKind.CHECK_IN, town.card_a, T0 - 40 * MINUTE))
    _send(api, town.a_kiosks[1], (EventKind.CHECK_IN, town.card_a, T0 - 30 * MINUTE))
    _send(api, town.b_kiosks[0], (EventKind.CHECK_IN, town.card_a, T0 - 20 * MINUTE))

    assert overview.anomalies(api.context, frozenset({town.a})) == []
    assert [a["kind"] for a in overview.anomalies(api.context, None)] == ["many_kiosks"]


def test_a_check_in_at_three_in_the_night_is_an_odd_hour(api: Api) -> None:
    town = Town(api)
    three_am = overview.local_day(T0)[0] + 3 * HOUR
    _send(api, town.a_kiosks[0], (EventKind.CHECK_IN, town.card_a, three_am))
    found = overview.anomalies(api.context, frozenset({town.a}))
    assert [(a["kind"], a["from_ms"]) for a in found] == [("odd_hours", three_am)]


def test_a_burst_of_double_taps_is_an_anomaly(api: Api) -> None:
    town = Town(api)
    kiosk = town.a_kiosks[0]
    start = T0 - HOUR
    kinds = (EventKind.CHECK_IN, EventKind.CHECK_OUT)
    _send(api, kiosk, *((kinds[i % 2], town.card_a, start + i * 20 * SECOND) for i in range(4)))
    found = overview.anomalies(api.context, frozenset({town.a}))
    assert [(a["kind"], a["taps"]) for a in found] == [("double_taps", 4)]


def _kinds(taps: list[TapRow], **rules: Any) -> list[str]:
    return [a["kind"] for a in overview.find_anomalies(taps, overview.AnomalyRules(**rules))]


def test_many_kiosks_needs_them_all_within_the_window() -> None:
    day = T0 - 12 * HOUR  # 20:06 local, no odd hour
    inside = [_tap(f"k_{i}", 1, "c_x", day + i * 14 * MINUTE) for i in range(3)]
    outside = [_tap(f"k_{i}", 1, "c_x", day + i * 16 * MINUTE) for i in range(3)]
    assert _kinds(inside) == ["many_kiosks"]
    assert _kinds(outside) == []
    assert _kinds(outside, many_kiosks_window_ms=40 * MINUTE) == ["many_kiosks"]
    assert _kinds(inside[:2]) == []


def test_double_taps_need_enough_quick_repeats_within_an_hour() -> None:
    day = T0 - 12 * HOUR
    quick = [_tap("k_1", i, "c_x", day + i * 30 * SECOND) for i in range(4)]  # three repeats
    slow = [_tap("k_1", i, "c_x", day + i * 61 * SECOND) for i in range(4)]
    spread = [_tap("k_1", i, "c_x", day + (i // 2) * 40 * MINUTE + (i % 2) * 10 * SECOND) for i in range(6)]
    assert _kinds(quick) == ["double_taps"]
    assert _kinds(quick[:3]) == []
    assert _kinds(slow) == []
    assert _kinds(spread) == []  # three repeats, but 80 minutes from the first to the last
    other_cards = [_tap("k_1", i, f"c_{i}", day + i * 30 * SECOND) for i in range(4)]
    assert _kinds(other_cards) == []


def test_month_moves_count_issued_and_redeemed_per_day_at_the_callers_sites(api: Api) -> None:
    world = ShopWorld(api)
    holder = world.holder(tokens=30)
    _, event = redeem(world.till, holder.card_id, 12)
    assert world.send(world.till, [event]) == [[]]

    day = overview._local(T0).day - 1
    everything = overview.month_moves(api.context, None)
    assert (everything["issued"][day], everything["redeemed"][day]) == (30, 12)
    assert sum(everything["issued"]) == 30 and sum(everything["redeemed"]) == 12
    earn_only = overview.month_moves(api.context, frozenset({world.earn_site["site_id"]}))
    assert (sum(earn_only["issued"]), sum(earn_only["redeemed"])) == (30, 0)
    shop_only = overview.month_moves(api.context, frozenset({world.shop["site_id"]}))
    assert (sum(shop_only["issued"]), sum(shop_only["redeemed"])) == (0, 12)
    assert everything["month"] == "2025-11" and len(everything["days"]) == 30


def test_review_count_is_of_the_callers_sites(api: Api) -> None:
    town = Town(api)
    # A shift longer than the site allows waits for review.
    _send(
        api,
        town.b_kiosks[0],
        (EventKind.CHECK_IN, town.card_b, T0 - 20 * HOUR),
        (EventKind.CHECK_OUT, town.card_b, T0 - HOUR),
    )
    assert overview.review_count(api.context, None) == 1
    assert overview.review_count(api.context, frozenset({town.b})) == 1
    assert overview.review_count(api.context, frozenset({town.a})) == 0


def test_the_overview_gathers_it_all_with_a_chart(api: Api) -> None:
    town = Town(api)
    _send(api, town.a_kiosks[0], (EventKind.CHECK_IN, town.card_a, T0 - HOUR))
    page = overview.overview(api.context, frozenset({town.a}))
    assert set(page) == {"now_ms", "sites", "review", "alarms", "anomalies", "month"}
    assert [s["site_id"] for s in page["sites"]] == [town.a]
    assert all(k["site_id"] == town.a for k in page["alarms"])


def test_the_chart_is_inline_svg_with_every_value_in_a_title_and_text_escaped() -> None:
    svg = charts.bar_chart("Token <Monat>", ["1", "2"], [("ausgegeben", [3, 0]), ("eingelöst", [1, -2])])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "Token &lt;Monat&gt;" in svg and "<Monat>" not in svg
    assert "<title>1: ausgegeben 3</title>" in svg and "<title>2: eingelöst -2</title>" in svg
    assert "<script" not in svg
