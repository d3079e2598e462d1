"""``GET /v1/log/entries/{index}``: an entry and its tlog-proof in one public answer (for ``/pruefen``).

The browser check (``static/verify.js``) needs the entry's bytes beside the proof;
both come from one read, so they always agree with the checkpoint inside the proof.
"""

from __future__ import annotations

import base64

from server_helpers import T0, Api, assert_error

from protocol import EventKind, Reason
from protocol.checkpoint import verify_tlog_proof
from protocol.merkle import leaf_hash
from protocol.note import NoteVerifier


def test_an_entry_comes_with_a_proof_anyone_can_check(api: Api) -> None:
    ada = api.create_card("Ada Lovelace")
    kiosk = api.enrol_kiosk(api.home_site())
    assert api.send(kiosk.kiosk_id, [kiosk.event(EventKind.CHECK_IN, ada["card_id"], T0)]).status_code == 200
    key = NoteVerifier.parse(api.http.get("/v1/log/key").json()["verifier_key"])
    with api.context.storage.read() as tx:
        size = tx.tlog_size()
        logged = tx.tlog_entry_range(0, size)
    for index in range(size):
        response = api.http.get(f"/v1/log/entries/{index}")
        assert response.status_code == 200, response.text
        answer = response.json()
        entry = base64.b64decode(answer["entry"])
        assert answer["index"] == index and entry == logged[index]
        verify_tlog_proof(answer["proof"].encode(), [key], leaf_hash=leaf_hash(entry))
        assert answer["proof"] == api.http.get(f"/v1/log/entries/{index}/proof").text


def test_an_entry_beyond_the_log_or_not_a_number_is_not_found(api: Api) -> None:
    size = int(api.http.get("/checkpoint").text.split("\n")[1])
    for index in (str(size), "01", "-1", "x", "9" * 40):
        assert_error(api.http.get(f"/v1/log/entries/{index}"), 404, Reason.NOT_FOUND)
