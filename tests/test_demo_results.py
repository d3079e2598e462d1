"""How the demo prints the review queue: every kind of item the server lists, none crashes it."""

from __future__ import annotations

from kokreativ.demo.results import print_review


def test_every_kind_of_review_item_is_printed_with_the_volunteers_name():
    card = "c_" + "1" * 32
    items = [
        {"item": "shift", "card_id": card, "reason": "missing_check_out", "start_ms": 0},
        {"item": "overdraft", "card_id": card, "amount": 7, "balance": -7},
        {"item": "held", "card_id": card, "reason": "offline_over_allowance", "amount": 12, "balance": 30},
    ]
    lines: list[str] = []
    print_review(items, {card: "Ada"}, lines.append)
    assert lines[0].endswith(": 3")
    assert "Ada: held, 12 tokens at a shop (offline_over_allowance), nothing debited yet" in lines[3]
