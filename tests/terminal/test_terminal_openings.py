"""Kiosks sign v2 events: a commitment to the card, its opening beside it until a receipt covers it."""

from __future__ import annotations

import sqlite3

from hardware.reader import Tap
from protocol import PrivateKey, Receipt, ids, sign_receipt, verify_receipt
from protocol.commitments import SealedOpening
from protocol.events import COMMITTED_VERSION, decode_wire_item, parse_event
from terminal.outbox import Outbox
from terminal.tap import Kiosk, Outcome
from tests.cardfactory import uid_for


def _receipt(outbox: Outbox, seq: int, key: PrivateKey, kiosk_id: str) -> Receipt:
    head = next(e.hash for e in outbox.events_from(seq, 1))
    wire = sign_receipt(Receipt(kiosk=kiosk_id, seq=seq, head=head, issued_ms=1), key)
    return verify_receipt(wire, key.public_key, kiosk_id=kiosk_id)


def _rows(outbox: Outbox) -> list[tuple[int, bytes, str, str | None]]:
    conn = sqlite3.connect(outbox.path)
    try:
        return list(conn.execute("SELECT seq, body, card_id, opening FROM events ORDER BY seq"))
    finally:
        conn.close()


def test_every_tap_is_a_v2_event_whose_body_names_no_card(kiosk: Kiosk, outbox, clock, card_tap):
    card = ids.new_id(ids.CARD)
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_IN
    clock.advance(3600)
    assert kiosk.handle_tap(card_tap(card)).kind is Outcome.CHECK_OUT
    clock.advance(60)
    assert kiosk.handle_tap(Tap(uid=uid_for(card)[::-1], ndef=None)).kind is Outcome.DENIED  # a bare UID
    for _seq, body, _card, opening in _rows(outbox):
        event = parse_event(body)
        assert event.version == COMMITTED_VERSION and event.card == ""
        assert card.encode() not in body
        assert opening is not None
    # Sent with its opening, which opens the signed commitment.
    for signed in outbox.pending():
        body, _sig, opening = decode_wire_item(signed.to_wire())
        assert opening is not None and parse_event(body).ref == opening.ref
    first, second = (signed.event.ref for signed in outbox.pending()[:2])
    assert first != second  # one card, two unlinkable commitments


def test_a_receipt_drops_the_openings_and_card_ids_it_covers(
    config, kiosk: Kiosk, outbox, clock, card_tap, server_key
):
    done, still_in, later = (ids.new_id(ids.CARD) for _ in range(3))
    kiosk.handle_tap(card_tap(done))  # 1 check-in
    clock.advance(3600)
    kiosk.handle_tap(card_tap(done))  # 2 check-out
    kiosk.handle_tap(card_tap(still_in))  # 3 check-in, stays open
    assert outbox.apply_receipt(_receipt(outbox, 3, server_key, config.kiosk_id)) == 3
    clock.advance(60)
    kiosk.handle_tap(card_tap(later))  # 4, not covered yet

    rows = _rows(outbox)
    covered = [(seq, card, opening) for seq, _, card, opening in rows[:3]]
    assert covered == [(1, "", None), (2, "", None), (3, "", None)]
    assert rows[3][2] == later and rows[3][3] is not None
    # Sent again after a restore, a covered event goes without an opening; the uncovered one with it.
    wires = [signed.to_wire() for signed in outbox.events_from(1, 10)]
    assert ["opening" in wire for wire in wires] == [False, False, False, True]
    # The open shift keeps its card until its check-out is covered: a kiosk needs it to close it.
    assert outbox.open_shift(still_in) is not None and outbox.open_shift(done) is None
    outbox.close()
    with Outbox(config.outbox_path) as again:
        assert again.open_shift(still_in) is not None
        assert [s.event.card for s in again.pending()] == [later]


def test_with_the_server_key_a_receipt_keeps_each_opening_sealed_to_it_for_a_re_feed(
    config, kiosk: Kiosk, outbox, clock, card_tap, server_key
):
    """Issue 20 §3: a restored server can be re-fed; only the server's key opens what the kiosk keeps."""
    card = ids.new_id(ids.CARD)
    kiosk.handle_tap(card_tap(card))  # 1 check-in
    clock.advance(3600)
    kiosk.handle_tap(card_tap(card))  # 2 check-out
    before = [signed.opening for signed in outbox.pending()]
    receipt = _receipt(outbox, 2, server_key, config.kiosk_id)
    assert outbox.apply_receipt(receipt, seal_to=server_key.public_key) == 2
    assert [(card_id, opening) for _, _, card_id, opening in _rows(outbox)] == [("", None), ("", None)]
    with open(outbox.path, "rb") as file:
        assert card.encode() not in file.read()  # the file names the card nowhere, sealed or not
    resent = outbox.events_from(1, 10)
    wires = [signed.to_wire() for signed in resent]
    assert all("opening" not in wire and "sealed_opening" in wire for wire in wires)
    for wire, opening in zip(wires, before, strict=True):
        sealed = decode_wire_item(wire)[2]
        assert isinstance(sealed, SealedOpening)
        assert sealed.open([PrivateKey.generate()]) is None  # a thief's or another server's key: nothing
        assert sealed.open([PrivateKey.generate(), server_key]) == opening
