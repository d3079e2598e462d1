"""Undo at the kiosk, on the server: a real server on loopback, v2 (sealed) events as kiosks send them.

``docs/protocol.md``, "Undo at the kiosk": an ``undo`` is admitted like any
signed, chained event; it takes back its kiosk's latest tap of the card within
:data:`protocol.economy.UNDO_MAX_MS` by the kiosk's monotonic clock, once, or is
flagged and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_helpers import HOUR, MINUTE, T0, Api, World, assert_error

from protocol import EventKind, SignedEvent
from protocol.economy import UNDO_MAX_MS
from protocol.note import NoteVerifier
from server.datadir import InitResult
from tests.audit_helpers import audit_data_folder


def _send(api: Api, kiosk_id: str, events: list[SignedEvent]) -> list[list[str]]:
    response = api.send(kiosk_id, events)
    assert response.status_code == 200, response.text
    return [result["flags"] for result in response.json()["results"]]


def _shifts(api: Api, card: str) -> list[tuple[Any, ...]]:
    return [(s["status"], s["reason"], s["minutes"], s["tokens"]) for s in api.shifts(card)]


def _undo(world: World, seq: int, wall_ms: int, **clock: Any) -> SignedEvent:
    return world.kiosk.event(EventKind.UNDO, world.card_id, wall_ms, data={"seq": seq}, **clock)


@pytest.mark.parametrize("version", [1, 2])
def test_an_undone_check_in_leaves_no_open_shift(api: Api, world: World, version: int) -> None:
    world.kiosk.version = version
    tap = world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    assert _send(api, world.kiosk.kiosk_id, [tap, _undo(world, tap.event.seq, T0 + 4_000)]) == [[], []]
    assert _shifts(api, world.card_id) == [("rejected", "undone", 0, 0)]
    # The next tap is a check-in again, and pays as usual.
    batch = [
        world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0 + MINUTE),
        world.kiosk.event(EventKind.CHECK_OUT, world.card_id, T0 + 61 * MINUTE),
    ]
    assert _send(api, world.kiosk.kiosk_id, batch) == [[], []]
    assert api.balance(world.card_id) == 10


def test_an_undone_check_out_reopens_its_shift_and_takes_its_tokens_back(api: Api, world: World) -> None:
    k = world.kiosk
    _send(api, k.kiosk_id, [k.event(EventKind.CHECK_IN, world.card_id, T0)])
    check_out = k.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    _send(api, k.kiosk_id, [check_out])  # paid in its own batch, before the undo comes
    assert api.balance(world.card_id) == 10
    assert _send(api, k.kiosk_id, [_undo(world, check_out.event.seq, T0 + HOUR + 9_000)]) == [[]]
    assert api.balance(world.card_id) == 0
    assert _shifts(api, world.card_id) == [("rejected", "undone", 60, 0), ("open", None, 0, 0)]
    reopened = api.shifts(world.card_id)[1]
    assert reopened["start_ms"] == T0 and reopened["in_seq"] == 1
    # The real check-out two hours later pays the whole shift once.
    _send(api, k.kiosk_id, [k.event(EventKind.CHECK_OUT, world.card_id, T0 + 2 * HOUR)])
    assert api.balance(world.card_id) == 20
    with api.context.storage.read() as tx:
        assert tx.balances() == tx.summed_balances()
        assert tx.ledger_sums() == (20, 0)  # issued net of the undone pay; nothing redeemed


def test_an_undo_within_the_batch_of_its_check_out(api: Api, world: World) -> None:
    k = world.kiosk
    check_in = k.event(EventKind.CHECK_IN, world.card_id, T0)
    check_out = k.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    flags = _send(api, k.kiosk_id, [check_in, check_out, _undo(world, check_out.event.seq, T0 + HOUR + 1)])
    assert flags == [[], [], []]
    assert api.balance(world.card_id) == 0
    assert [s[0] for s in _shifts(api, world.card_id)] == ["rejected", "open"]


def test_an_undo_too_late_changes_nothing_and_is_not_tried_again(api: Api, world: World) -> None:
    k = world.kiosk
    tap = k.event(EventKind.CHECK_IN, world.card_id, T0)
    late = _undo(world, tap.event.seq, T0 + UNDO_MAX_MS + 1)
    assert _send(api, k.kiosk_id, [tap, late]) == [[], ["undo_too_late"]]
    k.reboot()  # the monotonic clock of another boot says nothing about seconds
    other_boot = _undo(world, tap.event.seq, T0 + 1_000)
    # One undo per tap, honoured or not: a second try is no way round the window.
    assert _send(api, k.kiosk_id, [other_boot]) == [["already_undone"]]
    assert _shifts(api, world.card_id) == [("open", None, 0, 0)]


def test_an_undo_from_another_boot(api: Api, world: World) -> None:
    k = world.kiosk
    tap = k.event(EventKind.CHECK_IN, world.card_id, T0)
    _send(api, k.kiosk_id, [tap])
    k.reboot()
    assert _send(api, k.kiosk_id, [_undo(world, tap.event.seq, T0 + 1_000)]) == [["undo_too_late"]]
    assert _shifts(api, world.card_id) == [("open", None, 0, 0)]


def test_a_tap_is_undone_at_most_once(api: Api, world: World) -> None:
    k = world.kiosk
    tap = k.event(EventKind.CHECK_IN, world.card_id, T0)
    first = _undo(world, tap.event.seq, T0 + 2_000)
    _send(api, k.kiosk_id, [tap, first])
    assert _send(api, k.kiosk_id, [_undo(world, tap.event.seq, T0 + 3_000)]) == [["already_undone"]]
    # An undo is not undone either.
    assert _send(api, k.kiosk_id, [_undo(world, first.event.seq, T0 + 4_000)]) == [["undo_superseded"]]
    assert _shifts(api, world.card_id) == [("rejected", "undone", 0, 0)]


def test_an_undo_after_a_later_tap_of_the_card_is_superseded(api: Api, world: World) -> None:
    k = world.kiosk
    check_in = k.event(EventKind.CHECK_IN, world.card_id, T0)
    check_out = k.event(EventKind.CHECK_OUT, world.card_id, T0 + 5_000)
    assert _send(api, k.kiosk_id, [check_in, check_out, _undo(world, check_in.event.seq, T0 + 6_000)]) == [
        [],
        [],
        ["undo_superseded"],
    ]
    # Another card's tap in between does not matter: the undo names the card's own latest tap.
    other = api.create_card()["card_id"]
    _send(api, k.kiosk_id, [k.event(EventKind.CHECK_IN, world.card_id, T0 + 7_000)])
    _send(api, k.kiosk_id, [k.event(EventKind.CHECK_IN, other, T0 + 8_000)])
    assert _send(api, k.kiosk_id, [_undo(world, k.seq - 1, T0 + 9_000)]) == [[]]


def test_an_undo_at_another_kiosk_names_no_tap_of_its_own(api: Api, world: World) -> None:
    other = api.enrol_kiosk(world.site["site_id"])
    tap = world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    _send(api, world.kiosk.kiosk_id, [tap])
    _send(api, other.kiosk_id, [other.event(EventKind.DENIED, world.card_id, T0 + 500)])
    undo = other.event(EventKind.UNDO, world.card_id, T0 + 1_000, data={"seq": tap.event.seq})
    assert _send(api, other.kiosk_id, [undo]) == [["undo_unknown_tap"]]
    assert _shifts(api, world.card_id) == [("open", None, 0, 0)]


def test_an_undo_whose_shift_moved_on_at_another_kiosk_changes_nothing(api: Api, world: World) -> None:
    other = api.enrol_kiosk(world.site["site_id"])
    tap = world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    _send(api, world.kiosk.kiosk_id, [tap])
    _send(api, other.kiosk_id, [other.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)])
    undo = _undo(world, tap.event.seq, T0 + 3_000)
    assert _send(api, world.kiosk.kiosk_id, [undo]) == [["undo_superseded"]]
    assert api.balance(world.card_id) == 10


def test_an_undo_of_an_unknown_card(api: Api, world: World) -> None:
    stranger = "c_" + "ab" * 16
    k = world.kiosk
    tap = k.event(EventKind.CHECK_IN, stranger, T0)
    undo = k.event(EventKind.UNDO, stranger, T0 + 1_000, data={"seq": tap.event.seq})
    assert _send(api, k.kiosk_id, [tap, undo]) == [["unknown_card"], ["unknown_card"]]


def test_a_forged_undo_is_refused_and_changes_nothing(api: Api, world: World) -> None:
    k = world.kiosk
    tap = k.event(EventKind.CHECK_IN, world.card_id, T0)
    _send(api, k.kiosk_id, [tap])
    undo = _undo(world, tap.event.seq, T0 + 1_000)
    forged = SignedEvent(undo.body, bytes(64), undo.event, undo.opening)
    assert_error(api.send(k.kiosk_id, [forged]), 400, "bad_signature")
    assert _shifts(api, world.card_id) == [("open", None, 0, 0)]


def test_a_resent_undo_is_a_duplicate(api: Api, world: World) -> None:
    k = world.kiosk
    tap = k.event(EventKind.CHECK_IN, world.card_id, T0)
    undo = _undo(world, tap.event.seq, T0 + 1_000)
    _send(api, k.kiosk_id, [tap, undo])
    response = api.send(k.kiosk_id, [tap, undo])
    assert [r["status"] for r in response.json()["results"]] == ["duplicate", "duplicate"]
    assert _shifts(api, world.card_id) == [("rejected", "undone", 0, 0)]


def test_the_auditor_replays_undos_and_agrees_with_the_servers_balances(
    api: Api, world: World, data_dir: tuple[Path, InitResult], tmp_path: Path
) -> None:
    old = api.enrol_kiosk(world.site["site_id"])
    old.version = 1  # a kiosk from before issue 17 signs v1 events: its undo is logged sealed too
    second = api.create_card()["card_id"]
    k = world.kiosk
    in_1 = k.event(EventKind.CHECK_IN, world.card_id, T0)
    out_1 = k.event(EventKind.CHECK_OUT, world.card_id, T0 + HOUR)
    _send(api, k.kiosk_id, [in_1, out_1])  # paid: 10 tokens
    _send(api, k.kiosk_id, [_undo(world, out_1.event.seq, T0 + HOUR + 5_000)])  # back to 0, shift open
    _send(api, k.kiosk_id, [k.event(EventKind.CHECK_OUT, world.card_id, T0 + 3 * HOUR)])  # 30 tokens
    in_2 = old.event(EventKind.CHECK_IN, second, T0)
    _send(
        api, old.kiosk_id, [in_2, old.event(EventKind.UNDO, second, T0 + 1_000, data={"seq": in_2.event.seq})]
    )
    in_3 = old.event(EventKind.CHECK_IN, second, T0 + HOUR)
    out_3 = old.event(EventKind.CHECK_OUT, second, T0 + 2 * HOUR)
    late = old.event(EventKind.UNDO, second, T0 + 2 * HOUR + UNDO_MAX_MS + 1, data={"seq": out_3.event.seq})
    assert _send(api, old.kiosk_id, [in_3, out_3, late]) == [[], [], ["undo_too_late"]]
    assert (api.balance(world.card_id), api.balance(second)) == (30, 10)
    folder, init = data_dir
    report = audit_data_folder(folder, [NoteVerifier.parse(init.log_verifier_key)], tmp_path)
    assert report.ok, "\n".join(report.lines())
    assert report.mode == "auditor" and report.balances_compared == 2


def test_the_volunteers_own_page_calls_an_undone_shift_taken_back_not_refused(api: Api, world: World) -> None:
    from server import selfservice
    from server.web.me import SHIFT_STATUS

    tap = world.kiosk.event(EventKind.CHECK_IN, world.card_id, T0)
    _send(api, world.kiosk.kiosk_id, [tap, _undo(world, tap.event.seq, T0 + 4_000)])
    shifts = selfservice.my_page(api.context, world.volunteer_id)["shifts"]
    assert [(s["status"], s["undone"]) for s in shifts] == [("rejected", True)]
    assert SHIFT_STATUS["undone"] == "taken back at the kiosk"
