"""Erasure (Art. 17, server/erasure.py) and the export (Art. 15/20, server/personexport.py) over HTTP."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from pypdf import PdfReader
from server_helpers import HOUR, T0, Api, World, assert_error
from test_server_personal_access import cookie, session_cookie

from protocol import EventKind, Reason
from server.datadir import open_data_dir
from server.erasure import ERASURE_STEPS
from server.personexport import EXPORT_TABLES
from server.vault import PERSON_KEYS
from tests.server.ledger_file import ledger_file

NAME = "Jördis Quellmalz-Nachtigall"
NUMBER = "EAK-QM-550071"


def _person(api: Api) -> dict:
    return api.create_card(NAME, ehrenamtskarte=NUMBER)


def _report_entry(api: Api, volunteer_id: str) -> dict:
    report = api.admin("GET", "/v1/admin/report", expect=200).json()["volunteers"]
    return next(p for p in report if p["volunteer_id"] == volunteer_id)


def _erase(api: Api, volunteer_id: str, expect: int = 200) -> dict:
    return api.admin("POST", f"/v1/admin/volunteers/{volunteer_id}/erase", expect=expect).json()


def _registration_openings(api: Api, volunteer_id: str) -> list[str]:
    """The cards whose registration opening (its commitment is to ``card|volunteer``) names the volunteer."""
    with ledger_file(api.context.storage) as conn:
        rows = conn.execute(
            "SELECT card_id FROM openings WHERE kind = 'card' AND volunteer_id = ? ORDER BY log_index",
            (volunteer_id,),
        ).fetchall()
    return [row[0] for row in rows]


def _session(api: Api, secret: str) -> str:
    response = api.http.post("/v1/me/session", json={"secret": secret})
    assert response.status_code == 204, response.text
    return session_cookie(response)


def test_erasure_blocks_the_cards_destroys_the_key_and_the_name_reads_null(api: Api, world: World) -> None:
    card = _person(api)
    volunteer_id = card["volunteer_id"]
    second = api.create_card(volunteer_id=volunteer_id)
    key_file = api.context.vault.key_path(volunteer_id)
    assert key_file.is_file()
    assert (_report_entry(api, volunteer_id)["name"], _report_entry(api, volunteer_id)["ehrenamtskarte"]) == (
        NAME,
        NUMBER,
    )
    card_ids = [card["card_id"], second["card_id"]]
    assert _registration_openings(api, volunteer_id) == card_ids
    api.clock.now = T0 + HOUR
    answer = _erase(api, volunteer_id)
    assert answer == {
        "volunteer_id": volunteer_id,
        "erased_ms": T0 + HOUR,
        "cards_blocked": card_ids,
        # The access secret (made with the first card), no session yet, both cards' registration openings.
        "deleted": {
            "personal_data": 1,
            "volunteer_access": 1,
            "sessions": 0,
            "openings": 2,
            "prepared_cards": 0,
        },
        "key_destroyed": True,
    }
    assert not key_file.exists()
    assert _registration_openings(api, volunteer_id) == []
    with ledger_file(api.context.storage) as conn:  # nothing else ties a card to the volunteer any more
        assert (
            conn.execute("SELECT COUNT(*) FROM openings WHERE volunteer_id = ?", (volunteer_id,)).fetchone()[
                0
            ]
            == 0
        )
        # The blocks are logged as commitments, opened by card and salt alone.
        blocks = conn.execute(
            "SELECT card_id, volunteer_id FROM openings WHERE kind = 'card_blocked'"
        ).fetchall()
        assert sorted(blocks) == sorted((card_id, None) for card_id in card_ids)
    person = _report_entry(api, volunteer_id)
    assert (person["name"], person["ehrenamtskarte"]) == (None, None)
    statement = api.admin("GET", f"/v1/admin/statements/volunteers/{volunteer_id}", expect=200).json()
    assert statement["name"] is None
    cards = api.admin("GET", f"/v1/admin/cards?volunteer_id={volunteer_id}", expect=200).json()["cards"]
    assert [(c["blocked_ms"], c["block_reason"]) for c in cards] == [(T0 + HOUR, "erased")] * 2
    with ledger_file(api.context.storage) as conn:
        assert (
            conn.execute(
                "SELECT COUNT(*) FROM personal_data WHERE volunteer_id = ?", (volunteer_id,)
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT volunteer_id, erased_ms FROM erasures").fetchall() == [
            (volunteer_id, T0 + HOUR)
        ]
    # Others keep their names.
    assert _report_entry(api, world.volunteer_id)["name"] == "Ada Lovelace"


def test_erasing_again_changes_nothing_and_keeps_the_first_time(api: Api) -> None:
    volunteer_id = _person(api)["volunteer_id"]
    first = _erase(api, volunteer_id)
    before = api.snapshot()
    api.clock.now += HOUR
    again = _erase(api, volunteer_id)
    nothing = {"personal_data": 0, "volunteer_access": 0, "sessions": 0, "openings": 0, "prepared_cards": 0}
    assert again == {**first, "cards_blocked": [], "deleted": nothing, "key_destroyed": False}
    assert api.snapshot() == before


def test_erasure_refusals(api: Api) -> None:
    assert_error(api.admin("POST", f"/v1/admin/volunteers/v_{'0' * 32}/erase"), 404, Reason.UNKNOWN_VOLUNTEER)
    assert api.admin("POST", "/v1/admin/volunteers/..%2Fserver/erase").status_code == 404
    response = api.http.post(f"/v1/admin/volunteers/v_{'0' * 32}/erase")
    assert_error(response, 401, Reason.UNAUTHORIZED)
    volunteer_id = _person(api)["volunteer_id"]
    _erase(api, volunteer_id)
    response = api.admin("POST", "/v1/admin/cards", {"volunteer_id": volunteer_id})
    assert_error(response, 409, Reason.VOLUNTEER_ERASED)


def test_the_access_secret_and_sessions_are_exported_without_their_hashes_and_erased(api: Api) -> None:
    """Each table of the lists goes by its line: access secret and sessions (m015), openings (m012)."""
    person = _person(api)
    volunteer_id = person["volunteer_id"]
    other = api.create_card("Grace")
    api.clock.now = T0 + HOUR
    mine = _session(api, person["access_secret"])
    theirs = _session(api, other["access_secret"])
    assert {step.table for step in ERASURE_STEPS} >= {
        "personal_data",
        "volunteer_access",
        "sessions",
        "openings",
    }
    exported = api.admin("GET", f"/v1/admin/volunteers/{volunteer_id}/export", expect=200).json()
    # Metadata only: the hashes of the secret and of the session are withheld.
    assert exported["access"] == [{"volunteer_id": volunteer_id, "issued_ms": T0, "revoked_ms": None}]
    [session] = exported["sessions"]
    assert set(session) == {"volunteer_id", "created_ms", "last_used_ms", "expires_ms"}
    assert (session["volunteer_id"], session["created_ms"]) == (volunteer_id, T0 + HOUR)
    assert person["access_secret"] not in str(exported) and mine not in str(exported)
    assert _erase(api, volunteer_id)["deleted"] == {
        "personal_data": 1,
        "volunteer_access": 1,
        "sessions": 1,
        "openings": 1,
        "prepared_cards": 0,
    }
    with ledger_file(api.context.storage) as conn:
        assert conn.execute("SELECT volunteer_id FROM sessions").fetchall() == [(other["volunteer_id"],)]
        assert conn.execute("SELECT volunteer_id FROM volunteer_access").fetchall() == [
            (other["volunteer_id"],)
        ]
    assert_error(api.http.get("/v1/me", headers=cookie(mine)), 401, Reason.SESSION_REQUIRED)
    response = api.http.post("/v1/me/session", json={"secret": person["access_secret"]})
    assert response.status_code == 401, response.text
    assert api.http.get("/v1/me", headers=cookie(theirs)).status_code == 200


def test_a_listed_table_without_the_column_fails_closed(api: Api) -> None:
    volunteer_id = _person(api)["volunteer_id"]
    with ledger_file(api.context.storage, write=True) as conn:  # the list and the schema disagree
        conn.execute("ALTER TABLE sessions RENAME COLUMN volunteer_id TO person")
    with pytest.raises(ValueError, match="sessions has no column volunteer_id"):
        from server.erasure import erase_volunteer

        erase_volunteer(api.context, volunteer_id)
    assert api.context.vault.has_key(volunteer_id)  # nothing was erased half-way
    assert _registration_openings(api, volunteer_id) != []
    cards = api.admin("GET", f"/v1/admin/cards?volunteer_id={volunteer_id}", expect=200).json()["cards"]
    assert [c["blocked_ms"] for c in cards] == [None]


def test_an_erasure_cut_short_before_the_key_is_destroyed_is_finished_at_start(
    api: Api, data_dir: tuple[Path, object]
) -> None:
    volunteer_id = _person(api)["volunteer_id"]
    with api.context.storage.write() as tx:  # step 1 committed, then the process died
        tx.delete_personal_data(volunteer_id)
        tx.record_erasure(volunteer_id, T0)
    assert api.context.vault.has_key(volunteer_id)
    with open_data_dir(data_dir[0]) as ctx:
        assert not ctx.vault.has_key(volunteer_id)


# -- export ---------------------------------------------------------------------------------------


def _economy(api: Api, world: World) -> dict:
    card = _person(api)
    kiosk = world.kiosk
    events = [
        kiosk.event(EventKind.CHECK_IN, card["card_id"], T0 - 3 * HOUR),
        kiosk.event(EventKind.CHECK_OUT, card["card_id"], T0 - HOUR),
    ]
    assert api.send(kiosk.kiosk_id, events).status_code == 200
    return card


def test_the_export_holds_everything_stored_about_the_person(api: Api, world: World) -> None:
    card = _economy(api, world)
    volunteer_id = card["volunteer_id"]
    exported = api.admin("GET", f"/v1/admin/volunteers/{volunteer_id}/export", expect=200).json()
    assert set(exported) == {
        "type",
        "v",
        "generated_ms",
        "volunteer_id",
        "registered_ms",
        "erased_ms",
        "personal_data",
        "cards",
        "balance",
        "shifts",
        "ledger",
        "redemptions",
        "openings",
        *(table.key for table in EXPORT_TABLES),
    }
    assert (exported["type"], exported["v"], exported["volunteer_id"]) == (
        "kokreativ.person_export",
        1,
        volunteer_id,
    )
    assert exported["personal_data"] == {"name": NAME, "ehrenamtskarte": NUMBER}
    assert exported["erased_ms"] is None and exported["registered_ms"] == T0
    assert [(c["card_id"], c["blocked_ms"], c["coordinator"]) for c in exported["cards"]] == [
        (card["card_id"], None, False)
    ]
    assert [(s["minutes"], s["tokens"], s["status"]) for s in exported["shifts"]] == [(120, 20, "paid")]
    assert [(line["kind"], line["delta"], line["balance"]) for line in exported["ledger"]] == [
        ("shift", 20, 20)
    ]
    assert exported["balance"] == 20 and exported["redemptions"] == []
    assert exported["access"] == [{"volunteer_id": volunteer_id, "issued_ms": T0, "revoked_ms": None}]
    assert exported["sessions"] == []
    # The openings of the entries about their card: the items their own /v1/me/openings answers.
    mine = api.http.get("/v1/me/openings", headers=cookie(_session(api, card["access_secret"])))
    assert mine.status_code == 200, mine.text
    assert exported["openings"] == mine.json()["openings"]
    assert [(o["kind"], o["card"]) for o in exported["openings"]] == [
        ("card", card["card_id"]),
        ("event", card["card_id"]),
        ("event", card["card_id"]),
    ]
    assert exported["openings"][0]["volunteer"] == volunteer_id
    assert [o["sealed"]["kind"] for o in exported["openings"][1:]] == ["check_in", "check_out"]
    assert exported["openings"][2]["issued"] == 20
    _erase(api, volunteer_id)
    after = api.admin("GET", f"/v1/admin/volunteers/{volunteer_id}/export", expect=200).json()
    assert after["personal_data"] is None and after["erased_ms"] == T0
    assert after["balance"] == 20 and len(after["shifts"]) == 1  # pseudonymous, kept
    assert after["access"] == [] and after["sessions"] == []
    # The registration opening is gone; the taps' and the block's stay (pseudonymous, for the auditor).
    assert [o["kind"] for o in after["openings"]] == ["event", "event", "card_blocked"]


def test_the_export_as_pdf_is_german_and_readable(api: Api, world: World) -> None:
    card = _economy(api, world)
    response = api.admin("GET", f"/v1/admin/volunteers/{card['volunteer_id']}/export?format=pdf", expect=200)
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for expected in (
        NAME,
        NUMBER,
        "Persönliche Angaben",
        "Karten",
        "Schichten",
        "Kontobewegungen",
        "Einlösungen",
    ):
        assert expected in text, expected
    assert card["card_id"] in "".join(text.split())  # a long ID may wrap inside its table cell


def test_export_refusals(api: Api) -> None:
    volunteer_id = _person(api)["volunteer_id"]
    response = api.admin("GET", f"/v1/admin/volunteers/{volunteer_id}/export?format=xml")
    assert_error(response, 400, Reason.BAD_FIELD)
    response = api.admin("GET", f"/v1/admin/volunteers/v_{'0' * 32}/export?format=pdf")
    assert_error(response, 404, Reason.UNKNOWN_VOLUNTEER)
    assert_error(api.http.get(f"/v1/admin/volunteers/{volunteer_id}/export"), 401, Reason.UNAUTHORIZED)


def test_provision_volunteer_export_and_erase(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kokreativ.cli import main

    volunteer_id = _person(api)["volunteer_id"]
    out = tmp_path / "auskunft.pdf"
    common = ["--server", api.base_url, f"--token={api.admin_token}"]  # a token may begin with "-"
    assert (
        main(
            ["provision", "volunteer", "export", volunteer_id, "--format", "pdf", "--out", str(out), *common]
        )
        == 0
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert NAME in PdfReader(out).pages[0].extract_text()
    assert main(["provision", "volunteer", "erase", volunteer_id, *common]) == 0
    assert f'"volunteer_id": "{volunteer_id}"' in capsys.readouterr().out
    assert not (api.context.vault.folder / f"{volunteer_id}.key").exists()
    assert api.context.vault.folder.name == PERSON_KEYS
