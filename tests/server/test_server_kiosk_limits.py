"""A stolen check-in kiosk key does bounded damage: the server holds implausible shifts for review.

Each test signs events with an enrolled kiosk's real key and sends them to the
real loopback server, as a thief with the key would (``docs/economy.md``,
"The worst-case loss", for check-in kiosks).
"""

from __future__ import annotations

from server_helpers import HOUR, T0, Api

from protocol import EventKind

DAY = 24 * HOUR


def _review_reasons(api: Api) -> list[str]:
    items = api.admin("GET", "/v1/admin/review", expect=200).json()["items"]
    return [item["reason"] for item in items]


def test_a_year_of_back_dated_shifts_is_held_not_paid(api: Api) -> None:
    site = api.create_site(tokens_per_hour=10)
    kiosk = api.enrol_kiosk(site["site_id"], enrolled_ms=T0)
    card = api.create_card()["card_id"]
    api.clock.now = T0 + HOUR  # the thief syncs an hour after the kiosk was enrolled
    sent = 0
    events = []
    for day in range(365, 0, -1):
        start = T0 - day * DAY
        events.append(kiosk.event(EventKind.CHECK_IN, card, start))
        events.append(kiosk.event(EventKind.CHECK_OUT, card, start + 11 * HOUR))
    for first in range(0, len(events), 500):
        response = api.send(kiosk.kiosk_id, events[first : first + 500])
        assert response.status_code == 200, response.text
        sent += len(response.json()["results"])
    assert sent == 730
    assert api.balance(card) == 0
    reasons = _review_reasons(api)
    assert len(reasons) == 365
    assert set(reasons) <= {"before_enrolment", "backdated"}
