"""The small-count rule of the public totals (``server.totals.suppress``), without a server."""

from __future__ import annotations

from server.totals import MIN_PUBLIC_COUNT, SUPPRESSED, _Row, suppress


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
