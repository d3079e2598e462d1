"""The public totals' rules (``server.totals``) without a server: small counts, periods, differencing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.economy import Site, SiteKind
from server.storage.views import BookedRow
from server.totals import MIN_PUBLIC_COUNT, SUPPRESSED, _Row, month_of, publish, suppress


def _row(name: str, volunteers: int, shifts: int) -> _Row:
    row = _Row({"site_id": name})
    for i in range(volunteers):
        row.add(f"v_{name}{i}", shifts=shifts // max(volunteers, 1))
    return row


def test_rows_about_enough_people_are_shown_and_empty_rows_stay_zero():
    rows = suppress([_row("a", 5, 10), _row("b", 7, 14), _Row({"site_id": "c"}, {"shifts": 0})])
    assert [r["volunteers"] for r in rows] == [5, 7, 0]
    assert all("suppressed" not in r for r in rows)


def test_a_small_row_is_suppressed_and_so_is_the_next_smallest_while_subtraction_would_reveal_it():
    rows = suppress([_row("a", 6, 12), _row("b", 2, 4), _row("c", 9, 18)])
    # b alone concerns 2 people; the total of all sites is public elsewhere, so a, the next smallest,
    # goes too: a + b is then a figure about 8 people.
    assert [r["shifts"] for r in rows] == [None, None, 18]
    assert rows[1]["suppressed"] == SUPPRESSED and rows[1]["volunteers"] is None
    assert MIN_PUBLIC_COUNT == 5


def test_two_small_rows_about_enough_people_together_need_no_third():
    rows = suppress([_row("a", 3, 3), _row("b", 3, 3), _row("c", 9, 9)])
    assert [r["shifts"] for r in rows] == [None, None, 9]


# --- Differencing: hypothesis draws ledgers and reads them as an attacker would. ---------------------

SITES = {
    "s_a": Site("s_a", "Linden", 10, 12),
    "s_b": Site("s_b", "List", 10, 12),
    "s_c": Site("s_c", "Mitte", 10, 12),
    "p_a": Site("p_a", "Laden", 0, 0, kind=SiteKind.SHOP),
    "p_b": Site("p_b", "Markt", 0, 0, kind=SiteKind.SHOP),
}
FIRST_HOUR = 1_767_222_000_000 // 3_600_000  # 2025-12-31 23:00 UTC: 1 January 2026 in Berlin
MONTHS = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07"]


@st.composite
def booked_rows(draw: st.DrawFn) -> list[BookedRow]:
    """Up to 60 booked rows over Jan-Jun 2026 by 12 volunteers at three sites and two shops."""
    rows = []
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.sampled_from(["shift", "shift", "redeem", "void"]))
        site = draw(st.sampled_from(["s_a", "s_b", "s_c"] if kind == "shift" else ["p_a", "p_b"]))
        entries = draw(st.integers(1, 3))
        hour = FIRST_HOUR + draw(st.integers(0, 181 * 24 - 1))
        volunteer = f"v_{draw(st.integers(0, 11))}"
        if kind == "shift":
            minutes = draw(st.integers(15, 600))
            rows.append(BookedRow(kind, site, volunteer, hour, entries, minutes // 6, minutes))
        else:
            tokens = draw(st.integers(1, 50))
            rows.append(
                BookedRow(kind, site, volunteer, hour, entries, -tokens if kind == "redeem" else tokens, 0)
            )
    return rows


def _truth(rows: list[BookedRow], first: str, last: str, kinds: tuple[str, ...]) -> dict[str, _Row]:
    """The true cells of the period ``first``..``last``, computed here independently of server.totals."""
    cells: dict[str, _Row] = {}
    for row in rows:
        if row.kind in kinds and first <= month_of(row.hour * 3_600_000) <= last:
            sign = -1 if row.kind == "void" else 1
            value = row.minutes if row.kind == "shift" else -row.delta
            cells.setdefault(str(row.site_id), _Row({})).add(row.volunteer_id, n=sign * row.entries, v=value)
    return cells


@settings(max_examples=100, deadline=None)
@given(booked_rows())
def test_a_period_total_minus_its_visible_rows_is_always_about_enough_people(rows: list[BookedRow]) -> None:
    published = publish(rows, SITES, "2026-07")
    for period in published["months"]:
        for breakdown, kinds, figure in (
            ("sites", ("shift",), "shifts"),
            ("shops", ("redeem", "void"), "redemptions"),
        ):
            truth = _truth(rows, period["from"], period["month"], kinds)
            shown = {row["site_id"]: row for row in period[breakdown]}
            assert set(shown) == set(truth)
            hidden = [site for site, row in shown.items() if row.get("suppressed")]
            for site, row in shown.items():
                if site not in hidden:  # a visible row is true and about enough people (or nobody)
                    assert row[figure] == truth[site].figures["n"]
                    assert len(truth[site].volunteers) >= MIN_PUBLIC_COUNT
            # What subtraction yields (the total minus the visible rows) is the hidden rows' sum: never
            # one row alone, and about at least MIN_PUBLIC_COUNT people.
            total = period[figure] if breakdown == "sites" else period["redemptions"]
            derived = total - sum(shown[s][figure] for s in shown if s not in hidden)
            assert derived == sum(truth[s].figures["n"] for s in hidden)
            assert len(hidden) != 1
            people: set[str] = set()
            for site in hidden:
                people |= truth[site].volunteers
            assert not hidden or len(people) >= MIN_PUBLIC_COUNT
        assert period["volunteers"] in range(MIN_PUBLIC_COUNT, 13) or period["volunteers"] == 0
        assert period["redeemers"] in range(MIN_PUBLIC_COUNT, 13) or period["redeemers"] == 0


@settings(max_examples=100, deadline=None)
@given(booked_rows(), st.integers(0, 5), st.integers(1, 6))
def test_two_readings_differ_only_by_whole_published_periods(
    rows: list[BookedRow], early: int, gap: int
) -> None:
    """Reading at one month's start and again later: old periods stay, new sums are visible rows only."""
    before = publish(rows, SITES, MONTHS[early])
    after = publish(rows, SITES, MONTHS[min(early + gap, 6)])
    assert after["months"][: len(before["months"])] == before["months"]
    new = after["months"][len(before["months"]) :]
    for breakdown, names in (("sites", ("shifts", "hours")), ("shops", ("redemptions", "tokens"))):
        old_sums = {row["site_id"]: row for row in before[breakdown]}
        for row in after[breakdown]:
            visible = [
                r
                for p in new
                for r in p[breakdown]
                if r["site_id"] == row["site_id"] and not r.get("suppressed")
            ]
            assert row[names[0]] - old_sums[row["site_id"]][names[0]] == sum(r[names[0]] for r in visible)
    # Whatever is booked in the current month (new shifts, late ones for past months) changes nothing.
    closed = [row for row in rows if month_of(row.hour * 3_600_000) < MONTHS[early]]
    assert publish(closed, SITES, MONTHS[early]) == before
    assert all(period["month"] < MONTHS[early] for period in before["months"])
