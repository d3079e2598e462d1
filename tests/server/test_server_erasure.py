"""Erasure (Art. 17, server/erasure.py) and the export (Art. 15/20, server/personexport.py) over HTTP."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from pypdf import PdfReader
from server_helpers import HOUR, T0, Api, World, assert_error

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
    api.clock.now = T0 + HOUR
    answer = _erase(api, volunteer_id)
    assert answer == {
        "volunteer_id": volunteer_id,
        "erased_ms": T0 + HOUR,
        "cards_blocked": [card["card_id"], second["card_id"]],
        "deleted": {"personal_data": 1},
        "key_destroyed": True,
    }
    assert not key_file.exists()
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
        assert conn.execute("SELECT * FROM erasures").fetchall() == [(volunteer_id, T0 + HOUR)]
    # Others keep their names.
    assert _report_entry(api, world.volunteer_id)["name"] == "Ada Lovelace"


def test_erasing_again_changes_nothing_and_keeps_the_first_time(api: Api) -> None:
    volunteer_id = _person(api)["volunteer_id"]
    first = _erase(api, volunteer_id)
    before = api.snapshot()
    api.clock.now += HOUR
    again = _erase(api, volunteer_id)
    assert again == {**first, "cards_blocked": [], "deleted": {"personal_data": 0}, "key_destroyed": False}
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


def test_a_table_another_part_adds_is_erased_by_its_line_in_the_list(api: Api) -> None:
    """The sessions/access/openings steps act once those tables exist (made here by hand, as a seam)."""
    volunteer_id = _person(api)["volunteer_id"]
    other = api.create_card("Grace")["volunteer_id"]
    with ledger_file(api.context.storage, write=True) as conn:
        conn.execute(
            "CREATE TABLE sessions (session_sha256 TEXT PRIMARY KEY, volunteer_id TEXT, expires_ms INT)"
        )
        conn.execute("INSERT INTO sessions VALUES ('h1', ?, 5), ('h2', ?, 6)", (volunteer_id, other))
    assert {step.table for step in ERASURE_STEPS} >= {"personal_data", "sessions", "openings"}
    exported = api.admin("GET", f"/v1/admin/volunteers/{volunteer_id}/export", expect=200).json()
    assert exported["sessions"] == [{"volunteer_id": volunteer_id, "expires_ms": 5}]  # the hash is withheld
    assert _erase(api, volunteer_id)["deleted"] == {"personal_data": 1, "sessions": 1}
    with ledger_file(api.context.storage) as conn:
        assert conn.execute("SELECT volunteer_id FROM sessions").fetchall() == [(other,)]


def test_a_listed_table_without_the_column_fails_closed(api: Api) -> None:
    volunteer_id = _person(api)["volunteer_id"]
    with ledger_file(api.context.storage, write=True) as conn:
        conn.execute("CREATE TABLE openings (log_index INTEGER PRIMARY KEY, person TEXT)")
    with pytest.raises(ValueError, match="openings has no column volunteer_id"):
        from server.erasure import erase_volunteer

        erase_volunteer(api.context, volunteer_id)
    assert api.context.vault.has_key(volunteer_id)  # nothing was erased half-way


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
    assert all(exported[table.key] is None for table in EXPORT_TABLES)  # no such tables on this ledger yet
    _erase(api, volunteer_id)
    after = api.admin("GET", f"/v1/admin/volunteers/{volunteer_id}/export", expect=200).json()
    assert after["personal_data"] is None and after["erased_ms"] == T0
    assert after["balance"] == 20 and len(after["shifts"]) == 1  # pseudonymous, kept


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
    common = ["--server", api.base_url, "--token", api.admin_token]
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
